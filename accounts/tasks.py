"""Celery tasks of accounts."""

from __future__ import annotations

from celery import shared_task

from . import events


@shared_task(name="accounts.tasks.prune_events")
def prune_events() -> int:
    return events.events_prune()
