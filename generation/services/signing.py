"""The worker's provenance step: a job's render signed with what made it, before it is stored."""

from __future__ import annotations

import logging
from pathlib import Path

from django.conf import settings

from ..models import GenerationJob
from ..provenance import Ingredient, ProvenanceClaim, provenance_sign

logger = logging.getLogger(__name__)


def _model_of(job: GenerationJob) -> str:
    if job.provider_model:
        return job.provider_model
    if job.backend == "diffusers":
        # The diffusers "model" is a local folder: its pipeline class names the family and profile.
        return settings.GENERATION_MODEL_CLASS or Path(str(settings.GENERATION_MODEL_DIR)).name
    return ""


def job_provenance_claim(job: GenerationJob, *, source_path: Path | None) -> ProvenanceClaim:
    cameos = list(job.cameos.select_related("owner").order_by("pk"))
    ingredients = ()
    if source_path is not None and source_path.exists():
        # A remix is derived from its parent's stored MP4 (itself signed): c2pa keeps the
        # parent's manifest inside ours, so the lineage can be read from the file alone.
        ingredients = (Ingredient(path=source_path, title=f"job {job.source_job_id}"),)
    return ProvenanceClaim(
        title=job.prompt[:200], generator=job.backend, model=_model_of(job), creator_handle=job.user.handle,
        cameo_handles=tuple(c.owner.handle for c in cameos), cameo_ids=tuple(str(c.pk) for c in cameos),
        job_id=str(job.pk), ingredients=ingredients,
    )


def job_output_sign(job: GenerationJob, video: Path, *, source_path: Path | None) -> Path:
    """The path of the video to store: `video` signed, or `video` itself when signing is off."""
    signed = video.with_name("signed-" + video.name)
    if provenance_sign(video, signed, claim=job_provenance_claim(job, source_path=source_path)):
        return signed
    logger.info("provenance.not_configured", extra={"job_id": str(job.pk)})
    return video


def rendition_provenance_claim(job: GenerationJob, *, language: str, source_language: str, dubbed: bool,
                               burned_in: bool, source_path: Path, generator: str) -> ProvenanceClaim:
    """A rendition is derived from its source video (a parentOf ingredient, whose own manifest c2pa
    keeps): translated (c2pa requires sourceLanguage and targetLanguage), dubbed when its speech
    was synthesised. It carries the source's cameos, like the job."""
    cameos = list(job.cameos.select_related("owner").order_by("pk"))
    languages = {"sourceLanguage": source_language, "targetLanguage": language}
    actions: list[dict] = [{"action": "c2pa.translated", "parameters": {**languages, "burnedIn": burned_in}}]
    if dubbed:
        actions.append({"action": "c2pa.dubbed", "parameters": dict(languages)})
    source_title = f"job {job.source_job_id}" if job.source_job_id else "uploaded video"
    return ProvenanceClaim(
        title=f"{language} rendition of {source_title}", generator=generator, creator_handle=job.user.handle,
        cameo_handles=tuple(c.owner.handle for c in cameos), cameo_ids=tuple(str(c.pk) for c in cameos),
        job_id=str(job.pk), actions=tuple(actions),
        ingredients=(Ingredient(path=source_path, title=source_title),),
    )


def rendition_output_sign(job: GenerationJob, video: Path, *, claim: ProvenanceClaim) -> Path:
    """The path of a rendition's video to store: signed, or `video` itself when signing is off."""
    signed = video.with_name("signed-" + video.name)
    if provenance_sign(video, signed, claim=claim):
        return signed
    logger.info("provenance.not_configured", extra={"job_id": str(job.pk)})
    return video
