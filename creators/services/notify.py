"""What creators hear: events on their socket (accounts.realtime) and FCM push (accounts.push).

Events go out after commit, each with a per-user sequence number so the app can drop
stale ones and re-read over REST after a gap. Push waits on HTTP, so it runs in a
Celery task (sent after commit) and never inside a transaction. Progress goes to the
socket only: counters move every few minutes and a push for each would be noise;
rewards, review outcomes, payouts and closed campaigns also go out as push.
"""

from __future__ import annotations

import logging
from typing import Any

from django.utils import timezone

from accounts.models import User
from accounts.push import push_to_user
from config.tasks import task_send_on_commit
from accounts.events import event_send_now, event_send_on_commit

from .. import selectors
from ..models import Campaign, Enrolment, Payout, Reward, Submission

logger = logging.getLogger(__name__)

PUSH_REWARD_TASK = "creators.tasks.push_reward"
PUSH_SUBMISSION_TASK = "creators.tasks.push_submission"
PUSH_PAYOUT_TASK = "creators.tasks.push_payout"
NOTIFY_CLOSED_TASK = "creators.tasks.notify_campaign_closed"
PUSH_CLOSED_TASK = "creators.tasks.push_campaign_closed"
SEND_PAYOUT_TASK = "creators.tasks.send_payout"
EVALUATE_CAMPAIGN_TASK = "creators.tasks.evaluate_campaign"


def event_on_commit(user_id: int, event: dict[str, Any]) -> None:
    """A creator event through the one event path (accounts.events): stored with the user's seq."""
    body = dict(event)
    event_send_on_commit(user_id, body.pop("type"), body)


# --- event bodies (the same shapes the REST endpoints use for these objects) -----------------


def reward_data(reward: Reward) -> dict[str, Any]:
    return {"id": reward.pk, "campaign_id": reward.campaign_id, "task_id": reward.task_id,
            "submission_id": reward.submission_id, "kind": reward.kind, "currency": reward.currency or None,
            "amount": reward.amount, "created_at": reward.created_at.isoformat()}


def submission_data(submission: Submission) -> dict[str, Any]:
    return {"id": submission.pk, "campaign_id": submission.campaign_id, "post_id": submission.post_id,
            "status": submission.status, "review_reason": submission.review_reason or None}


def _campaign_title(campaign: Campaign, user_id: int) -> str:
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        return campaign.name
    prefs = selectors.language_preferences(user=user, profile=selectors.creator_profile(user=user))
    text = selectors.campaign_text(campaign=campaign, preferences=prefs)
    return text.title if text is not None else campaign.name


def _amount(kind: str, amount: int, currency: str) -> str:
    if kind == Campaign.BudgetKind.CREDITS:
        return f"{amount} credits"
    return f"{amount / 100:.2f} {currency.upper()}"


def _push(user_id: int, *, title: str, body: str, data: dict[str, str], collapse_key: str,
          device_ids: list[int] | None) -> int:
    # Raises accounts.push.PushRetry on a transient FCM failure: the calling task retries.
    return push_to_user(user_id=user_id, title=title, body=body, data=data, collapse_key=collapse_key,
                        device_ids=device_ids)


# --- push (run by Celery tasks, outside transactions) --------------------------------------------


def reward_push(*, reward_id: int, device_ids: list[int] | None = None) -> int:
    reward = Reward.objects.select_related("campaign").filter(pk=reward_id).first()
    if reward is None:
        return 0
    title = _campaign_title(reward.campaign, reward.user_id)
    return _push(reward.user_id, title="You earned a reward",
                 body=f"{_amount(reward.kind, reward.amount, reward.currency)} from {title}.",
                 data={"type": "creator.reward", "reward_id": str(reward.pk),
                       "campaign_id": str(reward.campaign_id)},
                 collapse_key=f"reward:{reward.pk}", device_ids=device_ids)


def submission_push(*, submission_id: int, device_ids: list[int] | None = None) -> int:
    submission = Submission.objects.select_related("campaign").filter(pk=submission_id).first()
    if submission is None or submission.status not in (Submission.Status.ACCEPTED, Submission.Status.REJECTED):
        return 0
    title = _campaign_title(submission.campaign, submission.user_id)
    if submission.status == Submission.Status.ACCEPTED:
        heading, body = "Submission approved", f"Your post counts for {title}."
    else:
        heading = "Submission not accepted"
        body = f"{title}: {submission.review_reason}" if submission.review_reason else f"{title}."
    return _push(submission.user_id, title=heading, body=body,
                 data={"type": "creator.submission", "submission_id": str(submission.pk),
                       "campaign_id": str(submission.campaign_id), "status": submission.status},
                 collapse_key=f"submission:{submission.pk}", device_ids=device_ids)


def payout_push(*, payout_id: int, device_ids: list[int] | None = None) -> int:
    payout = Payout.objects.filter(pk=payout_id).first()
    if payout is None or payout.status not in (Payout.Status.PAID, Payout.Status.FAILED):
        return 0
    if payout.status == Payout.Status.PAID:
        heading, body = "Payout sent", f"{_amount('cash', payout.amount, payout.currency)} is on its way."
    else:
        heading, body = "Payout failed", "The money is back in your balance; check your payout account."
    return _push(payout.user_id, title=heading, body=body,
                 data={"type": "creator.payout", "payout_id": str(payout.pk), "status": payout.status},
                 collapse_key=f"payout:{payout.pk}", device_ids=device_ids)


def campaign_closed_notify(*, campaign_id: int) -> int:
    """Tell every enrolled creator, once each: each enrolment is claimed by a conditional
    UPDATE before its notice goes out, so reruns and parallel runs skip the ones done."""
    campaign = Campaign.objects.filter(pk=campaign_id, status=Campaign.Status.CLOSED).first()
    if campaign is None:
        return 0
    told = 0
    pending = Enrolment.objects.filter(campaign=campaign, status=Enrolment.Status.ENROLLED,
                                       closed_notified_at__isnull=True)
    for enrolment_id, user_id in pending.values_list("pk", "user_id").order_by("pk").iterator():
        claimed = Enrolment.objects.filter(pk=enrolment_id, closed_notified_at__isnull=True).update(
            closed_notified_at=timezone.now())
        if not claimed:
            continue
        # A task, outside any transaction: stored and sent at once (nothing when the user is gone).
        event_send_now(user_id, "creator.campaign_closed",
                       {"campaign_id": campaign.pk, "reason": campaign.closed_reason})
        # One push task per creator: its retries then cover that creator alone.
        task_send_on_commit(PUSH_CLOSED_TASK, campaign.pk, user_id)
        told += 1
    logger.info("creators.campaign_closed_notified", extra={"campaign_id": campaign.pk, "creators": told})
    return told


def campaign_closed_push(*, campaign_id: int, user_id: int, device_ids: list[int] | None = None) -> int:
    campaign = Campaign.objects.filter(pk=campaign_id, status=Campaign.Status.CLOSED).first()
    if campaign is None:
        return 0
    title = _campaign_title(campaign, user_id)
    body = ("Its budget is used up: no more rewards." if campaign.closed_reason == Campaign.CloseReason.BUDGET
            else "It has ended: no more rewards.")
    return _push(user_id, title=f"{title} is closed", body=body,
                 data={"type": "creator.campaign_closed", "campaign_id": str(campaign.pk),
                       "reason": campaign.closed_reason},
                 collapse_key=f"campaign:{campaign.pk}", device_ids=device_ids)
