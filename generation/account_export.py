"""Generation's section of the account export: every job of the user with its prompt and
settings, and its files (the video, its poster, the uploaded image or source video)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from accounts.exports.registry import MediaFile, Section, account_export_section_register, media_file

from .models import GenerationJob

FIELDS = ("id", "kind", "status", "prompt", "style", "duration_seconds", "width", "height", "fps", "seed",
          "cost", "source_job_id", "retry_of_id", "error_code", "result_duration", "created_at", "finished_at")
MEDIA_FIELDS = ("video", "poster", "input_image", "source_video")


def _jobs(user):
    return GenerationJob.objects.filter(user_id=user.pk).order_by("created_at", "pk")


def _folder(job_id: Any) -> str:
    return f"generations/{job_id}"


def _rows(user) -> Iterator[dict[str, Any]]:
    for row in _jobs(user).values(*FIELDS, *MEDIA_FIELDS).iterator(chunk_size=2000):
        for field in MEDIA_FIELDS:
            entry = media_file(_folder(row["id"]), row[field])
            row[field] = entry.path if entry else None
        yield row


def _media(user) -> Iterator[MediaFile]:
    for row in _jobs(user).values("id", *MEDIA_FIELDS).iterator(chunk_size=2000):
        for field in MEDIA_FIELDS:
            if entry := media_file(_folder(row["id"]), row[field]):
                yield entry


def _generations(user) -> Section:
    return Section(data=_rows(user), media=_media(user))


def account_export_sections_register() -> None:
    account_export_section_register("generations", _generations)
