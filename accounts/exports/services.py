"""What changes an account export: ask for one, build it (the task), and the beat sweep that
deletes expired files and sends lost build messages again.

The interval rule: a user may ask again ACCOUNT_EXPORT_MIN_INTERVAL_DAYS after their last
export that did not fail (pending, running, ready or expired all count). The ask locks the
user's row, so two asks at once make one export.
"""

from __future__ import annotations

import logging
import math
import tempfile
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from config.errors import TooManyRequests
from config.tasks import task_send_now, task_send_on_commit

from ..models import User
from ..notifications import notify
from .archive import archive_write
from .models import AccountExport
from .selectors import account_export_next_allowed_at

logger = logging.getLogger(__name__)

BUILD_TASK = "accounts.tasks.build_account_export"
READY_NOTIFICATION = "account.export_ready"
MAX_ATTEMPTS = 3
# A pending export whose message was lost is sent again after this long.
PENDING_RESEND_AFTER = timedelta(minutes=10)

Status = AccountExport.Status


class ExportTooSoon(TooManyRequests):
    code = "export_too_soon"


def _running_stale_after() -> timedelta:
    """A build running longer than a task may is a dead worker's."""
    return timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)


def account_export_request(*, user: User) -> AccountExport:
    """A new export, built by a task once this commits; ExportTooSoon (nothing written) within
    the interval of the last one."""
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).values_list("pk", flat=True).first()
        now = timezone.now()
        next_allowed = account_export_next_allowed_at(user_id=user.pk, now=now)
        if next_allowed is not None:
            raise ExportTooSoon(
                _("You can ask for another export of your data after %(when)s.")
                % {"when": next_allowed.strftime("%Y-%m-%d %H:%M UTC")},
                retry_after=math.ceil((next_allowed - now).total_seconds()),
                extra={"next_allowed_at": next_allowed.isoformat().replace("+00:00", "Z")})
        export = AccountExport.objects.create(user=user, created_at=now)
        task_send_on_commit(BUILD_TASK, str(export.pk))
    logger.info("accounts.export_requested", extra={"user_id": user.pk, "export_id": str(export.pk)})
    return export


def _claim(export_id: Any) -> AccountExport | None:
    """Mark the export running for this worker; None when there is nothing to do (built, failed,
    gone, or running on another worker that is still alive)."""
    now = timezone.now()
    with transaction.atomic():
        export = AccountExport.objects.select_for_update().select_related("user").filter(pk=export_id).first()
        if export is None or export.status not in (Status.PENDING, Status.RUNNING):
            return None
        if export.status == Status.RUNNING and export.started_at > now - _running_stale_after():
            return None
        export.status, export.started_at, export.attempts = Status.RUNNING, now, export.attempts + 1
        export.save(update_fields=["status", "started_at", "attempts"])
    return export


def _release(export: AccountExport, error: str) -> None:
    """A failed build: back to pending for the task's retry, or failed after the last attempt."""
    with transaction.atomic():
        current = AccountExport.objects.select_for_update().filter(pk=export.pk).first()
        if current is None or current.status != Status.RUNNING or current.started_at != export.started_at:
            return
        current.status = Status.FAILED if current.attempts >= MAX_ATTEMPTS else Status.PENDING
        current.error = error[:300]
        current.save(update_fields=["status", "error"])


def account_export_build(*, export_id: Any) -> str:
    """Build the archive in a temporary file, store it, mark the export ready and notify the
    user once that commits. Idempotent: a second message for the same export does nothing.
    Returns the export's status after the call (or "gone")."""
    export = _claim(export_id)
    if export is None:
        return AccountExport.objects.filter(pk=export_id).values_list("status", flat=True).first() or "gone"
    try:
        with tempfile.TemporaryFile(prefix="account-export-", suffix=".zip") as tmp:
            summary = archive_write(user=export.user, out=tmp, created_at=export.started_at)
            size = tmp.tell()
            tmp.seek(0)
            name = default_storage.save(f"exports/{export.user_id}/{export.pk}.zip",
                                        File(tmp, name=f"{export.pk}.zip"))
    except OSError as exc:  # the disk or the storage: transient as far as we can tell
        logger.exception("accounts.export_failed", extra={"export_id": str(export.pk), "attempt": export.attempts})
        _release(export, f"{type(exc).__name__}: {exc}")
        raise
    now = timezone.now()
    with transaction.atomic():
        current = AccountExport.objects.select_for_update().filter(pk=export.pk).first()
        if current is None or current.status != Status.RUNNING or current.started_at != export.started_at:
            # Another worker took it over meanwhile: its file wins, ours goes.
            transaction.on_commit(lambda: default_storage.delete(name))
            return current.status if current else "gone"
        current.status, current.file, current.size_bytes = Status.READY, name, size
        current.finished_at, current.error = now, ""
        current.expires_at = now + timedelta(hours=settings.ACCOUNT_EXPORT_LINK_HOURS)
        current.save(update_fields=["status", "file", "size_bytes", "finished_at", "expires_at", "error"])
        notify(user_id=current.user_id, type=READY_NOTIFICATION, target=f"export:{current.pk}",
               data={"export_id": str(current.pk)}, dedupe_key=f"{READY_NOTIFICATION}:{current.pk}")
    logger.info("accounts.export_ready", extra={
        "export_id": str(export.pk), "user_id": export.user_id, "bytes": size, "media_files": summary.media,
        "missing_media": len(summary.missing), "seconds": round((now - export.started_at).total_seconds(), 3)})
    return Status.READY


def account_exports_sweep() -> dict[str, int]:
    """Beat: delete the files of exports past their link's expiry; send the build message again
    for exports it was lost for (pending too long, or running on a worker that died)."""
    now = timezone.now()
    expired = 0
    for export_id in AccountExport.objects.filter(status=Status.READY, expires_at__lte=now) \
            .values_list("pk", flat=True):
        with transaction.atomic():
            export = AccountExport.objects.select_for_update().filter(pk=export_id, status=Status.READY,
                                                                      expires_at__lte=now).first()
            if export is None:
                continue
            name = export.file.name
            export.status, export.file = Status.EXPIRED, ""
            export.save(update_fields=["status", "file"])
            if name:
                transaction.on_commit(lambda name=name: default_storage.delete(name))
        expired += 1

    failed = AccountExport.objects.filter(status=Status.RUNNING, started_at__lte=now - _running_stale_after(),
                                          attempts__gte=MAX_ATTEMPTS).update(status=Status.FAILED,
                                                                             error="worker_lost")
    resent = 0
    stale = (AccountExport.objects.filter(status=Status.PENDING, created_at__lte=now - PENDING_RESEND_AFTER)
             | AccountExport.objects.filter(status=Status.RUNNING, started_at__lte=now - _running_stale_after()))
    for export_id in stale.values_list("pk", flat=True):
        task_send_now(BUILD_TASK, str(export_id))
        resent += 1
    if expired or failed or resent:
        logger.info("accounts.exports_swept", extra={"expired": expired, "failed": failed, "resent": resent})
    return {"expired": expired, "failed": failed, "resent": resent}


def account_exports_delete(*, user_id: int) -> int:
    """The user's exports and their files (account deletion calls this: the rows would cascade
    away with the user, the files would not). Files go once the caller's transaction commits."""
    with transaction.atomic():
        names = [name for name in AccountExport.objects.filter(user_id=user_id).values_list("file", flat=True) if name]
        deleted = AccountExport.objects.filter(user_id=user_id).delete()[0]
        transaction.on_commit(lambda: [default_storage.delete(name) for name in names])
    return deleted
