"""Writing the archive: every registered section as JSON, then the media, into a file the
caller opened (a temporary file: nothing of the media is held in memory, it is copied from
storage in chunks). JSON is deflated; the media are stored as they are (MP4 and JPEG are
compressed already, and deflating them costs CPU for nothing)."""

from __future__ import annotations

import json
import logging
import shutil
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from django.core.files.storage import default_storage
from django.core.serializers.json import DjangoJSONEncoder

from ..models import User
from .registry import MediaFile, account_export_sections

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
COPY_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class ArchiveSummary:
    sections: list[str]
    media: int  # files copied in
    missing: list[str]  # archive paths whose stored file was gone


def _dumps(value: Any, **kwargs: Any) -> str:
    return json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False, **kwargs)


def _entry(path: str, when: datetime, compress_type: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(path, date_time=when.timetuple()[:6])
    info.compress_type = compress_type
    info.external_attr = 0o644 << 16
    return info


def _write_json(zf: zipfile.ZipFile, path: str, data: Any, when: datetime) -> None:
    with zf.open(_entry(path, when, zipfile.ZIP_DEFLATED), "w") as out:
        if isinstance(data, dict):
            out.write((_dumps(data, indent=2) + "\n").encode())
            return
        out.write(b"[")
        for index, row in enumerate(data):
            out.write(((",\n" if index else "\n") + _dumps(row)).encode())
        out.write(b"\n]\n")


def _write_media(zf: zipfile.ZipFile, media: Iterable[MediaFile], when: datetime) -> tuple[int, list[str]]:
    copied, missing, seen = 0, [], set()
    for item in media:
        if item.path in seen:
            continue
        seen.add(item.path)
        try:
            source = default_storage.open(item.name, "rb")
        except FileNotFoundError:
            missing.append(item.path)
            continue
        # zip64 from the start: a file's size is not known before it is copied.
        with source, zf.open(_entry(item.path, when, zipfile.ZIP_STORED), "w", force_zip64=True) as out:
            shutil.copyfileobj(source, out, COPY_CHUNK)
        copied += 1
    return copied, missing


def archive_write(*, user: User, out: IO[bytes], created_at: datetime) -> ArchiveSummary:
    """Write the user's archive to `out` (seekable, opened for binary writing)."""
    names, media = [], []
    with zipfile.ZipFile(out, "w", allowZip64=True) as zf:
        for name, collect in account_export_sections().items():
            section = collect(user)
            _write_json(zf, f"{name}.json", section.data, created_at)
            media.extend(section.media)
            names.append(name)
        copied, missing = _write_media(zf, media, created_at)
        _write_json(zf, "export.json", {"format": FORMAT_VERSION, "user_id": user.pk, "handle": user.handle,
                                        "created_at": created_at, "sections": names, "media_files": copied,
                                        "missing_media": missing}, created_at)
    if missing:
        logger.warning("accounts.export_media_missing", extra={"user_id": user.pk, "missing": len(missing)})
    return ArchiveSummary(sections=names, media=copied, missing=missing)
