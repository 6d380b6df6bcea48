"""What the scheduler writes: workers' heartbeats, measured render times, wake-ups after a
render, and ETA updates to the owners of queued jobs."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from config.tasks import task_send_now

from ..models import GenerationJob, GpuWorker, JobStatus, RenderTimeStat
from ..scheduling import claimable_jobs, queued_etas
from .state import RENDER_QUEUE, RENDER_TASK, publish_on_commit

logger = logging.getLogger(__name__)

# Weight of the newest render in the moving average: the last ~10 renders of a shape count.
RENDER_TIME_ALPHA = 0.2
# An ETA is sent again when the expected start moved by more than the threshold or this
# fraction of the time still to wait, whichever is more (a long queue is not an event storm).
ETA_UPDATE_FRACTION = 0.2


def worker_name(owner: str) -> str:
    """hostname:pid of the process, from a lease owner `hostname:pid:task-id`."""
    return owner.rsplit(":", 1)[0] if owner.count(":") >= 2 else owner


def worker_seen(*, owner: str) -> None:
    name, now = worker_name(owner), timezone.now()
    if not GpuWorker.objects.filter(name=name).update(seen_at=now):
        try:
            with transaction.atomic():
                GpuWorker.objects.create(name=name, seen_at=now, started_at=now)
        except IntegrityError:
            GpuWorker.objects.filter(name=name).update(seen_at=now)


def workers_prune(*, older_than: timedelta = timedelta(days=1)) -> int:
    return GpuWorker.objects.filter(seen_at__lt=timezone.now() - older_than).delete()[0]


def render_time_record(*, job_id: Any) -> None:
    """Fold a succeeded job's render time into its shape's moving average."""
    job = GenerationJob.objects.filter(pk=job_id, status=JobStatus.SUCCEEDED).first()
    if job is None or job.started_at is None or job.finished_at is None:
        return
    seconds = max(0.0, (job.finished_at - job.started_at).total_seconds())
    key = dict(backend=job.backend, width=job.width, height=job.height, duration_seconds=job.duration_seconds)
    with transaction.atomic():
        stat = RenderTimeStat.objects.select_for_update().filter(**key).first()
        if stat is None:
            try:
                with transaction.atomic():
                    RenderTimeStat.objects.create(**key, average_seconds=seconds, samples=1)
                return
            except IntegrityError:  # another worker made it first
                stat = RenderTimeStat.objects.select_for_update().get(**key)
        stat.average_seconds += RENDER_TIME_ALPHA * (seconds - stat.average_seconds)
        stat.samples += 1
        stat.save(update_fields=["average_seconds", "samples", "updated_at"])


def wake_for_next() -> bool:
    """After a render: if a job may be claimed, send one more hint, so a job whose message was
    taken while its user was at their limit is not left without one. Returns whether it sent."""
    job_id = claimable_jobs().order_by("-priority", "created_at").values_list("pk", flat=True).first()
    if job_id is None:
        return False
    task_send_now(RENDER_TASK, str(job_id), queue=RENDER_QUEUE)
    return True


def _moved(old, new, now) -> bool:
    if old is None:
        return True
    waiting = max(0.0, (new - now).total_seconds())
    return abs((new - old).total_seconds()) > max(settings.GENERATION_ETA_UPDATE_SECONDS,
                                                   ETA_UPDATE_FRACTION * waiting)


def etas_refresh(*, min_interval: float = 0) -> int:
    """Send `generation.updated` to the owners of queued jobs whose expected start moved by more
    than the threshold since they were last told. Returns how many were sent. With
    `min_interval`, runs at most that often across all workers (the cache holds the turn)."""
    if min_interval and not cache.add("generation:etas_refresh", 1, timeout=min_interval):
        return 0
    snapshot, etas = queued_etas()
    now = snapshot.now
    sent = 0
    for job, seconds in etas:
        new = now + timedelta(seconds=seconds)
        if not _moved(job.eta_at, new, now):
            continue
        with transaction.atomic():
            fresh = (GenerationJob.objects.select_for_update(skip_locked=True)
                     .filter(pk=job.pk, status=JobStatus.QUEUED).first())
            if fresh is None or not _moved(fresh.eta_at, new, now):
                continue  # started, or another worker sent it a moment ago
            fresh.eta_at = new
            fresh.seq += 1
            fresh.save(update_fields=["eta_at", "seq", "updated_at"])
            publish_on_commit(fresh, snapshot=snapshot)
            sent += 1
    if sent:
        logger.info("generation.etas_sent", extra={"count": sent, "queued": len(etas)})
    return sent
