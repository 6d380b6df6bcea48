"""The GPU worker's side of a job: claim it, render it with progress, store and settle."""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from datetime import timedelta
from dataclasses import dataclass, replace
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
from ..backends.media import file_sha256, generator_metadata, probe, watermark_output
from ..models import GenerationJob, JobKind, JobStatus
from .cameos import cameo_spec_fields, job_cancel_if_consent_lacking
from . import providers
from .signing import job_output_sign
from ..provenance.signing import ProvenanceError
from ..scheduling import claimable_jobs, fair_share_candidates
from .scheduler import render_time_record, worker_seen
from .state import CANCELED_BY_USER, delete_files, locked, publish_on_commit, requeue_or_fail, transition

logger = logging.getLogger(__name__)


class LeaseLost(Exception):
    """This worker no longer owns the job (canceled, failed by staff, or taken over)."""


class StartOutcome(str, Enum):
    STARTED = "started"
    IDLE = "idle"  # nothing this worker may claim now: the queue is empty, or its users are at their limits


@dataclass(frozen=True)
class Claim:
    outcome: StartOutcome
    job_id: Any = None


def _recover_if_dead(job_id: Any) -> None:
    # The message named a job whose worker died before the sweeper saw it: put it back in the queue.
    with transaction.atomic():
        job = locked(job_id)
        if job is not None and job.status == JobStatus.RUNNING and selectors.heartbeat_is_stale(job):
            requeue_or_fail(job, reason="worker_lost")


def _claim_for_user(user_id: int, owner: str) -> Any:
    """Start the user's next claimable job unless they are at their running limit. Returns its id."""
    with transaction.atomic():
        # Serialise claims per user: two workers cannot both take the user's last running slot.
        # NO KEY: rows that point at the user (events, ledger) still commit meanwhile; a plain
        # FOR UPDATE would block their foreign-key checks and deadlock with the event counter.
        User.objects.select_for_update(no_key=True).filter(pk=user_id).first()
        running = GenerationJob.objects.filter(user_id=user_id, status=JobStatus.RUNNING).count()
        if running >= user_entitlements(user_id=user_id).max_concurrent_jobs:
            return None
        job = (claimable_jobs().filter(user_id=user_id).select_for_update(skip_locked=True)
               .order_by("-priority", "created_at").first())
        if job is None:
            return None  # another worker took it
        if job_cancel_if_consent_lacking(job):  # consent checked again as the render starts
            return None
        now = timezone.now()
        transition(job, JobStatus.RUNNING, lease_owner=owner, heartbeat_at=now, started_at=now, progress=0,
                   attempts=job.attempts + 1, error_code="", error_message="", not_before=None, eta_at=None)
        return job.pk


def job_claim(*, owner: str, hint_job_id: Any = None) -> Claim:
    """Claim the fairest queued job for this worker (see generation.scheduling).

    The task message that woke the worker is a hint: whichever job it names, the worker takes
    the job fair share says is next, so a message redelivered, repeated or lost changes
    nothing. Users at their running limit are passed over, not waited on.
    """
    worker_seen(owner=owner)
    if hint_job_id is not None:
        _recover_if_dead(hint_job_id)
    for candidate in fair_share_candidates():
        job_id = _claim_for_user(candidate.user_id, owner)
        if job_id is not None:
            return Claim(StartOutcome.STARTED, job_id)
    return Claim(StartOutcome.IDLE)


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

    def __init__(self, job_id: Any, owner: str, interval: float = 0.25, seen_interval: float = 5.0) -> None:
        self.job_id, self.owner, self.interval, self.seen_interval = job_id, owner, interval, seen_interval
        self.last = 0.0
        self.last_seen = time.monotonic()

    def __call__(self, fraction: float) -> None:
        now = time.monotonic()
        if now - self.last < self.interval and fraction < 1.0:
            return
        self.last = now
        job_progress(job_id=self.job_id, owner=self.owner, fraction=fraction)
        if now - self.last_seen >= self.seen_interval:
            # A long render keeps its worker counted as alive (the ETA divides the queue by them).
            self.last_seen = now
            worker_seen(owner=self.owner)


def _finish_if_owner(job_id: Any, owner: str, to: str, **changes: Any) -> bool:
    with transaction.atomic():
        job = locked(job_id)
        if job is None or job.status != JobStatus.RUNNING or job.lease_owner != owner:
            return False
        transition(job, to, **changes)
    return True


def job_fail(*, job_id: Any, owner: str, code: str, message: str) -> bool:
    return _finish_if_owner(job_id, owner, JobStatus.FAILED, error_code=code[:60], error_message=message[:500])


def transient_backoff(errors: int) -> int:
    """Seconds before the next try after the job's `errors`-th transient error: 5, 10, 20 ... 300."""
    return min(300, 5 * 2 ** (errors - 1))


def job_transient_error(*, job_id: Any, owner: str, code: str, message: str) -> int | None:
    """A transient backend error. Puts the job back in the queue and returns how many transient
    errors it has had (the task's backoff grows with it), or None when the retries are used
    up and the job failed, or the job is no longer this worker's."""
    with transaction.atomic():
        job = locked(job_id)
        if job is None or job.status != JobStatus.RUNNING or job.lease_owner != owner:
            return None
        if job.cancel_requested:
            transition(job, JobStatus.CANCELED, **CANCELED_BY_USER)
            return None
        if job.transient_errors >= settings.GENERATION_MAX_TRANSIENT_RETRIES:
            transition(job, JobStatus.FAILED, error_code=code[:60], error_message=message[:500])
            return None
        errors = job.transient_errors + 1
        # No worker claims it before its backoff ends; the task's delayed message is only a hint.
        now = timezone.now()
        transition(job, JobStatus.QUEUED, progress=0, heartbeat_at=None, enqueued_at=now, lease_owner="",
                   transient_errors=errors, not_before=now + timedelta(seconds=transient_backoff(errors)))
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
    if GenerationJob.objects.filter(pk=job_id, kind=JobKind.LOCALIZE).exists():
        from .localization_worker import job_localize  # it builds on this module's claim and progress

        return job_localize(job_id=job_id, owner=owner)
    # A backend whose breaker is open hands the job to the next of its route (unless it holds a remote id).
    providers.job_reroute(job_id=job_id, reason="breaker_open")
    job = GenerationJob.objects.select_related("user", "source_job").get(pk=job_id)
    backend = get_backend(job.backend)
    with tempfile.TemporaryDirectory(prefix=f"gen-{job.pk}-") as tmp:
        workdir = Path(tmp)
        try:
            spec = _render_spec(job, workdir)
            output = backend.render(spec, workdir, _ProgressReporter(job.pk, owner))
            if spec.watermark_text and not getattr(backend, "draws_watermark", False):
                # A backend that writes its own file gets the same moving mark afterwards.
                output = watermark_output(output, spec, workdir)
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
        try:
            # Every stored MP4 carries a signed C2PA manifest; an unsigned one is never stored
            # while signing is configured.
            video_path = job_output_sign(job, output.video_path, source_path=workdir / "source.mp4")
        except ProvenanceError as exc:
            logger.error("generation.provenance_failed", extra={"job_id": str(job_id), "error": str(exc)[:300]})
            job_fail(job_id=job_id, owner=owner, code="provenance_failed", message=str(exc))
            return JobStatus.FAILED
        if video_path != output.video_path:
            info = replace(info, bytes=video_path.stat().st_size, sha256=file_sha256(video_path))
        base = f"generation/{job.user_id}/{job.pk}"
        with open(video_path, "rb") as fh:
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
    render_time_record(job_id=job_id)
    return JobStatus.SUCCEEDED
