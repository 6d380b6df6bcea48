"""What a user does to localise a video: submit a localize job (subtitles, and optionally a dub and
burned-in subtitles, in other languages) and retry the languages that failed.

The job goes through the same queue, states, events and ledger as a render (generation.services
.state); its worker side is generation.services.localization_worker. Credits are reserved per part
so each settles on its own, exactly once: the transcription (once per job, when no subtitles came
with the video) under the job's reference, settled with the job by the state hub; each target
language under its rendition's reference, captured when that language is stored and released when
it fails.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from billing import services as ledger
from billing.selectors import LocalizationPrice, localization_price, user_entitlements
from config.errors import ApplicationError, Conflict

from ..localization.base import Cue, SubtitlesInvalid
from ..localization.pipeline import burn_in_supported, get_synthesizer, get_transcriber, supported_pair
from ..localization.subtitles import parse_subtitles
from ..models import GenerationJob, JobKind, JobStatus, Rendition, RenditionStatus
from .cameos import cameos_for_submit
from .state import enqueue_on_commit, publish_on_commit
from .submission import _admit, _field_error, _own_source, _replay

logger = logging.getLogger(__name__)

# The job's backend column: what serves it is the configured transcriber and synthesizer.
LOCALIZE_BACKEND = "localize"


# --- languages ---------------------------------------------------------------------------------


def canonical_language(tag: str) -> str:
    """A BCP 47 tag written the canonical way: language lower case, script title case, region
    upper case (`pt-br` -> `pt-BR`, `zh_hans` -> `zh-Hans`)."""
    parts = [p for p in re.split(r"[-_]", tag.strip()) if p]
    out = []
    for i, part in enumerate(parts):
        if i == 0:
            out.append(part.lower())
        elif len(part) == 4 and part.isalpha():
            out.append(part.title())
        elif len(part) == 2 and part.isalpha() or len(part) == 3 and part.isdigit():
            out.append(part.upper())
        else:
            out.append(part.lower())
    return "-".join(out)


def supported_languages() -> list[str]:
    """settings.LANGUAGES, canonical: the languages the app speaks are the ones it localises into."""
    return [canonical_language(code) for code, __ in settings.LANGUAGES]


def _language(field: str, tag: Any) -> str:
    canonical = canonical_language(tag) if isinstance(tag, str) else ""
    if canonical not in supported_languages():
        raise _field_error(field, "language_invalid",
                           _("%(tag)s is not a language we localise into; use one of %(languages)s.")
                           % {"tag": str(tag)[:35], "languages": ", ".join(supported_languages())})
    return canonical


# --- the source video ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceVideo:
    duration: float
    width: int
    height: int
    fps: float
    sha256: str


def _video_error(code: str, message: str) -> ApplicationError:
    return _field_error("video", code, message)


def check_source_video(path: Path) -> SourceVideo:
    """An uploaded clip must be an H.264 video no longer than LOCALIZATION_MAX_SECONDS that decodes.
    The header's duration is checked before decoding; the decode stops as soon as the frames pass
    the limit (a header can lie)."""
    limit = settings.LOCALIZATION_MAX_SECONDS
    too_long = _video_error("video_too_long", _("The video must be at most %(seconds)d seconds long.")
                            % {"seconds": limit})
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise _video_error("video_invalid", _("The file is not a video we can read."))
            stream = container.streams.video[0]
            if stream.codec_context.name != "h264":
                raise _video_error("video_codec_unsupported", _("Use an H.264 video (MP4)."))
            declared = container.duration / av.time_base if container.duration else 0.0
            if declared > limit + 0.5:
                raise too_long
            fps = float(stream.average_rate or stream.guessed_rate or 0)
            frames, last = 0, 0.0
            for frame in container.decode(stream):
                frames += 1
                if frame.time is not None:
                    last = max(last, float(frame.time))
                if last > limit + 0.5:
                    raise too_long
            width, height = stream.codec_context.width, stream.codec_context.height
    except av.FFmpegError as exc:
        raise _video_error("video_invalid", _("The file is not a video we can read.")) from exc
    if not frames or not fps:
        raise _video_error("video_invalid", _("The file is not a video we can read."))
    duration = max(declared, frames / fps)
    if duration > limit + 0.5:
        raise too_long
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return SourceVideo(duration=round(duration, 3), width=width, height=height, fps=round(fps, 3),
                       sha256=digest.hexdigest())


def _upload_to_temp(upload: UploadedFile, folder: Path) -> Path:
    path = folder / "upload.mp4"
    with open(path, "wb") as fh:
        for chunk in upload.chunks():
            fh.write(chunk)
    upload.seek(0)
    return path


def _source_of_generation(user: User, source_generation_id: str) -> GenerationJob:
    """The caller's own succeeded generation (a remix or a render, not another localisation)."""
    source = _own_source(user, source_generation_id)
    if source.kind == JobKind.LOCALIZE or not source.video:
        raise _field_error("source_generation_id", "source_not_localizable",
                           _("Localise the original video, not one of its localisations."))
    return source


