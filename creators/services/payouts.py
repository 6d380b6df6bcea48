"""Paying out cash rewards: Stripe Connect transfers, or a CSV that staff pay by hand.

A payout takes the creator's unpaid cash rewards of one currency (locked FOR UPDATE, so no
reward is in two payouts) and the payout row is the transfer's idempotency key
(`creator-payout-<id>`): sending it again, after a timeout or a crash between Stripe's
answer and our commit, gets Stripe's first answer back and never a second transfer.
A payout Stripe refuses (account not enabled, ...) fails and lets go of its rewards,
which are back in the balance for the next one.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import stripe
from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.selectors import teens_q, user_is_teen, user_teen_age
from billing.stripe_api import stripe_client, stripe_configured
from config.errors import ApplicationError, Conflict, NotFound
from config.tasks import task_send_now, task_send_on_commit

from .. import selectors
from ..models import Campaign, CreatorProfile, Payout, Reward
from .notify import SEND_PAYOUT_TASK, event_on_commit, payout_notify
from .profiles import creator_connect_refresh

logger = logging.getLogger(__name__)

# Stripe had no final answer (network, 5xx, rate limit, a key problem on our side): the
# payout stays pending and is sent again with the same idempotency key.
TRANSIENT_ERRORS = (stripe.APIConnectionError, stripe.APIError, stripe.RateLimitError,
                    stripe.AuthenticationError, stripe.IdempotencyError)
# A pending transfer older than this is sent again by the beat run (a lost task message).
RESEND_AFTER = timedelta(minutes=10)


class PayoutPending(Exception):
    """Stripe could not be reached or had no final answer; retry later with the same key."""


def payout_data(payout: Payout) -> dict:
    return {"id": payout.pk, "currency": payout.currency, "amount": payout.amount, "method": payout.method,
            "status": payout.status}


@transaction.atomic
def payout_create(*, user_id: int, currency: str, method: str, created_by: User | None = None,
                  minimum: int = 1) -> Payout | None:
    """Move the creator's unpaid cash rewards in `currency` into a new payout, if they add up
    to at least `minimum`. Stripe payouts go out after commit (task)."""
    profile = CreatorProfile.objects.select_for_update().filter(user_id=user_id).first()
    if profile is None:
        raise NotFound(_("No such creator."), code="not_a_creator")
    creator = User.objects.select_related("market").get(pk=user_id)
    if user_is_teen(creator):
        # No cash to minors: their cash rewards wait, unpaid, until they are adults (computed,
        # so the next run after the birthday year pays them). Credit rewards are not payouts.
        raise ApplicationError(_("Cash payouts are available from the age of %(age)d.")
                               % {"age": user_teen_age(creator)},
                               code="teen_payouts_unavailable", status_code=403)
    if method == Payout.Method.STRIPE and (profile.connect_status != CreatorProfile.ConnectStatus.ENABLED
                                           or not profile.stripe_account_id):
        raise Conflict(_("The creator has no Stripe account that can receive transfers."), code="connect_not_enabled")
    rewards = list(Reward.objects.select_for_update().filter(
        user_id=user_id, kind=Campaign.BudgetKind.CASH, currency=currency, payout__isnull=True).order_by("pk"))
    amount = sum(reward.amount for reward in rewards)
    if not rewards or amount < max(1, minimum):
        return None
    payout = Payout.objects.create(
        user_id=user_id, currency=currency, amount=amount, method=method, created_by=created_by,
        status=Payout.Status.PENDING if method == Payout.Method.STRIPE else Payout.Status.EXPORTED,
        stripe_account_id=(profile.stripe_account_id or "") if method == Payout.Method.STRIPE else "",
    )
    Reward.objects.filter(pk__in=[reward.pk for reward in rewards]).update(payout=payout)
    logger.info("creators.payout_created", extra={"payout_id": payout.pk, "user_id": user_id, "amount": amount,
                                                  "currency": currency, "method": method})
    if method == Payout.Method.STRIPE:
        task_send_on_commit(SEND_PAYOUT_TASK, payout.pk)
    return payout


def _release(payout: Payout, error: str) -> None:
    """Fail the payout; its rewards are back in the balance. Call under the payout's lock."""
    payout.status = Payout.Status.FAILED
    payout.error = error[:300]
    payout.save(update_fields=["status", "error", "updated_at"])
    Reward.objects.filter(payout=payout).update(payout=None)
    event_on_commit(payout.user_id, {"type": "creator.payout", "payout": payout_data(payout)})
    payout_notify(payout)


