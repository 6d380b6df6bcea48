"""Celery tasks of billing. Idempotent; they only call services."""

from __future__ import annotations

from celery import shared_task

from .services import ledger

EXPIRE_TASK = "billing.tasks.expire_credits"


@shared_task(name=EXPIRE_TASK, ignore_result=True)
def expire_credits() -> int:
    """Beat: plan credits whose period ended leave the balance (reads and writes also do it
    lazily, so a late or skipped run never lets expired credits be spent)."""
    return ledger.credits_expire_sweep()
