"""The GPU worker's side of a job: claim it, render it with progress, store and settle."""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from enum import Enum
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from billing.selectors import user_entitlements

from .. import selectors
from ..backends import (
    HOSTED,
    JobCanceled,
    PermanentBackendError,
    ProviderQuotaExhausted,
    RenderSpec,
    TransientBackendError,
    get_backend,
)
from ..backends.media import generator_metadata, probe
from ..models import GenerationJob, JobStatus
from .cameos import cameo_spec_fields, job_cancel_if_consent_lacking
from . import providers
from .state import CANCELED_BY_USER, delete_files, locked, publish_on_commit, requeue_or_fail, transition

logger = logging.getLogger(__name__)


class LeaseLost(Exception):
    """This worker no longer owns the job (canceled, failed by staff, or taken over)."""


class StartOutcome(str, Enum):
    STARTED = "started"
    GONE = "gone"  # deleted, or already terminal: nothing to do
    BUSY = "busy"  # running under a live worker
    DEFERRED = "deferred"  # the user is at their concurrent-job limit


def job_start(*, job_id: Any, owner: str) -> StartOutcome:
    """Claim the job for this worker. Idempotent: a redelivered message is harmless."""
    with transaction.atomic():
        job = locked(job_id)
        if job is None or job.is_terminal:
            return StartOutcome.GONE
        if job.status == JobStatus.QUEUED and job.cancel_requested:
            transition(job, JobStatus.CANCELED, **CANCELED_BY_USER)
            return StartOutcome.GONE
        if job.status == JobStatus.RUNNING:
            if not selectors.heartbeat_is_stale(job) or job.lease_owner == owner:
                return StartOutcome.BUSY
            # A dead worker's job, redelivered before the sweeper saw it: requeue, then claim below.
            requeue_or_fail(job, reason="worker_lost")
            if job.is_terminal:
                return StartOutcome.GONE
        if job_cancel_if_consent_lacking(job):  # consent checked again as the render starts
            return StartOutcome.GONE
        # Serialise starts per user so two workers cannot both take the user's last slot.
        User.objects.select_for_update().filter(pk=job.user_id).first()
        running = GenerationJob.objects.filter(user_id=job.user_id, status=JobStatus.RUNNING).count()
        if running >= user_entitlements(user_id=job.user_id).max_concurrent_jobs:
            return StartOutcome.DEFERRED
        now = timezone.now()
        transition(job, JobStatus.RUNNING, lease_owner=owner, heartbeat_at=now, started_at=now, progress=0,
                   attempts=job.attempts + 1, error_code="", error_message="")
    return StartOutcome.STARTED


def job_progress(*, job_id: Any, owner: str, fraction: float) -> None:
    """Record progress and heartbeat. Raises JobCanceled or LeaseLost to stop the render."""
    percent = max(0, min(99, int(fraction * 100)))
    with transaction.atomic():
        job = locked(job_id)
        if job is None or job.status != JobStatus.RUNNING or job.lease_owner != owner:
            raise LeaseLost(str(job_id))
        if job.cancel_requested:
            raise JobCanceled(str(job_id))
        job.heartbeat_at = timezone.now()
        fields = ["heartbeat_at", "updated_at"]
        if percent > job.progress:
            job.progress = percent
            job.seq += 1
            fields += ["progress", "seq"]
            publish_on_commit(job)
        job.save(update_fields=fields)


class _ProgressReporter:
    """Calls job_progress at most every `interval` seconds (a few events per second at most)."""

    def __init__(self, job_id: Any, owner: str, interval: float = 0.25) -> None:
        self.job_id, self.owner, self.interval = job_id, owner, interval
        self.last = 0.0

    def __call__(self, fraction: float) -> None:
        now = time.monotonic()
        if now - self.last < self.interval and fraction < 1.0:
            return
        self.last = now
        job_progress(job_id=self.job_id, owner=self.owner, fraction=fraction)


def _finish_if_owner(job_id: Any, owner: str, to: str, **changes: Any) -> bool:
    with transaction.atomic():
        job = locked(job_id)
        if job is None or job.status != JobStatus.RUNNING or job.lease_owner != owner:
            return False
        transition(job, to, **changes)
    return True


def job_fail(*, job_id: Any, owner: str, code: str, message: str) -> bool:
    return _finish_if_owner(job_id, owner, JobStatus.FAILED, error_code=code[:60], error_message=message[:500])


