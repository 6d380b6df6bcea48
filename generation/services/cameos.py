"""Cameo consent on generation's side: which cameos a job carries, the check at submit and at
render start, the reference media a backend gets, and the cancel when consent goes away."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from django.core.files.storage import default_storage
from django.db.models import Q

from accounts.cameos.consent import cameos_check, consent_problem
from accounts.cameos.models import Cameo
from accounts.notifications import notify

from ..models import GenerationJob, JobStatus
from .state import transition

logger = logging.getLogger(__name__)

CAMEO_REVOKED = {"error_code": "cameo_consent_revoked",
                 "error_message": "A cameo in this video is no longer yours to use; your credits are back."}


def job_cameo_ids(*, cameo_ids: list[Any] | None, source: GenerationJob | None) -> list[str]:
    """A remix keeps its source's cameos unless the request names the cameos itself (an empty
    list: re-rendered without them)."""
    if cameo_ids is not None:
        return [str(c) for c in cameo_ids]
    if source is not None:
        return [str(pk) for pk in source.cameos.order_by("pk").values_list("pk", flat=True)]
    return []


def cameos_for_submit(*, user_id: int, cameo_ids: list[str], lock: bool) -> list[Cameo]:
    return cameos_check(user_id=user_id, cameo_ids=cameo_ids, lock=lock)


def job_consent_lacking(job: GenerationJob) -> str | None:
    """The refusal code when the job's owner may no longer use one of its cameos, else None."""
    for cameo in job.cameos.all():
        if (code := consent_problem(cameo=cameo, user_id=job.user_id)) is not None:
            return code
    return None


def job_cancel_if_consent_lacking(job: GenerationJob) -> bool:
    """At render start, on a locked job: True (and the job canceled, credits released) when a
    cameo in it is no longer the user's to use."""
    code = job_consent_lacking(job)
    if code is None:
        return False
    transition(job, JobStatus.CANCELED, **CAMEO_REVOKED)
    logger.info("generation.cameo_consent_lacking", extra={"job_id": str(job.pk), "code": code})
    return True


def jobs_without_consent_cancel(*, cameo: Cameo, reason: str) -> int:
    """Hooked to accounts.cameos: after a cameo's consent narrowed (cameo row locked by the
    caller), every queued or running job using it whose owner lacks consent now is canceled."""
    if reason in ("level_raised", "grant_approved", "followed", "unblocked"):  # consent only widened
        return 0
    canceled = 0
    jobs = GenerationJob.objects.select_for_update().filter(
        Q(status=JobStatus.QUEUED) | Q(status=JobStatus.RUNNING), cameos=cameo).order_by("pk")
    for job in jobs:
        if consent_problem(cameo=cameo, user_id=job.user_id) is None:
            continue
        transition(job, JobStatus.CANCELED, **CAMEO_REVOKED)
        notify(user_id=job.user_id, type="cameo.job_canceled", target=f"job:{job.pk}",
               data={"job_id": str(job.pk), "cameo_id": str(cameo.pk)})
        canceled += 1
    if canceled:
        logger.info("generation.cameo_jobs_canceled", extra={"cameo_id": str(cameo.pk), "count": canceled,
                                                             "reason": reason})
    return canceled


def cameo_spec_fields(job: GenerationJob, workdir: Path) -> dict[str, Any]:
    """What a backend gets of the job's cameos: local copies of the reference frames, the names
    and the owners' restrictions."""
    images, names, restrictions = [], [], []
    for i, cameo in enumerate(job.cameos.order_by("pk")):
        if cameo.reference_image:
            path = workdir / f"cameo-{i}.jpg"
            with default_storage.open(cameo.reference_image.name, "rb") as src, open(path, "wb") as dst:
                dst.write(src.read())
            images.append(path)
        names.append(cameo.name)
        restrictions.append(cameo.restrictions)
    return {"cameo_image_paths": tuple(images), "cameo_names": tuple(names),
            "cameo_restrictions": tuple(restrictions)}
