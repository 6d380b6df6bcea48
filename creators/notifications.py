"""The notification types the creator programme causes, and what they say (rendered when
read, in the reader's language; the campaign's title in the creator's languages)."""

from __future__ import annotations

from datetime import timedelta

from django.utils.translation import gettext as _

from accounts.notifications import Channel, Group, NotificationType, notification_type_register

from . import selectors
from .models import Campaign, Payout, Submission


def _campaign_title(group: Group) -> str:
    campaign = Campaign.objects.filter(pk=group.data.get("campaign_id")).prefetch_related("texts").first()
    if campaign is None:
        return _("a campaign")
    prefs = selectors.language_preferences(user=group.user, profile=selectors.creator_profile(user=group.user))
    text = selectors.campaign_text(campaign=campaign, preferences=prefs)
    return text.title if text is not None else campaign.name


def _amount(kind: str, amount: int, currency: str) -> str:
    if kind == Campaign.BudgetKind.CREDITS:
        return _("%(amount)d credits") % {"amount": amount}
    return f"{amount / 100:.2f} {currency.upper()}"


def _reward(group: Group) -> tuple[str, str]:
    data = group.data
    return _("You earned a reward"), _("%(amount)s from %(campaign)s.") % {
        "amount": _amount(data.get("kind", ""), int(data.get("amount") or 0), data.get("currency") or ""),
        "campaign": _campaign_title(group)}


def _submission(group: Group) -> tuple[str, str]:
    campaign = _campaign_title(group)
    if group.data.get("status") == Submission.Status.ACCEPTED:
        return _("Submission approved"), _("Your post counts for %(campaign)s.") % {"campaign": campaign}
    reason = group.data.get("review_reason") or ""
    body = (_("%(campaign)s: %(reason)s") % {"campaign": campaign, "reason": reason} if reason
            else _("%(campaign)s.") % {"campaign": campaign})
    return _("Submission not accepted"), body


def _payout(group: Group) -> tuple[str, str]:
    data = group.data
    if data.get("status") == Payout.Status.PAID:
        return _("Payout sent"), _("%(amount)s is on its way.") % {
            "amount": _amount("cash", int(data.get("amount") or 0), data.get("currency") or "")}
    return _("Payout failed"), _("The money is back in your balance; check your payout account.")


def _campaign_closed(group: Group) -> tuple[str, str]:
    title = _("%(campaign)s is closed") % {"campaign": _campaign_title(group)}
    if group.data.get("reason") == Campaign.CloseReason.BUDGET:
        return title, _("Its budget is used up: no more rewards.")
    return title, _("It has ended: no more rewards.")


def notification_types_register() -> None:
    # Money and review outcomes stay news for a few days; a closed campaign matters to a
    # creator about to submit: a day.
    for name, render, ttl in (("creator.reward", _reward, timedelta(days=3)),
                              ("creator.submission", _submission, timedelta(days=3)),
                              ("creator.payout", _payout, timedelta(days=3)),
                              ("creator.campaign_closed", _campaign_closed, timedelta(days=1))):
        notification_type_register(NotificationType(name=name, default=Channel.BOTH, push_ttl=ttl, render=render))