# --- the request ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LocalizationRequest:
    source_language: str
    languages: tuple[str, ...]
    dub: bool
    burn_in: bool
    glossary: dict[str, str]

    def options(self) -> dict[str, Any]:
        return {"source_language": self.source_language, "targets": list(self.languages), "dub": self.dub,
                "burn_in": self.burn_in, "glossary": self.glossary}


def _glossary(glossary: Any) -> dict[str, str]:
    if glossary is None:
        return {}
    bad = _field_error("glossary", "glossary_invalid",
                       _("The glossary is an object of at most %(terms)d terms, each side 1-%(chars)d characters.")
                       % {"terms": settings.LOCALIZATION_GLOSSARY_MAX_TERMS,
                          "chars": settings.LOCALIZATION_GLOSSARY_TERM_MAX})
    if not isinstance(glossary, dict) or len(glossary) > settings.LOCALIZATION_GLOSSARY_MAX_TERMS:
        raise bad
    out = {}
    for term, replacement in glossary.items():
        if not isinstance(term, str) or not isinstance(replacement, str):
            raise bad
        term, replacement = term.strip(), replacement.strip()
        if not (0 < len(term) <= settings.LOCALIZATION_GLOSSARY_TERM_MAX
                and 0 < len(replacement) <= settings.LOCALIZATION_GLOSSARY_TERM_MAX):
            raise bad
        out[term] = replacement
    return out


def localization_request(*, source_language: str, languages: list[Any], dub: bool, burn_in: bool,
                         glossary: Any, has_subtitles: bool) -> LocalizationRequest:
    """Languages canonical and checked against what the configured stages support."""
    source = _language("source_language", source_language)
    targets: list[str] = []
    for tag in languages:
        target = _language("languages", tag)
        if target == source:
            raise _field_error("languages", "language_invalid",
                               _("A target language must differ from the source language."))
        if target not in targets:
            targets.append(target)
    if not targets or len(targets) > settings.LOCALIZATION_MAX_LANGUAGES:
        raise _field_error("languages", "language_invalid", _("Ask for 1-%(count)d target languages.")
                           % {"count": settings.LOCALIZATION_MAX_LANGUAGES})
    for target in targets:
        if not supported_pair(source, target):
            raise _field_error("languages", "language_pair_unsupported",
                               _("We cannot translate %(source)s into %(target)s yet.")
                               % {"source": source, "target": target})
        if burn_in and not burn_in_supported(target):
            raise _field_error("burn_in", "burn_in_unsupported",
                               _("We cannot burn %(target)s subtitles into the video yet.") % {"target": target})
        if dub and not get_synthesizer().supports(target):
            raise _field_error("languages", "language_pair_unsupported",
                               _("We cannot dub into %(target)s yet.") % {"target": target})
    if not has_subtitles and not get_transcriber().supports(source):
        raise _field_error("subtitles", "transcription_unsupported",
                           _("We cannot transcribe %(source)s speech yet; send the subtitles with the video.")
                           % {"source": source})
    return LocalizationRequest(source_language=source, languages=tuple(targets), dub=bool(dub),
                               burn_in=bool(burn_in), glossary=_glossary(glossary))


def _subtitles(upload: UploadedFile | None, *, duration: float) -> tuple[list[Cue] | None, bytes, str]:
    if upload is None:
        return None, b"", ""
    if upload.size > settings.LOCALIZATION_MAX_SUBTITLES_BYTES:
        raise _field_error("subtitles", "subtitles_invalid", _("The subtitles file is too large."))
    data = b"".join(upload.chunks())
    try:
        cues = parse_subtitles(data, filename=upload.name or "", duration=duration)
    except SubtitlesInvalid as exc:
        # The parser's reason is English and for the log; the person reads one of two texts.
        logger.info("localization.subtitles_refused", extra={"code": exc.code, "reason": str(exc)})
        if exc.code == "subtitles_out_of_range":
            message = _("A subtitle cue lies outside the video, which lasts %(seconds).1f seconds.") % {
                "seconds": duration}
        else:
            message = _("The subtitles cannot be read: send an SRT, WebVTT or ASS file with at least one cue.")
        raise _field_error("subtitles", exc.code, message) from exc
    return cues, data, upload.name or "source.srt"