def payout_send(*, payout_id: int) -> Payout:
    """Send a pending Stripe payout as a Connect transfer. Idempotent: a paid or failed payout
    is left as it is, and a repeat of the call reuses the idempotency key. Raises
    PayoutPending when Stripe had no final answer (the task retries)."""
    payout = Payout.objects.filter(pk=payout_id).first()
    if payout is None or payout.method != Payout.Method.STRIPE or payout.status != Payout.Status.PENDING:
        return payout
    Payout.objects.filter(pk=payout.pk).update(attempts=payout.attempts + 1)
    try:
        # Outside any transaction: a slow Stripe must not hold row locks.
        transfer = stripe_client().v1.transfers.create(
            params={"amount": payout.amount, "currency": payout.currency, "destination": payout.stripe_account_id,
                    "transfer_group": payout.idempotency_key,
                    "metadata": {"payout_id": str(payout.pk), "user_id": str(payout.user_id)}},
            options={"idempotency_key": payout.idempotency_key},
        )
    except TRANSIENT_ERRORS as exc:
        Payout.objects.filter(pk=payout.pk).update(error=f"{type(exc).__name__}: {exc.code or ''}"[:300])
        logger.warning("creators.payout_pending", extra={"payout_id": payout.pk, "error": type(exc).__name__})
        raise PayoutPending(str(exc)) from exc
    except stripe.StripeError as exc:
        with transaction.atomic():
            payout = Payout.objects.select_for_update().get(pk=payout.pk)
            if payout.status == Payout.Status.PENDING:
                _release(payout, exc.user_message or str(exc))
        logger.warning("creators.payout_failed", extra={"payout_id": payout.pk, "code": exc.code})
        return payout
    with transaction.atomic():
        payout = Payout.objects.select_for_update().get(pk=payout.pk)
        if payout.status == Payout.Status.PENDING:
            payout.status = Payout.Status.PAID
            payout.stripe_transfer_id = transfer["id"]
            payout.paid_at = timezone.now()
            payout.error = ""
            payout.save(update_fields=["status", "stripe_transfer_id", "paid_at", "error", "updated_at"])
            event_on_commit(payout.user_id, {"type": "creator.payout", "payout": payout_data(payout)})
            payout_notify(payout)
            logger.info("creators.payout_paid", extra={"payout_id": payout.pk, "transfer": transfer["id"]})
    return payout


def _refresh_accounts_with_money_waiting() -> None:
    """A creator who finished onboarding but never reopened the app still has a stale status
    here (Connect webhooks are not routed to us): ask Stripe for those with money waiting."""
    waiting = (Reward.objects.filter(kind=Campaign.BudgetKind.CASH, payout__isnull=True,
                                     user__creator_profile__payout_method=CreatorProfile.PayoutMethod.CASH,
                                     user__creator_profile__stripe_account_id__isnull=False)
               .exclude(user__creator_profile__connect_status=CreatorProfile.ConnectStatus.ENABLED)
               .values("user_id", "currency").annotate(total=Sum("amount"))
               .filter(total__gte=settings.CREATORS_MIN_PAYOUT))
    for user_id in sorted({row["user_id"] for row in waiting}):
        try:
            creator_connect_refresh(user_id=user_id)
        except ApplicationError as exc:  # Stripe unreachable: the next run tries again
            logger.warning("creators.connect_refresh_failed", extra={"user_id": user_id, "code": exc.code})


