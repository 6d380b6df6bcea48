"""Celery tasks of generation. They take ids, are idempotent, and only call services."""

from __future__ import annotations

import logging
import math
import os

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.utils.translation import gettext_noop

from . import services
from .backends import TransientBackendError

logger = logging.getLogger(__name__)

# While the user is at their concurrent-job limit, look again after this long.
DEFERRAL_COUNTDOWN = 5


def transient_backoff(errors: int) -> int:
    """Seconds before the next try after the job's `errors`-th transient error: 5, 10, 20 ... 300."""
    return min(300, 5 * 2 ** (errors - 1))


def retry_after_countdown(retry_after: float | None) -> int:
    if not retry_after:
        return 0
    return min(settings.GENERATION_RETRY_AFTER_MAX, math.ceil(retry_after))


@shared_task(bind=True, name=services.RENDER_TASK, queue=services.RENDER_QUEUE, acks_late=True,
             reject_on_worker_lost=True, max_retries=None)
def render_generation(self, job_id: str) -> str:
    owner = f"{self.request.hostname or 'worker'}:{os.getpid()}:{self.request.id}"
    outcome = services.job_start(job_id=job_id, owner=owner)
    if outcome == services.StartOutcome.DEFERRED:
        # Not a failure: other users' jobs go first; this one waits its turn.
        raise self.retry(countdown=DEFERRAL_COUNTDOWN, max_retries=None)
    if outcome != services.StartOutcome.STARTED:
        logger.info("generation.task_skipped", extra={"job_id": job_id, "outcome": outcome.value})
        return outcome.value
    try:
        return services.job_render(job_id=job_id, owner=owner)
    except TransientBackendError as exc:
        errors = services.job_transient_error(job_id=job_id, owner=owner, code=exc.code, message=str(exc))
        if errors is None:
            return "failed"
        # Never sooner than the provider's Retry-After: an earlier try only spends a retry.
        countdown = max(transient_backoff(errors), retry_after_countdown(exc.retry_after))
        logger.warning("generation.transient_error", extra={"job_id": job_id, "code": exc.code,
                                                            "retry_in": countdown})
        raise self.retry(countdown=countdown, max_retries=None)
    except SoftTimeLimitExceeded:
        services.job_fail(job_id=job_id, owner=owner, code="render_timeout",
                          message=gettext_noop("The render took too long; your credits are back."))
        return "failed"


@shared_task(name="generation.tasks.sweep_generations")
def sweep_generations() -> dict[str, int]:
    return services.jobs_sweep()
