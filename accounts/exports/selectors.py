"""Reading account exports: the latest one, when the next may be asked for, its download link,
and the export a download token names."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.core.files.storage import FileSystemStorage, storages
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from config.errors import ApplicationError, NotFound

from ..models import User
from .models import AccountExport

TOKEN_SALT = "accounts.export"
# S3 refuses to sign a URL for longer (SigV4).
S3_PRESIGN_MAX_SECONDS = 7 * 24 * 3600

Status = AccountExport.Status


class ExportNotFound(NotFound):
    code = "export_not_found"


class ExportExpired(ApplicationError):
    status_code = 410
    code = "export_expired"


def account_export_latest(*, user_id: int) -> AccountExport:
    export = AccountExport.objects.filter(user_id=user_id).order_by("-created_at", "-pk").first()
    if export is None:
        raise ExportNotFound(_("You have not asked for an export of your data yet."))
    return export


def account_export_next_allowed_at(*, user_id: int, now: datetime | None = None) -> datetime | None:
    """When the user may ask for the next export; None: now."""
    now = now or timezone.now()
    interval = timedelta(days=settings.ACCOUNT_EXPORT_MIN_INTERVAL_DAYS)
    last = (AccountExport.objects.filter(user_id=user_id, created_at__gt=now - interval)
            .exclude(status=Status.FAILED).order_by("-created_at").values_list("created_at", flat=True).first())
    return None if last is None else last + interval


def _downloadable(export: AccountExport, now: datetime) -> bool:
    return export.status == Status.READY and bool(export.file) and export.expires_at > now


def account_export_download_token(export: AccountExport) -> str:
    """The token of a download link: the export, its owner and the link's end, signed."""
    return signing.dumps({"e": str(export.pk), "u": export.user_id, "x": int(export.expires_at.timestamp())},
                         salt=TOKEN_SALT)


def account_export_download_url(export: AccountExport) -> str | None:
    """Where the ready archive downloads until it expires: the signed download view for local
    files, a URL the bucket presigns (never a CDN's unsigned one) on S3. None when not ready."""
    now = timezone.now()
    if not _downloadable(export, now):
        return None
    storage = storages["default"]
    if isinstance(storage, FileSystemStorage):
        path = reverse("me-export-download", kwargs={"token": account_export_download_token(export)})
        return settings.PUBLIC_BASE_URL.rstrip("/") + path
    seconds = max(1, min(S3_PRESIGN_MAX_SECONDS, int((export.expires_at - now).total_seconds())))
    filename = f"export-{export.created_at:%Y-%m-%d}.zip"
    return storage.bucket.meta.client.generate_presigned_url(
        "get_object", ExpiresIn=seconds,
        Params={"Bucket": storage.bucket_name, "Key": storage._normalize_name(export.file.name),
                "ResponseContentDisposition": f'attachment; filename="{filename}"'})


def account_export_for_download(*, user: User, token: str) -> AccountExport:
    """The ready export a download token names, for its owner only: ExportNotFound for a token
    that is not ours or names another user's export, ExportExpired once the link ended."""
    try:
        payload = signing.loads(token, salt=TOKEN_SALT)
        export_id, owner, until = uuid.UUID(payload["e"]), int(payload["u"]), int(payload["x"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise ExportNotFound(_("No such export.")) from None
    export = AccountExport.objects.filter(pk=export_id, user_id=user.pk).first() if owner == user.pk else None
    if export is None:
        raise ExportNotFound(_("No such export."))
    now = timezone.now()
    if until <= now.timestamp() or not _downloadable(export, now):
        raise ExportExpired(_("This download link has expired. Ask for a new export of your data."))
    return export
