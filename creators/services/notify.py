"""What creators hear: events on their socket and notifications, both on the one event path.

Events (accounts.events) carry the state the creator screens show, each with the user's
next seq. Rewards, review outcomes, payouts and closed campaigns are also notifications
(accounts.notifications: the inbox, and push when the app is closed, per the creator's
channel for the type; texts in creators.notifications). Progress goes to the socket only:
counters move every few minutes and a notification for each would be noise.
"""

from __future__ import annotations

import logging
from typing import Any

from django.utils import timezone

from accounts.events import event_send_now, event_send_on_commit
from accounts.notifications import notify

from ..models import Campaign, Enrolment, Payout, Reward, Submission

logger = logging.getLogger(__name__)

NOTIFY_CLOSED_TASK = "creators.tasks.notify_campaign_closed"
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


# --- notifications (in the caller's transaction; push, when due, from accounts' task) -----------


def reward_notify(reward: Reward) -> None:
    notify(user_id=reward.user_id, type="creator.reward", target=f"campaign:{reward.campaign_id}",
           data={"reward_id": reward.pk, "campaign_id": reward.campaign_id, "kind": reward.kind,
                 "amount": reward.amount, "currency": reward.currency or ""},
           dedupe_key=f"reward:{reward.pk}")


def submission_notify(submission: Submission) -> None:
    if submission.status not in (Submission.Status.ACCEPTED, Submission.Status.REJECTED):
        return
    notify(user_id=submission.user_id, type="creator.submission", target=f"campaign:{submission.campaign_id}",
           data={"submission_id": submission.pk, "campaign_id": submission.campaign_id, "status": submission.status,
                 "review_reason": submission.review_reason or ""},
           dedupe_key=f"submission:{submission.pk}:{submission.status}")


def payout_notify(payout: Payout) -> None:
    if payout.status not in (Payout.Status.PAID, Payout.Status.FAILED):
        return
    notify(user_id=payout.user_id, type="creator.payout",
           data={"payout_id": payout.pk, "status": payout.status, "amount": payout.amount,
                 "currency": payout.currency}, dedupe_key=f"payout:{payout.pk}:{payout.status}")


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
        # Into the inbox; as push when the app is closed (the creator's channel for the type).
        notify(user_id=user_id, type="creator.campaign_closed", target=f"campaign:{campaign.pk}",
               data={"campaign_id": campaign.pk, "reason": campaign.closed_reason},
               dedupe_key=f"campaign_closed:{campaign.pk}")
        told += 1
    logger.info("creators.campaign_closed_notified", extra={"campaign_id": campaign.pk, "creators": told})
    return told