def job_transient_error(*, job_id: Any, owner: str, code: str, message: str) -> int | None:
    """A transient backend error. Puts the job back in the queue and returns how many transient
    errors it has had (the task's backoff grows with it), or None when the retries are used
    up and the job failed, or the job is no longer this worker's."""
    with transaction.atomic():
        job = locked(job_id)
        if job is None or job.status != JobStatus.RUNNING or job.lease_owner != owner:
            return None
        if job.transient_errors >= settings.GENERATION_MAX_TRANSIENT_RETRIES:
            transition(job, JobStatus.FAILED, error_code=code[:60], error_message=message[:500])
            return None
        transition(job, JobStatus.QUEUED, progress=0, heartbeat_at=None, enqueued_at=timezone.now(),
                   transient_errors=job.transient_errors + 1)
        return job.transient_errors


def _copy_to(name: str, path: Path) -> Path:
    # Storage may be S3: the backend gets a local copy.
    with default_storage.open(name, "rb") as src, open(path, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return path


def _render_spec(job: GenerationJob, workdir: Path) -> RenderSpec:
    image_path = None
    if job.input_image:
        image_path = _copy_to(job.input_image.name, workdir / ("input" + Path(job.input_image.name).suffix))
    source_path = None
    if job.source_job_id and job.source_job and job.source_job.video:
        source_path = _copy_to(job.source_job.video.name, workdir / "source.mp4")
    fields = dict(
        job_id=str(job.pk), kind=job.kind, prompt=job.prompt, duration_seconds=job.duration_seconds,
        width=job.width, height=job.height, fps=job.fps, seed=job.seed, style=job.style,
        image_path=image_path, source_video_path=source_path,
        watermark_text=f"@{job.user.handle}" if job.watermark else None,
        **cameo_spec_fields(job, workdir),
    )
    hosted = {}
    if job.backend in HOSTED:
        source = job.source_job
        same_provider = (source is not None and source.remote_id
                         and providers.provider_of(source.backend) == providers.provider_of(job.backend))
        hosted = dict(remote=providers.RemoteJob(job), source_remote_id=source.remote_id if same_provider else "")
    return RenderSpec(**fields, **hosted, metadata=generator_metadata(RenderSpec(**fields), job.backend))


def job_render(*, job_id: Any, owner: str) -> str:
    """Render a job this worker has started; store the results; settle. Returns the final status.

    TransientBackendError propagates (the task retries); everything the user or
    the backend decided ends the job here.
    """
    # A backend whose breaker is open hands the job to the next of its route (unless it holds a remote id).
    providers.job_reroute(job_id=job_id, reason="breaker_open")
    job = GenerationJob.objects.select_related("user", "source_job").get(pk=job_id)
    backend = get_backend(job.backend)
    with tempfile.TemporaryDirectory(prefix=f"gen-{job.pk}-") as tmp:
        workdir = Path(tmp)
        try:
            output = backend.render(_render_spec(job, workdir), workdir, _ProgressReporter(job.pk, owner))
            info = probe(output.video_path)
        except JobCanceled:
            _finish_if_owner(job_id, owner, JobStatus.CANCELED, **CANCELED_BY_USER)
            return JobStatus.CANCELED
        except LeaseLost:
            logger.info("generation.lease_lost", extra={"job_id": str(job_id), "owner": owner})
            return "lease_lost"
        except ProviderQuotaExhausted as exc:
            providers.provider_quota_exhausted(job_id=job_id, backend=job.backend, message=str(exc))
            if providers.job_reroute(job_id=job_id, reason="quota", exclude_current=True):
                raise TransientBackendError(str(exc), code=exc.code) from exc
            job_fail(job_id=job_id, owner=owner, code=exc.code, message=str(exc))
            return JobStatus.FAILED
        except TransientBackendError:
            providers.breaker_failure(job.backend)
            raise
        except PermanentBackendError as exc:
            job_fail(job_id=job_id, owner=owner, code=exc.code, message=str(exc))
            return JobStatus.FAILED
        base = f"generation/{job.user_id}/{job.pk}"
        with open(output.video_path, "rb") as fh:
            video_name = default_storage.save(f"{base}/video.mp4", File(fh))
        with open(output.poster_path, "rb") as fh:
            poster_name = default_storage.save(f"{base}/poster.jpg", File(fh))
    providers.breaker_success(job.backend)
    finished = _finish_if_owner(
        job_id, owner, JobStatus.SUCCEEDED, progress=100, video=video_name, poster=poster_name,
        provider_cost_usd=providers.provider_cost(GenerationJob.objects.get(pk=job_id)),
        result_duration=info.duration_seconds, result_width=info.width, result_height=info.height,
        result_fps=info.fps, result_bytes=info.bytes, result_sha256=info.sha256,
    )
    if not finished:
        # Canceled or taken over while we uploaded: our copy is nobody's.
        delete_files([video_name, poster_name])
        return "lease_lost"
    return JobStatus.SUCCEEDED
