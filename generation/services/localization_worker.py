"""The worker's side of a localize job (claimed like a render, see worker.job_claim): transcribe
once when no subtitles came with the video, then each pending language on its own: translate,
dub, mux, sign, store, settle its credits. A language that fails does not stop the others; the
job succeeds when at least one language did (its failed ones are released and can be retried).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

import av
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from billing import services as ledger

from ..backends import JobCanceled
from ..localization.base import LanguageRequest, StageFailed, SubtitlesInvalid
from ..localization.pipeline import get_synthesizer, get_transcriber, localize_language, transcribe_video
from ..localization.subtitles import parse_subtitles, write_vtt
from ..models import GenerationJob, JobStatus, Rendition, RenditionStatus
from ..provenance.signing import ProvenanceError
from .signing import rendition_output_sign, rendition_provenance_claim
from .state import CANCELED_BY_USER, delete_files, locked, publish_on_commit
from .worker import LeaseLost, _finish_if_owner, _ProgressReporter, job_fail

logger = logging.getLogger(__name__)

LOCALIZATION_FAILED = gettext_noop("No language could be localised; your credits are back.")


def _owned(job_id: Any, owner: str) -> GenerationJob:
    """The job, locked; LeaseLost when it is no longer this worker's."""
    job = locked(job_id)
    if job is None or job.status != JobStatus.RUNNING or job.lease_owner != owner:
        raise LeaseLost(str(job_id))
    return job


def _rendition_finish(*, job_id: Any, owner: str, rendition: Rendition, stage: str, video: str = "",
                      subtitles: str = "", cues: int | None = None, error: StageFailed | Exception | None = None) -> None:
    """One language's outcome and its credits, under the job's lock, exactly once."""
    with transaction.atomic():
        job = _owned(job_id, owner)
        row = Rendition.objects.select_for_update().get(pk=rendition.pk)
        if row.status != RenditionStatus.PENDING:
            return
        row.stage, row.finished_at = stage, timezone.now()
        if error is None:
            row.status, row.video, row.subtitles, row.cues = RenditionStatus.SUCCEEDED, video, subtitles, cues
            ledger.credits_capture(user_id=job.user_id, reference=row.credit_reference)
        else:
            row.status = RenditionStatus.FAILED
            row.error_code = getattr(error, "code", "localization_stage_failed")[:60]
            row.error_message = str(error)[:500]
            ledger.credits_release(user_id=job.user_id, reference=row.credit_reference)
        row.save()
        # The job's state (with its renditions) changed: the owner hears of it.
        job.seq += 1
        job.save(update_fields=["seq", "updated_at"])
        publish_on_commit(job)
    logger.info("localization.rendition_finished", extra={"job_id": str(job_id), "language": row.language,
                                                          "status": row.status, "error_code": row.error_code})


class _Steps:
    """Job progress over its steps (the transcription, then each language), each 0..1 in stages."""

    def __init__(self, reporter: _ProgressReporter, steps: int) -> None:
        self.reporter, self.steps, self.done = reporter, max(1, steps), 0
        self.stage = ""

    def step(self, stage: str, fraction: float) -> None:
        self.stage = stage
        self.reporter((self.done + max(0.0, min(1.0, fraction))) / self.steps * 0.99)

    def next(self) -> None:
        self.done += 1
        self.stage = ""


