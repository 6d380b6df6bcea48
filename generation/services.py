"""Functions that change generation state.

The state machine lives in `_transition`: every change of status goes through
it, under a row lock, and it is the one place that settles credits and
publishes `generation.updated` events (after commit).
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import shutil
import tempfile
import time
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from PIL import Image, UnidentifiedImageError

from accounts.models import User
from accounts.realtime import user_send_now
from billing import services as ledger
from billing.selectors import generation_cost, user_entitlements
from config.celery import app as celery_app
from config.errors import ApplicationError, Conflict

from . import selectors
from .backends import JobCanceled, PermanentBackendError, RenderSpec, get_backend
from .backends.media import generator_metadata, probe
from .models import TERMINAL, GenerationJob, JobKind, JobStatus
from .policy import get_prompt_policy

logger = logging.getLogger(__name__)

ALLOWED_DURATIONS = (4, 8, 12)
# Portrait first: this is a phone app.
ALLOWED_SIZES = ("480x854", "854x480", "480x480", "720x1280", "1280x720", "720x720", "1080x1920", "1920x1080")
ALLOWED_IMAGE_FORMATS = {"JPEG", "PNG", "WEBP"}
PROMPT_MAX_LENGTH = 2000

RENDER_TASK = "generation.tasks.render_generation"
NOTIFY_TASK = "generation.tasks.notify_generation_finished"

_ALLOWED_TRANSITIONS: dict[str, set[str]] = {
    JobStatus.QUEUED: {JobStatus.RUNNING, JobStatus.CANCELED, JobStatus.FAILED},
    # running -> queued: the worker died or hit a transient error; it runs again.
    JobStatus.RUNNING: {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED, JobStatus.QUEUED},
}


class IllegalTransition(Conflict):
    code = "illegal_transition"


class LeaseLost(Exception):
    """This worker no longer owns the job (canceled, failed by staff, or taken over)."""


# --- publishing ---------------------------------------------------------------------


def _publish(job_id: Any) -> None:
    job = GenerationJob.objects.filter(pk=job_id).first()
    if job is None:
        return
    state = selectors.job_public_state(job)
    user_send_now(job.user_id, {"type": "generation.updated", "seq": state["seq"], "job": state})


def _publish_on_commit(job: GenerationJob, *, final: bool = False) -> None:
    job_id = job.pk
    transaction.on_commit(lambda: _publish(job_id))
    if final:
        transaction.on_commit(lambda: celery_app.send_task(NOTIFY_TASK, args=[str(job_id)], queue="default"))


def _enqueue_on_commit(job: GenerationJob) -> None:
    """The task message is a hint; the row is the truth. Sent only after commit."""
    job_id, priority = str(job.pk), job.priority
    # Redis and AMQP: 0 is the most urgent message priority; our job priority grows with the tier.
    transaction.on_commit(lambda: celery_app.send_task(RENDER_TASK, args=[job_id], queue="gpu",
                                                       priority=max(0, 9 - priority)))


def _transition(job: GenerationJob, to: str, **changes: Any) -> GenerationJob:
    """Apply one state change to a row locked by the caller."""
    if to not in _ALLOWED_TRANSITIONS.get(job.status, set()):
        raise IllegalTransition(f"A {job.status} generation cannot become {to}.")
    previous = job.status
    job.status = to
    for field, value in changes.items():
        setattr(job, field, value)
    job.seq += 1
    if to in TERMINAL:
        job.finished_at = timezone.now()
        job.lease_owner = ""
        if to == JobStatus.SUCCEEDED:
            ledger.credits_capture(user_id=job.user_id, reference=job.credit_reference)
        else:
            ledger.credits_release(user_id=job.user_id, reference=job.credit_reference)
    job.save()
    logger.info("generation.transition", extra={"job_id": str(job.pk), "from": previous, "to": to,
                                                "seq": job.seq, "error_code": job.error_code})
    _publish_on_commit(job, final=to in TERMINAL)
    return job


def _locked(job_id: Any) -> GenerationJob | None:
    return GenerationJob.objects.select_for_update().filter(pk=job_id).first()


# --- submission -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Params:
    kind: str
    prompt: str
    duration_seconds: int
    width: int
    height: int
    seed: int | None
    style: str
    source_job_id: str | None
    source_post_id: int | None = None


def _field_error(field: str, code: str, message: str, status_code: int = 400) -> ApplicationError:
    return ApplicationError(message, code=code, status_code=status_code,
                            fields={field: [{"code": code, "message": message}]})


def _check_image(image: UploadedFile) -> str:
    """Size, pixel count and format, before anything is stored. Returns the sha256."""
    if image.size > settings.GENERATION_MAX_IMAGE_BYTES:
        raise _field_error("image", "image_too_large",
                           f"The image must be at most {settings.GENERATION_MAX_IMAGE_BYTES // (1024 * 1024)} MB.")
    try:
        image.seek(0)
        with Image.open(image) as img:
            fmt, (w, h) = img.format, img.size
            if w * h > settings.GENERATION_MAX_IMAGE_PIXELS:
                raise _field_error("image", "image_too_many_pixels",
                                   f"The image must have at most {settings.GENERATION_MAX_IMAGE_PIXELS} pixels.")
            img.verify()
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as exc:
        raise _field_error("image", "image_invalid", "The file is not an image we can read.") from exc
    if fmt not in ALLOWED_IMAGE_FORMATS:
        raise _field_error("image", "image_format_unsupported", "Use a JPEG, PNG or WebP image.")
    image.seek(0)
    digest = hashlib.sha256()
    for chunk in image.chunks():
        digest.update(chunk)
    image.seek(0)
    return digest.hexdigest()


def _fingerprint(params: _Params, image_sha: str) -> str:
    body = json.dumps({**params.__dict__, "image": image_sha}, sort_keys=True, default=str)
    return hashlib.sha256(body.encode()).hexdigest()


def _validate(user: User, params: _Params, has_image: bool, source_post=None) -> GenerationJob | None:
    """Business rules (shape is the serializer's job). Returns the remix source, if any."""
    if not params.prompt.strip() or len(params.prompt) > PROMPT_MAX_LENGTH:
        raise _field_error("prompt", "prompt_length", f"The prompt must be 1-{PROMPT_MAX_LENGTH} characters.")
    entitlements = user_entitlements(user_id=user.pk)
    if params.duration_seconds > entitlements.max_duration_seconds:
        raise _field_error("duration_seconds", "plan_limit",
                           f"Your plan allows up to {entitlements.max_duration_seconds} s.", status_code=403)
    if min(params.width, params.height) > entitlements.max_short_side:
        raise _field_error("size", "plan_limit", f"Your plan allows up to {entitlements.max_short_side}p.",
                           status_code=403)
    if params.kind == JobKind.IMAGE_TO_VIDEO and not has_image:
        raise _field_error("image", "image_required", "An image_to_video generation needs an image.")
    if params.kind != JobKind.IMAGE_TO_VIDEO and has_image:
        raise _field_error("image", "image_not_allowed", "Only image_to_video takes an image.")
    source = None
    if params.kind == JobKind.REMIX and source_post is not None:
        # feed.services.post_remix checked visibility, blocks and the remix policy.
        source = source_post.generation
        if source is None or source.status != JobStatus.SUCCEEDED or not source.video:
            raise _field_error("post", "source_not_ready", "This post's video is not available.", status_code=409)
    elif params.kind == JobKind.REMIX:
        if not params.source_job_id:
            raise _field_error("source_generation_id", "source_required", "A remix needs a source.")
        source = GenerationJob.objects.filter(pk=params.source_job_id, user=user).first()
        if source is None:
            raise _field_error("source_generation_id", "source_not_found", "No such source.", status_code=404)
        if source.status != JobStatus.SUCCEEDED:
            raise _field_error("source_generation_id", "source_not_ready", "The source has no video yet.",
                               status_code=409)
    elif params.source_job_id:
        raise _field_error("source_generation_id", "source_not_allowed", "Only a remix takes a source.")
    get_prompt_policy().check(prompt=params.prompt, user_id=user.pk)
    return source


def _create(user: User, params: _Params, *, image: File | None, image_name: str = "", fingerprint: str = "",
            idempotency_key: str | None = None, retry_of: GenerationJob | None = None,
            source: GenerationJob | None = None, source_post=None) -> GenerationJob:
    entitlements = user_entitlements(user_id=user.pk)
    job = GenerationJob(
        user=user, kind=params.kind, prompt=params.prompt, style=params.style,
        duration_seconds=params.duration_seconds, width=params.width, height=params.height,
        fps=settings.GENERATION_FPS, seed=params.seed if params.seed is not None else random.randrange(2**31),
        source_job=source, source_post=source_post, retry_of=retry_of, backend=settings.GENERATION_BACKEND,
        cost=generation_cost(kind=params.kind, duration_seconds=params.duration_seconds, width=params.width,
                             height=params.height),
        priority=entitlements.queue_priority, watermark=entitlements.watermark,
        idempotency_key=idempotency_key, request_fingerprint=fingerprint, enqueued_at=timezone.now(),
    )
    ledger.credits_reserve(user_id=user.pk, amount=job.cost, reference=job.credit_reference)
    job.save()
    if image is not None:
        job.input_image.save(image_name or "input.png", image, save=True)
    _enqueue_on_commit(job)
    _publish_on_commit(job)
    logger.info("generation.submitted", extra={"job_id": str(job.pk), "user_id": user.pk, "kind": job.kind,
                                               "cost": job.cost, "backend": job.backend})
    return job


def generation_submit(
    *,
    user: User,
    kind: str,
    prompt: str,
    duration_seconds: int,
    size: str,
    seed: int | None = None,
    style: str = "",
    image: UploadedFile | None = None,
    source_generation_id: str | None = None,
    idempotency_key: str | None = None,
    source_post=None,
) -> tuple[GenerationJob, bool]:
    """Validate, check the prompt, reserve credits, create the job queued, enqueue after commit.

    `source_post` is for feed.services.post_remix only (it has checked access).
    Returns (job, created). With an Idempotency-Key, the same request returns the
    job it made the first time; the same key with another request is a 409.
    """
    width, height = (int(v) for v in size.split("x"))
    params = _Params(kind=kind, prompt=prompt, duration_seconds=duration_seconds, width=width, height=height,
                     seed=seed, style=style, source_job_id=str(source_generation_id) if source_generation_id else None,
                     source_post_id=source_post.pk if source_post is not None else None)
    image_sha = _check_image(image) if image is not None else ""
    fingerprint = _fingerprint(params, image_sha) if idempotency_key else ""

    def replay() -> tuple[GenerationJob, bool] | None:
        existing = GenerationJob.objects.filter(user=user, idempotency_key=idempotency_key).first()
        if existing is None:
            return None
        if existing.request_fingerprint != fingerprint:
            raise Conflict("This Idempotency-Key was used for a different request.", code="idempotency_key_reused")
        return existing, False

    if idempotency_key and (found := replay()):
        return found
    source = _validate(user, params, image is not None, source_post)
    try:
        with transaction.atomic():
            job = _create(user, params, image=image, image_name=getattr(image, "name", ""), fingerprint=fingerprint,
                          idempotency_key=idempotency_key, source=source, source_post=source_post)
    except IntegrityError:
        # Two requests with one key raced; the other one's row is committed now.
        if idempotency_key and (found := replay()):
            return found
        raise
    return job, True


def generation_retry(*, user: User, job_id: Any) -> GenerationJob:
    """A failed or canceled job gives a new job with the same request, linked to it."""
    old = selectors.job_of_user(user_id=user.pk, job_id=job_id)
    if old.status not in (JobStatus.FAILED, JobStatus.CANCELED):
        raise Conflict("Only a failed or canceled generation can be retried.", code="job_not_retryable")
    if old.source_post_id:
        # The post's author may have changed the remix policy, or blocked the user, since.
        from feed.selectors import remixable_post

        remixable_post(viewer=user, post_id=old.source_post_id)
    params = _Params(kind=old.kind, prompt=old.prompt, duration_seconds=old.duration_seconds, width=old.width,
                     height=old.height, seed=old.seed, style=old.style,
                     source_job_id=str(old.source_job_id) if old.source_job_id else None,
                     source_post_id=old.source_post_id)
    source = _validate(user, params, bool(old.input_image), old.source_post)
    with transaction.atomic():
        if old.input_image:
            with default_storage.open(old.input_image.name, "rb") as fh:
                return _create(user, params, image=File(fh), image_name=Path(old.input_image.name).name,
                               retry_of=old, source=source, source_post=old.source_post)
        return _create(user, params, image=None, retry_of=old, source=source, source_post=old.source_post)


@transaction.atomic
def generation_cancel(*, user: User, job_id: Any) -> GenerationJob:
    """A queued job never starts; a running one stops at its next progress step."""
    selectors.job_of_user(user_id=user.pk, job_id=job_id)
    job = _locked(job_id)
    if job.status == JobStatus.QUEUED:
        return _transition(job, JobStatus.CANCELED, error_code="canceled", error_message="Canceled by you.")
    if job.status == JobStatus.RUNNING:
        if not job.cancel_requested:
            job.cancel_requested = True
            job.seq += 1
            job.save(update_fields=["cancel_requested", "seq", "updated_at"])
            _publish_on_commit(job)
        return job
    raise Conflict(f"A {job.status} generation cannot be canceled.", code="job_not_cancelable")


def _delete_files(names: list[str]) -> None:
    for name in names:
        if name:
            default_storage.delete(name)


@transaction.atomic
def generation_delete(*, user: User, job_id: Any) -> None:
    """Deletes the job and its stored files (after commit, so a rollback keeps them)."""
    selectors.job_of_user(user_id=user.pk, job_id=job_id)
    job = _locked(job_id)
    if not job.is_terminal:
        raise Conflict("Cancel the generation before deleting it.", code="job_active")
    names = [job.video.name, job.poster.name, job.input_image.name]
    job.delete()
    transaction.on_commit(lambda: _delete_files(names))


# --- staff actions ---------------------------------------------------------------------


@transaction.atomic
def job_fail_by_staff(*, job_id: Any, staff_id: int, reason: str = "") -> GenerationJob:
    job = _locked(job_id)
    if job is None or job.is_terminal:
        raise Conflict("Only a queued or running generation can be failed.", code="job_not_active")
    logger.info("generation.failed_by_staff", extra={"job_id": str(job_id), "staff_id": staff_id})
    return _transition(job, JobStatus.FAILED, error_code="failed_by_staff",
                       error_message=(reason or "Stopped by our team; your credits are back.")[:500])


# --- worker side ----------------------------------------------------------------------


class StartOutcome(str, Enum):
    STARTED = "started"
    GONE = "gone"  # deleted, or already terminal: nothing to do
    BUSY = "busy"  # running under a live worker
    DEFERRED = "deferred"  # the user is at their concurrent-job limit


def job_start(*, job_id: Any, owner: str) -> StartOutcome:
    """Claim the job for this worker. Idempotent: a redelivered message is harmless."""
    with transaction.atomic():
        job = _locked(job_id)
        if job is None or job.is_terminal:
            return StartOutcome.GONE
        if job.status == JobStatus.QUEUED and job.cancel_requested:
            _transition(job, JobStatus.CANCELED, error_code="canceled", error_message="Canceled by you.")
            return StartOutcome.GONE
        if job.status == JobStatus.RUNNING:
            if not selectors.heartbeat_is_stale(job) or job.lease_owner == owner:
                return StartOutcome.BUSY
            # A dead worker's job, redelivered before the sweeper saw it: requeue, then claim below.
            _requeue_or_fail(job, reason="worker_lost")
            if job.is_terminal:
                return StartOutcome.GONE
        # Serialise starts per user so two workers cannot both take the user's last slot.
        User.objects.select_for_update().filter(pk=job.user_id).first()
        running = GenerationJob.objects.filter(user_id=job.user_id, status=JobStatus.RUNNING).count()
        if running >= user_entitlements(user_id=job.user_id).max_concurrent_jobs:
            return StartOutcome.DEFERRED
        now = timezone.now()
        _transition(job, JobStatus.RUNNING, lease_owner=owner, heartbeat_at=now, started_at=now, progress=0,
                    attempts=job.attempts + 1, error_code="", error_message="")
    return StartOutcome.STARTED


def job_progress(*, job_id: Any, owner: str, fraction: float) -> None:
    """Record progress and heartbeat. Raises JobCanceled or LeaseLost to stop the render."""
    percent = max(0, min(99, int(fraction * 100)))
    with transaction.atomic():
        job = _locked(job_id)
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
            _publish_on_commit(job)
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
        job = _locked(job_id)
        if job is None or job.status != JobStatus.RUNNING or job.lease_owner != owner:
            return False
        _transition(job, to, **changes)
    return True


def job_fail(*, job_id: Any, owner: str, code: str, message: str) -> bool:
    return _finish_if_owner(job_id, owner, JobStatus.FAILED, error_code=code[:60], error_message=message[:500])


def job_transient_error(*, job_id: Any, owner: str, code: str, message: str) -> int | None:
    """A transient backend error. Returns the backoff in seconds after putting the job
    back in the queue, or None when the retries are used up and the job failed."""
    with transaction.atomic():
        job = _locked(job_id)
        if job is None or job.status != JobStatus.RUNNING or job.lease_owner != owner:
            return None
        if job.transient_errors >= settings.GENERATION_MAX_TRANSIENT_RETRIES:
            _transition(job, JobStatus.FAILED, error_code=code[:60], error_message=message[:500])
            return None
        _transition(job, JobStatus.QUEUED, progress=0, heartbeat_at=None, enqueued_at=timezone.now(),
                    transient_errors=job.transient_errors + 1)
        return min(300, 5 * 2 ** (job.transient_errors - 1))


def _render_spec(job: GenerationJob, workdir: Path) -> RenderSpec:
    image_path = None
    if job.input_image:
        # Storage may be S3: the backend gets a local copy.
        image_path = workdir / ("input" + Path(job.input_image.name).suffix)
        with default_storage.open(job.input_image.name, "rb") as src, open(image_path, "wb") as dst:
            shutil.copyfileobj(src, dst)
    source_path = None
    if job.source_job_id and job.source_job and job.source_job.video:
        source_path = workdir / "source.mp4"
        with default_storage.open(job.source_job.video.name, "rb") as src, open(source_path, "wb") as dst:
            shutil.copyfileobj(src, dst)
    spec = RenderSpec(
        job_id=str(job.pk), kind=job.kind, prompt=job.prompt, duration_seconds=job.duration_seconds,
        width=job.width, height=job.height, fps=job.fps, seed=job.seed, style=job.style,
        image_path=image_path, source_video_path=source_path,
        watermark_text=f"@{job.user.handle}" if job.watermark else None,
    )
    return RenderSpec(**{**spec.__dict__, "metadata": generator_metadata(spec, job.backend)})


def job_render(*, job_id: Any, owner: str) -> str:
    """Render a job this worker has started; store the results; settle. Returns the final status.

    TransientBackendError propagates (the task retries); everything the user or
    the backend decided ends the job here.
    """
    job = GenerationJob.objects.select_related("user", "source_job").get(pk=job_id)
    backend = get_backend(job.backend)
    with tempfile.TemporaryDirectory(prefix=f"gen-{job.pk}-") as tmp:
        workdir = Path(tmp)
        try:
            output = backend.render(_render_spec(job, workdir), workdir, _ProgressReporter(job.pk, owner))
            info = probe(output.video_path)
        except JobCanceled:
            _finish_if_owner(job_id, owner, JobStatus.CANCELED, error_code="canceled",
                             error_message="Canceled by you.")
            return JobStatus.CANCELED
        except LeaseLost:
            logger.info("generation.lease_lost", extra={"job_id": str(job_id), "owner": owner})
            return "lease_lost"
        except PermanentBackendError as exc:
            job_fail(job_id=job_id, owner=owner, code=exc.code, message=str(exc))
            return JobStatus.FAILED
        base = f"generation/{job.user_id}/{job.pk}"
        with open(output.video_path, "rb") as fh:
            video_name = default_storage.save(f"{base}/video.mp4", File(fh))
        with open(output.poster_path, "rb") as fh:
            poster_name = default_storage.save(f"{base}/poster.jpg", File(fh))
    finished = _finish_if_owner(
        job_id, owner, JobStatus.SUCCEEDED, progress=100, video=video_name, poster=poster_name,
        result_duration=info.duration_seconds, result_width=info.width, result_height=info.height,
        result_fps=info.fps, result_bytes=info.bytes, result_sha256=info.sha256,
    )
    if not finished:
        # Canceled or taken over while we uploaded: our copy is nobody's.
        _delete_files([video_name, poster_name])
        return "lease_lost"
    return JobStatus.SUCCEEDED


def _requeue_or_fail(job: GenerationJob, *, reason: str) -> GenerationJob:
    if job.cancel_requested:
        return _transition(job, JobStatus.CANCELED, error_code="canceled", error_message="Canceled by you.")
    if job.attempts >= settings.GENERATION_MAX_ATTEMPTS:
        return _transition(job, JobStatus.FAILED, error_code=reason,
                           error_message="The render kept failing; your credits are back.")
    job = _transition(job, JobStatus.QUEUED, lease_owner="", heartbeat_at=None, progress=0,
                      enqueued_at=timezone.now())
    _enqueue_on_commit(job)
    return job


def jobs_sweep() -> dict[str, int]:
    """Periodic: rescue jobs of dead workers and jobs whose task message was lost."""
    counts = {"requeued": 0, "failed": 0, "canceled": 0, "reenqueued": 0}
    for job_id in list(selectors.stale_running_jobs().values_list("pk", flat=True)[:200]):
        with transaction.atomic():
            job = _locked(job_id)
            if job is None or job.status != JobStatus.RUNNING or not selectors.heartbeat_is_stale(job):
                continue  # it moved on while we looked
            job = _requeue_or_fail(job, reason="worker_lost")
            counts[{"queued": "requeued", "failed": "failed", "canceled": "canceled"}[job.status]] += 1
    for job_id in list(selectors.queued_jobs_needing_message().values_list("pk", flat=True)[:500]):
        with transaction.atomic():
            job = _locked(job_id)
            if job is None or job.status != JobStatus.QUEUED:
                continue
            job.enqueued_at = timezone.now()
            job.save(update_fields=["enqueued_at", "updated_at"])
            _enqueue_on_commit(job)
            counts["reenqueued"] += 1
    if any(counts.values()):
        logger.info("generation.sweep", extra=counts)
    return counts


def job_notify_finished(*, job_id: Any) -> int:
    """FCM push of the final state when none of the user's devices has the socket open."""
    from accounts.presence import user_is_online
    from accounts.push import push_to_user

    job = GenerationJob.objects.filter(pk=job_id).first()
    if job is None or not job.is_terminal or user_is_online(job.user_id):
        return 0
    titles = {
        JobStatus.SUCCEEDED: ("Your video is ready", "Tap to watch and post it."),
        JobStatus.FAILED: ("Your video could not be made", "Your credits are back. Tap to try again."),
        JobStatus.CANCELED: ("Generation canceled", "Your credits are back."),
    }
    title, body = titles[job.status]
    return push_to_user(user_id=job.user_id, title=title, body=body,
                        data={"type": "generation.updated", "job_id": str(job.pk), "status": job.status,
                              "seq": str(job.seq)})
