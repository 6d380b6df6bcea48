"""Reads of generation state: the public view of a job, queue position, ETA."""

from __future__ import annotations

import time
from datetime import timedelta
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.files.storage import FileSystemStorage, default_storage, storages
from django.db.models import Avg, DurationField, ExpressionWrapper, F, Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from config.errors import NotFound

from .models import GenerationJob, JobStatus

DEFAULT_RENDER_SECONDS = 30.0
MEDIA_SIGNING_SALT = "generation.media"


def jobs_of_user(*, user_id: int) -> QuerySet[GenerationJob]:
    return GenerationJob.objects.filter(user_id=user_id)


def job_of_user(*, user_id: int, job_id: Any) -> GenerationJob:
    job = GenerationJob.objects.filter(user_id=user_id, pk=job_id).first()
    if job is None:
        raise NotFound("No such generation.", code="generation_not_found")
    return job


def queue_position(job: GenerationJob) -> int | None:
    """1 = next to start. Counted in the database, in dispatch order (priority, then age)."""
    if job.status != JobStatus.QUEUED:
        return None
    ahead = GenerationJob.objects.filter(status=JobStatus.QUEUED).filter(
        Q(priority__gt=job.priority) | Q(priority=job.priority, created_at__lt=job.created_at)
    ).count()
    return ahead + 1


def average_render_seconds(*, backend: str) -> float:
    recent = (
        GenerationJob.objects.filter(status=JobStatus.SUCCEEDED, backend=backend, started_at__isnull=False)
        .order_by("-finished_at")
        .values_list("pk", flat=True)[:50]
    )
    result = GenerationJob.objects.filter(pk__in=list(recent)).aggregate(
        avg=Avg(ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField()))
    )["avg"]
    return result.total_seconds() if isinstance(result, timedelta) else DEFAULT_RENDER_SECONDS


def queue_eta_seconds(job: GenerationJob, position: int | None) -> int | None:
    if position is None:
        return None
    per_job = average_render_seconds(backend=job.backend)
    waves = -(-position // max(1, settings.GENERATION_WORKERS))  # ceil
    return int(waves * per_job)


def media_url(name: str) -> str | None:
    """An expiring URL for a stored file: S3 presigns it; local files go through a signed view.

    The same URL is handed out for a tenth of its lifetime (so it stays valid for at least nine
    tenths of it): a feed page signs two URLs a post, and a URL that does not change from one
    page to the next lets the apps and a CDN keep the video cached."""
    if not name:
        return None
    # The storage itself, not `default_storage`: every attribute read through that lazy proxy
    # cost more than the cached URL it leads to (a page reads two a post).
    storage = storages["default"]
    local = isinstance(storage, FileSystemStorage)
    lifetime = settings.MEDIA_URL_EXPIRE if local else getattr(settings, "AWS_QUERYSTRING_EXPIRE", 3600)
    window = int(time.time() // max(1, lifetime // 10))
    return _signed_url(name, local, getattr(storage, "bucket_name", None), lifetime, window)


@lru_cache(maxsize=20_000)
def _signed_url(name: str, local: bool, _bucket: str | None, _lifetime: int, _window: int) -> str:
    # The storage, its lifetime and the time window are part of the key: nothing signed for one
    # configuration is handed out under another.
    if local:
        # URL-safe base64 of the name plus a timestamped signature.
        return reverse("signed-media", kwargs={"token": signing.dumps(name, salt=MEDIA_SIGNING_SALT)})
    return default_storage.url(name)


def media_name_from_token(token: str) -> str | None:
    try:
        name = signing.loads(token, salt=MEDIA_SIGNING_SALT, max_age=settings.MEDIA_URL_EXPIRE)
    except signing.BadSignature:  # includes SignatureExpired
        return None
    return name if isinstance(name, str) else None


def job_public_state(job: GenerationJob) -> dict[str, Any]:
    """What the owner's apps see, over REST and in `generation.updated` events alike."""
    position = queue_position(job)
    result = None
    if job.status == JobStatus.SUCCEEDED and job.video:
        result = {
            "video_url": media_url(job.video.name),
            "poster_url": media_url(job.poster.name),
            "duration_seconds": job.result_duration,
            "width": job.result_width,
            "height": job.result_height,
            "fps": job.result_fps,
            "bytes": job.result_bytes,
            "sha256": job.result_sha256,
        }
    return {
        "id": str(job.id),
        "kind": job.kind,
        "status": job.status,
        "progress": job.progress,
        "seq": job.seq,
        "prompt": job.prompt,
        "style": job.style,
        "duration_seconds": job.duration_seconds,
        "size": f"{job.width}x{job.height}",
        "seed": job.seed,
        "backend": job.backend,
        "cost": job.cost,
        "queue_position": position,
        "eta_seconds": queue_eta_seconds(job, position),
        "error": {"code": job.error_code, "message": job.error_message} if job.error_code else None,
        "result": result,
        "source_generation_id": str(job.source_job_id) if job.source_job_id else None,
        "source_post_id": job.source_post_id,
        "retry_of": str(job.retry_of_id) if job.retry_of_id else None,
        "created_at": job.created_at.isoformat(),
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }


def heartbeat_is_stale(job: GenerationJob, *, now=None) -> bool:
    if job.heartbeat_at is None:
        return True
    age = ((now or timezone.now()) - job.heartbeat_at).total_seconds()
    return age >= settings.GENERATION_HEARTBEAT_TIMEOUT


def stale_running_jobs(*, now=None) -> QuerySet[GenerationJob]:
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.GENERATION_HEARTBEAT_TIMEOUT)
    return GenerationJob.objects.filter(status=JobStatus.RUNNING, heartbeat_at__lt=cutoff)


def queued_jobs_needing_message(*, now=None) -> QuerySet[GenerationJob]:
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.GENERATION_REQUEUE_AFTER)
    return GenerationJob.objects.filter(status=JobStatus.QUEUED).filter(Q(enqueued_at__lt=cutoff) |
                                                                         Q(enqueued_at__isnull=True))
