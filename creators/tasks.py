"""Celery tasks of the creator programme. They take ids, are idempotent, and only call services."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

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