def payouts_run_due(*, now: datetime | None = None) -> dict[str, int]:
    """Beat: pay every creator with an enabled Connect account whose balance reached
    CREATORS_MIN_PAYOUT, and send again transfers left pending (a lost task)."""
    now = now or timezone.now()
    counts = {"created": 0, "resent": 0}
    if not stripe_configured():
        return counts
    _refresh_accounts_with_money_waiting()
    due = (Reward.objects.filter(kind=Campaign.BudgetKind.CASH, payout__isnull=True,
                                 user__creator_profile__connect_status=CreatorProfile.ConnectStatus.ENABLED,
                                 user__creator_profile__payout_method=CreatorProfile.PayoutMethod.CASH)
           .exclude(teens_q(field="user"))  # their cash waits until they are adults (payout_create)
           .values("user_id", "currency").annotate(total=Sum("amount"))
           .filter(total__gte=settings.CREATORS_MIN_PAYOUT))
    for row in due:
        if payout_create(user_id=row["user_id"], currency=row["currency"], method=Payout.Method.STRIPE,
                         minimum=settings.CREATORS_MIN_PAYOUT) is not None:
            counts["created"] += 1
    stale = Payout.objects.filter(method=Payout.Method.STRIPE, status=Payout.Status.PENDING,
                                  updated_at__lt=now - RESEND_AFTER)
    for payout_id in stale.values_list("pk", flat=True):
        task_send_now(SEND_PAYOUT_TASK, payout_id)
        counts["resent"] += 1
    return counts


def payouts_export_manual(*, staff: User) -> list[Payout]:
    """Staff pay by hand (bank transfer, local wallets) whoever cannot take a Connect transfer:
    every unpaid cash balance of a creator without an enabled Connect account becomes an
    `exported` payout, listed in the CSV. Running it again exports only what is new."""
    users = selectors.manual_payouts_due().exclude(teens_q(field="user")).order_by("user_id", "currency")
    payouts = []
    for user_id, currency in list(users):
        payout = payout_create(user_id=user_id, currency=currency, method=Payout.Method.MANUAL, created_by=staff)
        if payout is not None:
            payouts.append(payout)
    logger.info("creators.payouts_exported", extra={"staff_id": staff.pk, "count": len(payouts)})
    return payouts


@transaction.atomic
def payout_mark_paid(*, staff: User, payout_id: int) -> Payout:
    """Staff confirm a manual payout went out."""
    payout = Payout.objects.select_for_update().filter(pk=payout_id).first()
    if payout is None:
        raise NotFound(_("No such payout."), code="payout_not_found")
    if payout.method != Payout.Method.MANUAL or payout.status != Payout.Status.EXPORTED:
        raise Conflict(_("Only an exported manual payout can be marked paid."), code="payout_not_exported")
    payout.status = Payout.Status.PAID
    payout.paid_at = timezone.now()
    payout.save(update_fields=["status", "paid_at", "updated_at"])
    event_on_commit(payout.user_id, {"type": "creator.payout", "payout": payout_data(payout)})
    payout_notify(payout)
    logger.info("creators.payout_marked_paid", extra={"payout_id": payout.pk, "staff_id": staff.pk})
    return payout


@transaction.atomic
def payout_mark_failed(*, staff: User, payout_id: int, reason: str) -> Payout:
    """Staff could not pay a manual payout: its rewards go back to the balance."""
    if not reason.strip():
        raise ApplicationError(_("Say why it failed."), code="reason_required")
    payout = Payout.objects.select_for_update().filter(pk=payout_id).first()
    if payout is None:
        raise NotFound(_("No such payout."), code="payout_not_found")
    if payout.method != Payout.Method.MANUAL or payout.status != Payout.Status.EXPORTED:
        raise Conflict(_("Only an exported manual payout can be marked failed."), code="payout_not_exported")
    _release(payout, reason.strip())
    logger.info("creators.payout_marked_failed", extra={"payout_id": payout.pk, "staff_id": staff.pk})
    return payout
