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

# After a render, the queue's ETAs are looked at again, by one worker at most this often (seconds).
ETA_REFRESH_INTERVAL = 2.0

def retry_after_countdown(retry_after: float | None) -> int:
    if not retry_after:
        return 0
    return min(settings.GENERATION_RETRY_AFTER_MAX, math.ceil(retry_after))


@shared_task(bind=True, name=services.RENDER_TASK, queue=services.RENDER_QUEUE, acks_late=True,
             reject_on_worker_lost=True, max_retries=None)
def render_generation(self, job_id: str) -> str:
    """A hint that work is queued. The worker claims the fairest job (which may be another than
    `job_id`), renders it, then wakes a worker for the next one and refreshes the queue's ETAs.
    Nothing is ever re-queued for later here: a user at their running limit is passed over,
    and the render that frees their slot sends the wake-up."""
    owner = f"{self.request.hostname or 'worker'}:{os.getpid()}:{self.request.id}"
    claim = services.job_claim(owner=owner, hint_job_id=job_id)
    if claim.outcome != services.StartOutcome.STARTED:
        logger.info("generation.task_idle", extra={"hint_job_id": job_id})
        return claim.outcome.value
    claimed = str(claim.job_id)
    try:
        return services.job_render(job_id=claimed, owner=owner)
    except TransientBackendError as exc:
        errors = services.job_transient_error(job_id=claimed, owner=owner, code=exc.code, message=str(exc))
        if errors is None:
            return "failed"
        # Never sooner than the provider's Retry-After: an earlier try only spends a retry.
        countdown = max(services.transient_backoff(errors), retry_after_countdown(exc.retry_after))
        logger.warning("generation.transient_error", extra={"job_id": claimed, "code": exc.code,
                                                            "retry_in": countdown})
        # The job waits out its backoff in the database (not_before); this delayed message only
        # makes sure some worker looks again then.
        raise self.retry(args=[claimed], countdown=countdown, max_retries=None)
    except SoftTimeLimitExceeded:
        services.job_fail(job_id=claimed, owner=owner, code="render_timeout",
                          message=gettext_noop("The render took too long; your credits are back."))
        return "failed"
    finally:
        services.wake_for_next()
        services.etas_refresh(min_interval=ETA_REFRESH_INTERVAL)


@shared_task(name="generation.tasks.sweep_generations")
def sweep_generations() -> dict[str, int]:
    return services.jobs_sweep()