def _fingerprint(request: LocalizationRequest, *, source: str, subtitles_sha: str) -> str:
    body = json.dumps({**request.options(), "source": source, "subtitles": subtitles_sha}, sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()


# --- creating the job ---------------------------------------------------------------------------


def _create(user: User, request: LocalizationRequest, *, price: LocalizationPrice, info: SourceVideo,
            source: GenerationJob | None, video: File | None, subtitles: tuple[bytes, str] | None,
            idempotency_key: str | None = None, fingerprint: str = "",
            retry_of: GenerationJob | None = None) -> GenerationJob:
    """In the caller's transaction: the job queued, a rendition per language, credits reserved."""
    cameo_ids = ([str(pk) for pk in source.cameos.order_by("pk").values_list("pk", flat=True)]
                 if source is not None else [])
    # Locked: a revocation racing this submit waits for it, then cancels the job (see cameos).
    cameos = cameos_for_submit(user_id=user.pk, cameo_ids=cameo_ids, lock=True)
    entitlements = user_entitlements(user_id=user.pk)
    snapshot = _admit(user, entitlements)
    job = GenerationJob(
        user=user, kind=JobKind.LOCALIZE, prompt="", duration_seconds=min(32767, math.ceil(info.duration)),
        width=info.width, height=info.height, fps=max(1, round(info.fps)), seed=0, source_job=source,
        retry_of=retry_of, backend=LOCALIZE_BACKEND, route=[LOCALIZE_BACKEND], plan_code=entitlements.plan_code,
        cost=price.total, priority=entitlements.queue_priority, watermark=False,
        options={**request.options(), "source_seconds": info.duration,
                 "price": {"transcription": price.transcription, "per_language": price.per_language}},
        idempotency_key=idempotency_key, request_fingerprint=fingerprint, enqueued_at=timezone.now(),
    )
    job.save()
    if cameos:
        job.cameos.set(cameos)
    if price.transcription:
        ledger.credits_reserve(user_id=user.pk, amount=price.transcription, reference=job.credit_reference)
    for language in request.languages:
        rendition = Rendition.objects.create(job=job, source_job=source, language=language,
                                             source_language=request.source_language,
                                             burned_in=request.burn_in, dubbed=request.dub)
        ledger.credits_reserve(user_id=user.pk, amount=price.per_language,
                               reference=rendition.credit_reference)
    # Stored last, once nothing can refuse any more (a rollback would not take the files back).
    if video is not None:
        job.source_video.save("source.mp4", video, save=False)
    if subtitles is not None:
        data, name = subtitles
        job.source_subtitles.save(name, ContentFile(data), save=False)
    job.save(update_fields=["source_video", "source_subtitles"])
    enqueue_on_commit(job)
    publish_on_commit(job, snapshot=snapshot)
    logger.info("localization.submitted", extra={"job_id": str(job.pk), "user_id": user.pk,
                                                 "languages": list(request.languages), "cost": job.cost})
    return job


def localization_submit(
    *,
    user: User,
    languages: list[Any],
    source_language: str = "en",
    source_generation_id: Any = None,
    video: UploadedFile | None = None,
    subtitles: UploadedFile | None = None,
    dub: bool = False,
    burn_in: bool = False,
    glossary: Any = None,
    idempotency_key: str | None = None,
    source_job: GenerationJob | None = None,
) -> tuple[GenerationJob, bool]:
    """Check everything, then create the job queued with credits reserved, enqueued after commit.

    The source is the caller's own succeeded generation (`source_generation_id`; another user's
    video, even a public post's, is not theirs to localise), a generation an app above has checked
    (`source_job`: feed's auto-localise of the author's own post), or an uploaded H.264 `video`.
    Every refusal happens before anything is stored or charged. Returns (job, created); an
    Idempotency-Key replays the first job, or is a 409 for another request.
    """
    if (source_job is None and not source_generation_id) == (video is None):
        raise _field_error("video", "source_required",
                           _("Send either a video or the source_generation_id of one of your videos."))
    if source_job is None and source_generation_id:
        source_job = _source_of_generation(user, str(source_generation_id))
    with tempfile.TemporaryDirectory(prefix="localize-submit-") as tmp:
        if video is not None:
            if video.size > settings.LOCALIZATION_MAX_UPLOAD_MB * 1024 * 1024:
                raise _video_error("video_too_large", _("The video must be at most %(mb)d MB.")
                                   % {"mb": settings.LOCALIZATION_MAX_UPLOAD_MB})
            info = check_source_video(_upload_to_temp(video, Path(tmp)))
            source_key = f"upload:{info.sha256}"
        else:
            info = SourceVideo(duration=source_job.result_duration or float(source_job.duration_seconds),
                               width=source_job.result_width or source_job.width,
                               height=source_job.result_height or source_job.height,
                               fps=source_job.result_fps or float(source_job.fps), sha256=source_job.result_sha256)
            source_key = f"generation:{source_job.pk}"
    request = localization_request(source_language=source_language, languages=languages, dub=dub,
                                   burn_in=burn_in, glossary=glossary, has_subtitles=subtitles is not None)
    cues, subtitles_data, subtitles_name = _subtitles(subtitles, duration=info.duration)
    fingerprint = ""
    if idempotency_key:
        fingerprint = _fingerprint(request, source=source_key,
                                   subtitles_sha=hashlib.sha256(subtitles_data).hexdigest() if cues else "")

    if idempotency_key and (found := _replay(user, idempotency_key, fingerprint)):
        return found
    if source_job is not None:  # the cameos the source carries, checked before anything is locked
        cameos_for_submit(user_id=user.pk, cameo_ids=[str(pk) for pk in source_job.cameos.values_list("pk", flat=True)],
                          lock=False)
    price = localization_price(seconds=info.duration, languages=len(request.languages), dub=request.dub,
                               burn_in=request.burn_in, transcribe=cues is None)
    try:
        with transaction.atomic():
            return _create(user, request, price=price, info=info, source=source_job, video=video,
                           subtitles=(subtitles_data, subtitles_name) if cues is not None else None,
                           idempotency_key=idempotency_key, fingerprint=fingerprint), True
    except IntegrityError:
        if idempotency_key and (found := _replay(user, idempotency_key, fingerprint)):
            return found
        raise


# --- retry ------------------------------------------------------------------------------------


def localization_retry(*, user: User, old: GenerationJob) -> GenerationJob:
    """A new localize job for the languages of `old` that did not succeed, linked to it: failed
    and canceled jobs, and succeeded ones with failed languages. The succeeded languages are not
    done or charged again; the transcript `old` made is reused (no transcription charged)."""
    missing = list(old.renditions.exclude(status=RenditionStatus.SUCCEEDED).order_by("created_at", "language")
                   .values_list("language", flat=True))
    if old.status not in (JobStatus.FAILED, JobStatus.CANCELED, JobStatus.SUCCEEDED) or not missing:
        raise Conflict(_("Only a localisation with failed languages can be retried."), code="job_not_retryable")
    if old.retries.exclude(status__in=(JobStatus.FAILED, JobStatus.CANCELED)).exists():
        raise Conflict(_("This localisation is being retried already."), code="job_not_retryable")
    source = old.source_job
    if old.source_job_id is None and not old.source_video:
        raise Conflict(_("The source video of this localisation is gone."), code="job_not_retryable")
    if source is not None and (source.status != JobStatus.SUCCEEDED or not source.video):
        raise Conflict(_("The source video of this localisation is gone."), code="job_not_retryable")
    options = old.options
    request = localization_request(source_language=options["source_language"], languages=missing,
                                   dub=options.get("dub", False), burn_in=options.get("burn_in", False),
                                   glossary=options.get("glossary") or {}, has_subtitles=bool(old.source_subtitles))
    seconds = float(options.get("source_seconds") or old.duration_seconds)
    info = SourceVideo(duration=seconds, width=old.width, height=old.height, fps=float(old.fps), sha256="")
    price = localization_price(seconds=seconds, languages=len(request.languages), dub=request.dub,
                               burn_in=request.burn_in, transcribe=not old.source_subtitles)
    if source is not None:
        cameos_for_submit(user_id=user.pk, cameo_ids=[str(pk) for pk in source.cameos.values_list("pk", flat=True)],
                          lock=False)
    subtitles = None
    if old.source_subtitles:
        with default_storage.open(old.source_subtitles.name, "rb") as fh:
            subtitles = (fh.read(), Path(old.source_subtitles.name).name)
    with transaction.atomic():
        if old.source_video:
            with default_storage.open(old.source_video.name, "rb") as fh:
                return _create(user, request, price=price, info=info, source=source, video=File(fh),
                               subtitles=subtitles, retry_of=old)
        return _create(user, request, price=price, info=info, source=source, video=None, subtitles=subtitles,
                       retry_of=old)
