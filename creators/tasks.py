"""Celery tasks of the creator programme. They take ids, are idempotent, and only call services."""

from __future__ import annotations

from functools import partial

from celery import shared_task
from django.utils import timezone

from accounts.push import PUSH_MAX_RETRIES, PushRetry, push_task_retry
from config.tasks import task_send_now

from . import services
from .selectors import live_campaigns
from .services import notify, payouts

EVALUATE_TASK = "creators.tasks.evaluate_campaigns"
PAYOUTS_TASK = "creators.tasks.run_payouts"


@shared_task(name=EVALUATE_TASK, ignore_result=True)
def evaluate_campaigns() -> int:
    """Beat: close ended campaigns and fan out one evaluation per live campaign, so a big
    campaign does not hold up the others and workers share the load."""
    services.campaigns_close_ended()
    services.creator_tiers_refresh()
    ids = list(live_campaigns(now=timezone.now()).values_list("pk", flat=True))
    for campaign_id in ids:
        task_send_now(notify.EVALUATE_CAMPAIGN_TASK, campaign_id)
    return len(ids)


@shared_task(name=notify.EVALUATE_CAMPAIGN_TASK, ignore_result=True)
def evaluate_campaign(campaign_id: int) -> int:
    return services.campaign_evaluate(campaign_id=campaign_id)


@shared_task(name=PAYOUTS_TASK, ignore_result=True)
def run_payouts() -> dict[str, int]:
    return services.payouts_run_due()


@shared_task(name=notify.SEND_PAYOUT_TASK, autoretry_for=(payouts.PayoutPending,), retry_backoff=30,
             retry_backoff_max=3600, max_retries=8, ignore_result=True)
def send_payout(payout_id: int) -> str:
    payout = services.payout_send(payout_id=payout_id)
    return payout.status if payout is not None else "missing"


@shared_task(name=notify.NOTIFY_CLOSED_TASK, ignore_result=True)
def notify_campaign_closed(campaign_id: int) -> int:
    return notify.campaign_closed_notify(campaign_id=campaign_id)


# The FCM pushes share one retry policy (accounts.push): FCM's transient failures come back as
# PushRetry and are retried, for the devices that failed only, with a countdown (Retry-After
# or bounded backoff), never slept on; what they announce is already committed, for REST.
_push_task = partial(shared_task, bind=True, max_retries=PUSH_MAX_RETRIES, ignore_result=True)


def _pushing(task, push, **kwargs) -> int:
    try:
        return push(**kwargs)
    except PushRetry as exc:
        return push_task_retry(task, exc)


@_push_task(name=notify.PUSH_REWARD_TASK)
def push_reward(self, reward_id: int, device_ids: list[int] | None = None) -> int:
    return _pushing(self, notify.reward_push, reward_id=reward_id, device_ids=device_ids)


@_push_task(name=notify.PUSH_SUBMISSION_TASK)
def push_submission(self, submission_id: int, device_ids: list[int] | None = None) -> int:
    return _pushing(self, notify.submission_push, submission_id=submission_id, device_ids=device_ids)


@_push_task(name=notify.PUSH_PAYOUT_TASK)
def push_payout(self, payout_id: int, device_ids: list[int] | None = None) -> int:
    return _pushing(self, notify.payout_push, payout_id=payout_id, device_ids=device_ids)


@_push_task(name=notify.PUSH_CLOSED_TASK)
def push_campaign_closed(self, campaign_id: int, user_id: int, device_ids: list[int] | None = None) -> int:
    return _pushing(self, notify.campaign_closed_push, campaign_id=campaign_id, user_id=user_id,
                    device_ids=device_ids)
