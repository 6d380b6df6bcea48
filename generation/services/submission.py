"""What a user does to their own generations: submit, retry, cancel, delete."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
import warnings
from dataclasses import asdict, replace
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from PIL import Image, UnidentifiedImageError

from accounts.models import User
from billing import services as ledger
from billing.quotas import quota_consume
from billing.selectors import Entitlements, generation_cost, user_entitlements
from config.errors import ApplicationError, Conflict, TooManyRequests

from .. import selectors
from ..backends import RenderParams, UnsupportedRequest
from ..models import GenerationJob, JobKind, JobStatus
from ..scheduling import QueueSnapshot, queue_estimate, queue_snapshot
from ..policy import get_prompt_policy
from .cameos import cameos_for_submit, job_cameo_ids
from . import providers
from .state import CANCELED_BY_USER, delete_files, enqueue_on_commit, locked, publish_on_commit, transition

logger = logging.getLogger(__name__)

ALLOWED_DURATIONS = (4, 8, 12)
# Portrait first: this is a phone app.
# "auto": the serving backend picks the largest portrait size it renders that the plan allows.
AUTO_SIZE = "auto"
ALLOWED_SIZES = ("480x854", "854x480", "480x480", "720x1280", "1280x720", "720x720", "1080x1920", "1920x1080",
                 AUTO_SIZE)
ALLOWED_IMAGE_FORMATS = {"JPEG", "PNG", "WEBP"}
PROMPT_MAX_LENGTH = 2000

# Given a retried job, returns its remix source checked anew (see generation_retry).
SourceCheck = Callable[[GenerationJob], GenerationJob]


def _field_error(field: str, code: str, message: str, status_code: int = 400) -> ApplicationError:
    return ApplicationError(message, code=code, status_code=status_code,
                            fields={field: [{"code": code, "message": message}]})


def _check_image(image: UploadedFile) -> str:
    """Size, pixel count and format, before anything is stored. Returns the sha256."""
    if image.size > settings.GENERATION_MAX_IMAGE_BYTES:
        raise _field_error("image", "image_too_large",
                           f"The image must be at most {settings.GENERATION_MAX_IMAGE_BYTES // (1024 * 1024)} MB.")
    too_many_pixels = _field_error("image", "image_too_many_pixels",
                                   f"The image must have at most {settings.GENERATION_MAX_IMAGE_PIXELS} pixels.")
    try:
        image.seek(0)
        # The header's size is checked before anything decodes the pixels; Pillow's own bomb
        # warning would come first and say the same.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(image) as img:
                fmt, (w, h) = img.format, img.size
                if w * h > settings.GENERATION_MAX_IMAGE_PIXELS:
                    raise too_many_pixels
                img.verify()
    except Image.DecompressionBombError as exc:  # more pixels than Pillow opens at all
        raise too_many_pixels from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise _field_error("image", "image_invalid", _("The file is not an image we can read.")) from exc
    if fmt not in ALLOWED_IMAGE_FORMATS:
        raise _field_error("image", "image_format_unsupported", _("Use a JPEG, PNG or WebP image."))
    image.seek(0)
    digest = hashlib.sha256()
    for chunk in image.chunks():
        digest.update(chunk)
    image.seek(0)
    return digest.hexdigest()


def _fingerprint(params: RenderParams, *, source_id: str | None, image_sha: str,
                 cameos: list[str] | None = None) -> str:
    extra = {"cameos": cameos} if cameos is not None else {}
    fields = asdict(params)
    fields.pop("cameo_count")  # the cameo ids themselves are in `extra`; keys made before it still match
    body = json.dumps({**fields, "source": source_id, "image": image_sha, **extra}, sort_keys=True,
                      default=str)
    return hashlib.sha256(body.encode()).hexdigest()


def _own_source(user: User, source_generation_id: str | None) -> GenerationJob:
    if not source_generation_id:
        raise _field_error("source_generation_id", "source_required", _("A remix needs a source."))
    source = GenerationJob.objects.filter(pk=source_generation_id, user=user).first()
    if source is None:
        raise _field_error("source_generation_id", "source_not_found", _("No such source."), status_code=404)
    if source.status != JobStatus.SUCCEEDED:
        raise _field_error("source_generation_id", "source_not_ready", _("The source has no video yet."),
                           status_code=409)
    return source


def _backend_check(user: User, params: RenderParams) -> tuple[RenderParams, list[str]]:
    """What the backend that will serve the job can render (sizes, durations, kinds), before any
    charge, and the route: that backend, then the fallbacks that take the request as it is."""
    entitlements = user_entitlements(user_id=user.pk)
    try:
        return providers.route_plan(kind=params.kind, plan_code=entitlements.plan_code, params=params,
                                    max_short_side=entitlements.max_short_side)
    except UnsupportedRequest as exc:
        raise _field_error(exc.field, exc.code, str(exc)) from exc


def _validate(user: User, params: RenderParams, *, has_image: bool, source_generation_id: str | None,
              checked_source: GenerationJob | None,
              cameo_ids: list[Any] | None = None) -> tuple[GenerationJob | None, list[str]]:
    """Business rules (shape is the serializer's job). Returns the remix source, if any, and the
    ids of the cameos the job carries (checked: the user may use each of them now)."""
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
        raise _field_error("image", "image_required", _("An image_to_video generation needs an image."))
    if params.kind != JobKind.IMAGE_TO_VIDEO and has_image:
        raise _field_error("image", "image_not_allowed", _("Only image_to_video takes an image."))
    source = None
    if params.kind == JobKind.REMIX:
        source = checked_source or _own_source(user, source_generation_id)
        if source.kind == JobKind.LOCALIZE:
            # A rendition is a translation of a video, not a video of its own to remix.
            raise _field_error("source_generation_id", "source_not_remixable",
                               _("A localised video cannot be remixed; remix its original."))
    elif source_generation_id:
        raise _field_error("source_generation_id", "source_not_allowed", _("Only a remix takes a source."))
    ids = job_cameo_ids(cameo_ids=cameo_ids, source=source)
    cameos = cameos_for_submit(user_id=user.pk, cameo_ids=ids, lock=False)
    # A protected name passes only with that person's cameo attached.
    get_prompt_policy().check(prompt=params.prompt, user_id=user.pk, consented_names=[c.name for c in cameos])
    return source, ids


def _admit(user: User, entitlements: Entitlements) -> QueueSnapshot:
    """Backpressure, before anything is created or charged: the user's queued-job cap, then the
    global backlog (free users are refused first). Returns the look at the queue it took."""
    # Serialises a user's submits, so two at once cannot both take the last queued slot.
    User.objects.select_for_update(no_key=True).filter(pk=user.pk).first()  # see worker._claim_for_user
    snapshot = queue_snapshot()
    queued = GenerationJob.objects.filter(user=user, status=JobStatus.QUEUED).order_by("-priority", "created_at")
    if queued.count() >= entitlements.max_queued_jobs:
        # A slot frees when the user's next queued job starts.
        wait, __ = snapshot.start_in(queued.first(), rank=1)
        message = _("You have %(count)d generations waiting already; submit more when one has started.")
        raise TooManyRequests(message % {"count": entitlements.max_queued_jobs}, retry_after=math.ceil(wait),
                              code="queue_full")
    minutes = (settings.GENERATION_SHED_FREE_AFTER_MINUTES if entitlements.tier == "free"
               else settings.GENERATION_SHED_ALL_AFTER_MINUTES)
    backlog = snapshot.backlog_seconds()
    if minutes and backlog > minutes * 60:
        logger.warning("generation.shed", extra={"user_id": user.pk, "tier": entitlements.tier,
                                                 "backlog_seconds": int(backlog)})
        raise TooManyRequests(_("Video generation is very busy right now; please try again later."),
                              retry_after=math.ceil(backlog - minutes * 60), code="queue_busy")
    return snapshot


def _create(user: User, params: RenderParams, *, route: list[str], image: File | None, image_name: str = "",
            fingerprint: str = "",
            idempotency_key: str | None = None, retry_of: GenerationJob | None = None,
            source: GenerationJob | None = None, cameo_ids: list[str] = ()) -> GenerationJob:
    # Locked: a revocation racing this submit either waits for the job and cancels it, or
    # commits first and this check refuses.
    cameos = cameos_for_submit(user_id=user.pk, cameo_ids=list(cameo_ids), lock=True)
    entitlements = user_entitlements(user_id=user.pk)
    snapshot = _admit(user, entitlements)
    job = GenerationJob(
        user=user, kind=params.kind, prompt=params.prompt, style=params.style,
        duration_seconds=params.duration_seconds, width=params.width, height=params.height,
        fps=settings.GENERATION_FPS, seed=params.seed if params.seed is not None else random.randrange(2**31),
        source_job=source, retry_of=retry_of, backend=route[0], route=route, plan_code=entitlements.plan_code,
        provider_model=providers.backend_model(route[0]),
        cost=generation_cost(kind=params.kind, duration_seconds=params.duration_seconds, width=params.width,
                             height=params.height),
        priority=entitlements.queue_priority, watermark=entitlements.watermark,
        idempotency_key=idempotency_key, request_fingerprint=fingerprint, enqueued_at=timezone.now(),
    )
    quota_consume(user=user, limit=entitlements.daily_generations)
    ledger.credits_reserve(user_id=user.pk, amount=job.cost, reference=job.credit_reference)
    job.save()
    if cameos:
        job.cameos.set(cameos)
    if image is not None:
        job.input_image.save(image_name or "input.png", image, save=True)
    __, eta = queue_estimate(job, snapshot)
    job.eta_at = snapshot.now + timedelta(seconds=eta)  # what the owner is told now (see etas_refresh)
    job.save(update_fields=["eta_at"])
    enqueue_on_commit(job)
    publish_on_commit(job, snapshot=snapshot)
    logger.info("generation.submitted", extra={"job_id": str(job.pk), "user_id": user.pk, "kind": job.kind,
                                               "cost": job.cost, "backend": job.backend})
    return job


def _replay(user: User, idempotency_key: str, fingerprint: str) -> tuple[GenerationJob, bool] | None:
    """The job an Idempotency-Key already made (not created now), or a 409 when that key came
    with another request; None when the key is new."""
    existing = GenerationJob.objects.filter(user=user, idempotency_key=idempotency_key).first()
    if existing is None:
        return None
    if existing.request_fingerprint != fingerprint:
        raise Conflict(_("This Idempotency-Key was used for a different request."), code="idempotency_key_reused")
    return existing, False


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
    source_job: GenerationJob | None = None,
    cameo_ids: list[Any] | None = None,
) -> tuple[GenerationJob, bool]:
    """Validate, check the prompt, reserve credits, create the job queued, enqueue after commit.

    A remix's source is the user's own job (`source_generation_id`, checked here) or
    `source_job`, a job of anyone's that the caller has checked the user may remix (feed's
    post_remix: visibility, blocks, the author's remix policy).
    `cameo_ids`: at most two cameos the user may use (None: a remix keeps its source's).
    Returns (job, created). With an Idempotency-Key, the same request returns the
    job it made the first time; the same key with another request is a 409.
    """
    width, height = (0, 0) if size == AUTO_SIZE else (int(v) for v in size.split("x"))
    params = RenderParams(kind=kind, prompt=prompt, duration_seconds=duration_seconds, width=width, height=height,
                          seed=seed, style=style)
    source_generation_id = str(source_generation_id) if source_generation_id else None
    image_sha = _check_image(image) if image is not None else ""
    fingerprint = ""
    if idempotency_key:
        source_id = str(source_job.pk) if source_job is not None else source_generation_id
        fingerprint = _fingerprint(params, source_id=source_id, image_sha=image_sha,
                                   cameos=sorted(str(c) for c in cameo_ids) if cameo_ids is not None else None)

    if idempotency_key and (found := _replay(user, idempotency_key, fingerprint)):
        return found
    source, ids = _validate(user, params, has_image=image is not None, source_generation_id=source_generation_id,
                            checked_source=source_job, cameo_ids=cameo_ids)
    # The backend refuses cameos it cannot render (one reference image at most, or none).
    params, route = _backend_check(user, replace(params, cameo_count=len(ids)))
    try:
        with transaction.atomic():
            job = _create(user, params, route=route, image=image, image_name=getattr(image, "name", ""),
                          fingerprint=fingerprint, idempotency_key=idempotency_key, source=source, cameo_ids=ids)
    except IntegrityError:
        # Two requests with one key raced; the other one's row is committed now.
        if idempotency_key and (found := _replay(user, idempotency_key, fingerprint)):
            return found
        raise
    return job, True


def generation_retry(*, user: User, job_id: Any, check_source: SourceCheck | None = None) -> GenerationJob:
    """A failed or canceled job gives a new job with the same request, linked to it.

    A remix of the user's own job is checked here again. A localize job is retried by
    services.localization (only its languages that failed). A remix of a job someone else's
    app-level rules allowed (feed: a post) is retried through that app, which passes
    `check_source` to check those rules again and return the source.
    """
    old = selectors.job_of_user(user_id=user.pk, job_id=job_id)
    if old.kind == JobKind.LOCALIZE:
        from .localization import localization_retry  # it builds on this module's checks

        return localization_retry(user=user, old=old)
    if old.status not in (JobStatus.FAILED, JobStatus.CANCELED):
        raise Conflict(_("Only a failed or canceled generation can be retried."), code="job_not_retryable")
    checked_source = check_source(old) if check_source is not None else None
    params = RenderParams(kind=old.kind, prompt=old.prompt, duration_seconds=old.duration_seconds, width=old.width,
                          height=old.height, seed=old.seed, style=old.style)
    source, ids = _validate(user, params, has_image=bool(old.input_image),
                            source_generation_id=str(old.source_job_id) if old.source_job_id else None,
                            checked_source=checked_source,
                            cameo_ids=[str(pk) for pk in old.cameos.order_by("pk").values_list("pk", flat=True)])
    params, route = _backend_check(user, params)
    with transaction.atomic():
        if old.input_image:
            with default_storage.open(old.input_image.name, "rb") as fh:
                return _create(user, params, route=route, image=File(fh), image_name=Path(old.input_image.name).name,
                               retry_of=old, source=source, cameo_ids=ids)
        return _create(user, params, route=route, image=None, retry_of=old, source=source, cameo_ids=ids)


@transaction.atomic
def generation_cancel(*, user: User, job_id: Any) -> GenerationJob:
    """A queued job never starts; a running one stops at its next progress step."""
    selectors.job_of_user(user_id=user.pk, job_id=job_id)
    job = locked(job_id)
    if job.status == JobStatus.QUEUED:
        return transition(job, JobStatus.CANCELED, **CANCELED_BY_USER)
    if job.status == JobStatus.RUNNING:
        if not job.cancel_requested:
            job.cancel_requested = True
            job.seq += 1
            job.save(update_fields=["cancel_requested", "seq", "updated_at"])
            publish_on_commit(job)
        return job
    raise Conflict(_("This generation cannot be canceled (status: %(status)s).") % {"status": job.status}, code="job_not_cancelable")


@transaction.atomic
def generation_delete(*, user: User, job_id: Any) -> None:
    """Deletes the job and its stored files (after commit, so a rollback keeps them)."""
    selectors.job_of_user(user_id=user.pk, job_id=job_id)
    job = locked(job_id)
    if not job.is_terminal:
        raise Conflict(_("Cancel the generation before deleting it."), code="job_active")
    names = [job.video.name, job.poster.name, job.input_image.name, job.source_video.name, job.source_subtitles.name]
    for video, subtitles in job.renditions.values_list("video", "subtitles"):  # a localize job's languages
        names += [video, subtitles]
    job.delete()
    transaction.on_commit(lambda: delete_files(names))
