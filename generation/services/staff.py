"""What staff do to a job from the admin."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from config.errors import Conflict

from ..models import GenerationJob, JobStatus
from .state import locked, transition

logger = logging.getLogger(__name__)


@transaction.atomic
def job_fail_by_staff(*, job_id: Any, staff_id: int, reason: str = "") -> GenerationJob:
    job = locked(job_id)
    if job is None or job.is_terminal:
        raise Conflict(_("Only a queued or running generation can be failed."), code="job_not_active")
    logger.info("generation.failed_by_staff", extra={"job_id": str(job_id), "staff_id": staff_id})
    return transition(job, JobStatus.FAILED, error_code="failed_by_staff",
                      error_message=(reason or "Stopped by our team; your credits are back.")[:500])
