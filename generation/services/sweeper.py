"""The periodic sweeper: rescues jobs of dead workers and jobs whose task message was lost."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from .. import selectors
from ..models import JobStatus
from .scheduler import etas_refresh, workers_prune
from .state import enqueue_on_commit, locked, requeue_or_fail

logger = logging.getLogger(__name__)


def jobs_sweep() -> dict[str, int]:
    """Periodic: rescue jobs of dead workers and jobs whose task message was lost."""
    counts = {"requeued": 0, "failed": 0, "canceled": 0, "reenqueued": 0}
    for job_id in list(selectors.stale_running_jobs().values_list("pk", flat=True)[:200]):
        with transaction.atomic():
            job = locked(job_id)
            if job is None or job.status != JobStatus.RUNNING or not selectors.heartbeat_is_stale(job):
                continue  # it moved on while we looked
            job = requeue_or_fail(job, reason="worker_lost")
            counts[{"queued": "requeued", "failed": "failed", "canceled": "canceled"}[job.status]] += 1
    for job_id in list(selectors.queued_jobs_needing_message().values_list("pk", flat=True)[:500]):
        with transaction.atomic():
            job = locked(job_id)
            if job is None or job.status != JobStatus.QUEUED:
                continue
            job.enqueued_at = timezone.now()
            job.save(update_fields=["enqueued_at", "updated_at"])
            enqueue_on_commit(job)
            counts["reenqueued"] += 1
    # Renders that run long move no ETA by finishing: look at the queue's ETAs here too.
    counts["etas_sent"] = etas_refresh()
    workers_prune()
    if any(counts.values()):
        logger.info("generation.sweep", extra=counts)
    return counts