def _source_path(job: GenerationJob, workdir: Path) -> Path:
    name = job.source_video.name if job.source_video else job.source_job.video.name
    path = workdir / "source.mp4"
    with default_storage.open(name, "rb") as src, open(path, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return path


def _cues(job: GenerationJob, source: Path, workdir: Path, steps: _Steps, owner: str):
    """The source's cues: its subtitles, or a transcript made now and kept as the job's
    subtitles (a rerun or a retry does not transcribe, or charge for it, again)."""
    seconds = float(job.options.get("source_seconds") or job.duration_seconds)
    if job.source_subtitles:
        with default_storage.open(job.source_subtitles.name, "rb") as fh:
            return parse_subtitles(fh.read(), filename=job.source_subtitles.name, duration=seconds)
    steps.step("transcribe", 0.0)
    cues = transcribe_video(source, language=job.options["source_language"])
    vtt = write_vtt(cues, workdir / "transcript.vtt")
    with transaction.atomic():
        owned = _owned(job.pk, owner)
        owned.source_subtitles.save("transcript.vtt", ContentFile(vtt.read_bytes()), save=False)
        owned.save(update_fields=["source_subtitles", "updated_at"])
    steps.step("transcribe", 1.0)
    return cues


def _generator() -> str:
    return f"localize:{get_transcriber().name}+{get_synthesizer().name}"


def _one_language(job: GenerationJob, rendition: Rendition, *, source: Path, cues, workdir: Path,
                  steps: _Steps, owner: str) -> None:
    options = job.options
    request = LanguageRequest(source_language=rendition.source_language, target_language=rendition.language,
                              burn_in=rendition.burned_in, dub=rendition.dubbed,
                              glossary=dict(options.get("glossary") or {}))
    out_dir = workdir / rendition.language
    out_dir.mkdir()
    try:
        result = localize_language(source_video=source, cues=cues, request=request, out_dir=out_dir,
                                   progress=steps.step)
        claim = rendition_provenance_claim(job, language=rendition.language,
                                           source_language=rendition.source_language, dubbed=rendition.dubbed,
                                           burned_in=rendition.burned_in, source_path=source,
                                           generator=_generator())
        video_path = rendition_output_sign(job, result.video, claim=claim)
    except (StageFailed, ProvenanceError, av.FFmpegError) as exc:
        logger.warning("localization.language_failed", extra={"job_id": str(job.pk), "language": rendition.language,
                                                               "stage": steps.stage, "error": str(exc)[:300]})
        _rendition_finish(job_id=job.pk, owner=owner, rendition=rendition, stage=steps.stage, error=exc)
        return
    base = f"generation/{job.user_id}/{job.pk}/{rendition.language}"
    with open(video_path, "rb") as fh:
        video_name = default_storage.save(f"{base}/video.mp4", File(fh))
    with open(result.vtt, "rb") as fh:
        vtt_name = default_storage.save(f"{base}/subtitles.vtt", File(fh))
    try:
        _rendition_finish(job_id=job.pk, owner=owner, rendition=rendition, stage="mux", video=video_name,
                          subtitles=vtt_name, cues=len(result.cues))
    except LeaseLost:
        delete_files([video_name, vtt_name])  # canceled or taken over meanwhile: our copy is nobody's
        raise


def job_localize(*, job_id: Any, owner: str) -> str:
    """Run a localize job this worker has started. Returns the final status."""
    job = GenerationJob.objects.select_related("user", "source_job").get(pk=job_id)
    pending = list(job.renditions.filter(status=RenditionStatus.PENDING).order_by("created_at", "language"))
    steps = _Steps(_ProgressReporter(job.pk, owner), len(pending) + (0 if job.source_subtitles else 1))
    with tempfile.TemporaryDirectory(prefix=f"loc-{job.pk}-") as tmp:
        workdir = Path(tmp)
        try:
            source = _source_path(job, workdir)
            try:
                cues = _cues(job, source, workdir, steps, owner)
            except (StageFailed, SubtitlesInvalid) as exc:
                job_fail(job_id=job_id, owner=owner, code=exc.code, message=str(exc))
                return JobStatus.FAILED
            if not job.source_subtitles:
                steps.next()
            job.refresh_from_db(fields=["source_subtitles"])
            for rendition in pending:
                _one_language(job, rendition, source=source, cues=cues, workdir=workdir, steps=steps, owner=owner)
                steps.next()
        except JobCanceled:
            _finish_if_owner(job_id, owner, JobStatus.CANCELED, **CANCELED_BY_USER)
            return JobStatus.CANCELED
        except LeaseLost:
            logger.info("generation.lease_lost", extra={"job_id": str(job_id), "owner": owner})
            return "lease_lost"
    if job.renditions.filter(status=RenditionStatus.SUCCEEDED).exists():
        done = _finish_if_owner(job_id, owner, JobStatus.SUCCEEDED, progress=100)
        return JobStatus.SUCCEEDED if done else "lease_lost"
    job_fail(job_id=job_id, owner=owner, code="localization_failed", message=LOCALIZATION_FAILED)
    return JobStatus.FAILED
