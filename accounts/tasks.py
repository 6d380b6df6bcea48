"""Celery tasks of accounts."""

from __future__ import annotations

import smtplib

from celery import shared_task

from . import events
from .notifications.delivery import notification_push
from .push import PUSH_MAX_RETRIES, PushRetry, push_task_retry


@shared_task(name="accounts.tasks.prune_events")
def prune_events() -> int:
    return events.events_prune()


@shared_task(name="accounts.tasks.push_notification", bind=True, max_retries=PUSH_MAX_RETRIES, ignore_result=True)
def push_notification(self, notification_id: int, device_ids: list[int] | None = None) -> int:
    """Retries only the devices that failed transiently, after FCM's Retry-After or a backoff."""
    try:
        return notification_push(notification_id=notification_id, device_ids=device_ids)
    except PushRetry as exc:
        return push_task_retry(self, exc)


@shared_task(name="accounts.tasks.send_account_email", autoretry_for=(OSError, smtplib.SMTPException),
             retry_backoff=30, retry_backoff_max=600, max_retries=5, ignore_result=True)
def send_account_email(kind: str, user_id: int) -> int:
    """A mail server that is down or refuses for now is tried again with backoff."""
    from .emails import account_email_send

    return account_email_send(kind=kind, user_id=user_id)
@shared_task(name="accounts.tasks.verify_cameo", ignore_result=True)
def verify_cameo(cameo_id: str) -> str:
    from .cameos.services import cameo_verify

    return cameo_verify(cameo_id=cameo_id)


@shared_task(name="accounts.tasks.purge_cameos", ignore_result=True)
def purge_cameos() -> int:
    from .cameos.services import cameos_purge

    return cameos_purge()


@shared_task(name="accounts.tasks.build_account_export", autoretry_for=(OSError,), retry_backoff=60,
             retry_backoff_max=600, max_retries=2, ignore_result=True)
def build_account_export(export_id: str) -> str:
    """A disk or storage error is tried again with backoff (MAX_ATTEMPTS builds in all)."""
    from .exports.services import account_export_build

    return account_export_build(export_id=export_id)


@shared_task(name="accounts.tasks.sweep_account_exports", ignore_result=True)
def sweep_account_exports() -> dict:
    from .exports.services import account_exports_sweep

    return account_exports_sweep()


@shared_task(name="accounts.tasks.purge_deleted_accounts", ignore_result=True)
def purge_deleted_accounts() -> dict[str, int]:
    from .deletion.services import accounts_purge_due

    return accounts_purge_due()
