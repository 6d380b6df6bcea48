"""Reads of the scheduler: the fair-share order, measured render times, alive workers, ETAs and
the backlog. PostgreSQL holds the queue; nothing here asks the broker.

Fair share: among users with a claimable queued job, the one with the least GPU time used in
the last GENERATION_FAIR_SHARE_WINDOW seconds, divided by their plan's weight, goes first
(ties: higher priority, then the oldest queued job). The weight comes from the job's
`priority`, which is the plan's `queue_priority` (billing entitlements) when the job was
submitted: `1 + priority`, so a priority-5 subscriber may use 6x a free user's GPU time
before a free user goes ahead of them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Iterable

from django.conf import settings
from django.db.models import Count, DateTimeField, DurationField, ExpressionWrapper, Max, Min, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from .models import GenerationJob, GpuWorker, JobStatus, RenderTimeStat

# Before any render of a shape was measured: the backend's mean, else this.
DEFAULT_RENDER_SECONDS = 30.0


def fair_share_weight(priority: int) -> int:
    return 1 + max(0, priority)


def claimable_jobs(*, now: datetime | None = None) -> QuerySet[GenerationJob]:
    now = now or timezone.now()
    return GenerationJob.objects.filter(status=JobStatus.QUEUED, cancel_requested=False).filter(
        Q(not_before__isnull=True) | Q(not_before__lte=now))


def gpu_seconds_used(*, user_ids: Iterable[int], now: datetime | None = None) -> dict[int, float]:
    """Each user's GPU time within the fair-share window, running renders included up to now."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.GENERATION_FAIR_SHARE_WINDOW)
    used = ExpressionWrapper(
        Coalesce("finished_at", Value(now, output_field=DateTimeField()))
        - Greatest("started_at", Value(cutoff, output_field=DateTimeField())),
        output_field=DurationField())
    rows = (GenerationJob.objects.filter(user_id__in=list(user_ids), started_at__isnull=False)
            .filter(Q(finished_at__isnull=True) | Q(finished_at__gt=cutoff))
            .order_by().values("user_id").annotate(used=Sum(used)))
    return {r["user_id"]: max(0.0, r["used"].total_seconds()) if r["used"] is not None else 0.0 for r in rows}


@dataclass(frozen=True)
class Candidate:
    user_id: int
    share: float  # weighted recent GPU seconds
    priority: int
    oldest: datetime

    @property
    def key(self) -> tuple:
        return (self.share, -self.priority, self.oldest)


def fair_share_candidates(*, now: datetime | None = None, exclude: Iterable[int] = ()) -> list[Candidate]:
    """Users with a claimable job, fairest first."""
    now = now or timezone.now()
    rows = list(claimable_jobs(now=now).exclude(user_id__in=list(exclude)).order_by().values("user_id")
                .annotate(priority=Max("priority"), oldest=Min("created_at")))
    used = gpu_seconds_used(user_ids=[r["user_id"] for r in rows], now=now)
    candidates = [Candidate(user_id=r["user_id"], priority=r["priority"], oldest=r["oldest"],
                            share=used.get(r["user_id"], 0.0) / fair_share_weight(r["priority"])) for r in rows]
    return sorted(candidates, key=lambda c: c.key)


# --- measured render times and alive workers ------------------------------------------------


@dataclass
class RenderTimes:
    """Moving averages per (backend, width, height, duration), with fallbacks for unseen shapes."""

    by_shape: dict[tuple, float] = field(default_factory=dict)

    @classmethod
    def load(cls) -> "RenderTimes":
        rows = RenderTimeStat.objects.values_list("backend", "width", "height", "duration_seconds",
                                                  "average_seconds")
        return cls({tuple(r[:4]): r[4] for r in rows})

    def expected(self, backend: str, width: int, height: int, duration: int) -> float:
        if (found := self.by_shape.get((backend, width, height, duration))) is not None:
            return found
        # An unseen shape: scale the backend's measured shapes by pixel-seconds.
        rates = [avg / (w * h * d) for (b, w, h, d), avg in self.by_shape.items() if b == backend and w * h * d]
        if rates:
            return sum(rates) / len(rates) * width * height * duration
        return DEFAULT_RENDER_SECONDS


def expected_render_seconds(job: GenerationJob) -> float:
    return RenderTimes.load().expected(job.backend, job.width, job.height, job.duration_seconds)


def alive_workers(*, now: datetime | None = None) -> int:
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.GENERATION_HEARTBEAT_TIMEOUT)
    return GpuWorker.objects.filter(seen_at__gte=cutoff).count()


# --- ETA and backlog --------------------------------------------------------------------------


@dataclass
class _UserQueue:
    jobs: int = 0
    seconds: float = 0.0
    priority: int = 0
    oldest: datetime | None = None
    share: float = 0.0

    @property
    def mean(self) -> float:
        return self.seconds / self.jobs if self.jobs else 0.0


@dataclass
class QueueSnapshot:
    """What the queue looks like now, summarised per user: enough to estimate any queued job's start."""

    now: datetime
    workers: int  # alive, at least 1
    running: int
    running_left: float  # seconds of render left on running jobs, by the averages
    users: dict[int, _UserQueue]
    times: RenderTimes

    @property
    def queued_seconds(self) -> float:
        return sum(u.seconds for u in self.users.values())

    def backlog_seconds(self) -> float:
        """GPU time queued and still running, per alive worker: how long a new job would wait."""
        return (self.running_left + self.queued_seconds) / self.workers

    def start_in(self, job: GenerationJob, *, rank: int) -> tuple[float, float]:
        """(seconds until the job is expected to start, jobs expected to start before it), for the
        user's `rank`-th queued job (1 = their next).

        Fair share serves users in rounds: before my k-th job, a user ahead of me in the order
        gets about k jobs (times their weight over mine), a user behind me k - 1; my own k - 1
        come first. The work ahead, with what is left of the running renders, is shared by the
        alive workers.
        """
        me = self.users.get(job.user_id) or _UserQueue(priority=job.priority, oldest=job.created_at)
        my_key = (me.share, -job.priority, job.created_at)
        my_weight = fair_share_weight(job.priority)
        ahead_jobs = float(rank - 1)
        ahead = (rank - 1) * me.mean if me.jobs else 0.0
        for user_id, other in self.users.items():
            if user_id == job.user_id:
                continue
            turns = rank if (other.share, -other.priority, other.oldest) < my_key else rank - 1
            count = min(other.jobs, turns * fair_share_weight(other.priority) / my_weight)
            ahead_jobs += count
            ahead += count * other.mean
        if self.running + ahead_jobs < self.workers:
            return 0.0, ahead_jobs  # a worker is free for it
        return (self.running_left + ahead) / self.workers, ahead_jobs


def queue_snapshot(*, now: datetime | None = None) -> QueueSnapshot:
    now = now or timezone.now()
    times = RenderTimes.load()
    users: dict[int, _UserQueue] = {}
    shapes = (GenerationJob.objects.filter(status=JobStatus.QUEUED).order_by()
              .values("user_id", "backend", "width", "height", "duration_seconds")
              .annotate(n=Count("pk"), priority=Max("priority"), oldest=Min("created_at")))
    for row in shapes:
        queue = users.setdefault(row["user_id"], _UserQueue(priority=row["priority"], oldest=row["oldest"]))
        queue.jobs += row["n"]
        queue.seconds += row["n"] * times.expected(row["backend"], row["width"], row["height"],
                                                   row["duration_seconds"])
        queue.priority = max(queue.priority, row["priority"])
        queue.oldest = min(queue.oldest, row["oldest"])
    for user_id, used in gpu_seconds_used(user_ids=users, now=now).items():
        users[user_id].share = used / fair_share_weight(users[user_id].priority)
    running = list(GenerationJob.objects.filter(status=JobStatus.RUNNING)
                   .values_list("backend", "width", "height", "duration_seconds", "started_at"))
    left = 0.0
    for backend, width, height, duration, started in running:
        elapsed = (now - started).total_seconds() if started else 0.0
        left += max(0.0, times.expected(backend, width, height, duration) - elapsed)
    return QueueSnapshot(now=now, workers=max(1, alive_workers(now=now)), running=len(running),
                         running_left=left, users=users, times=times)


def queued_rank(job: GenerationJob) -> int:
    """1 = the user's next job to start (their own jobs go by priority, then age)."""
    return 1 + GenerationJob.objects.filter(user_id=job.user_id, status=JobStatus.QUEUED).filter(
        Q(priority__gt=job.priority) | Q(priority=job.priority, created_at__lt=job.created_at)).count()


def queue_estimate(job: GenerationJob, snapshot: QueueSnapshot | None = None) -> tuple[int | None, int | None]:
    """(queue position, seconds until it is expected to start) of a queued job; (None, None) otherwise.
    Position 1 is the next job to start under fair share."""
    if job.status != JobStatus.QUEUED:
        return None, None
    snapshot = snapshot or queue_snapshot()
    seconds, ahead = snapshot.start_in(job, rank=queued_rank(job))
    return 1 + int(round(ahead)), int(math.ceil(seconds))


def queued_etas(*, limit: int = 5000) -> tuple[QueueSnapshot, list[tuple[GenerationJob, float]]]:
    """(snapshot, [(queued job, seconds until it is expected to start)]), from one snapshot."""
    snapshot = queue_snapshot()
    out = []
    ranks: dict[int, int] = {}
    jobs = (GenerationJob.objects.filter(status=JobStatus.QUEUED).order_by("user_id", "-priority", "created_at")
            .only("pk", "user_id", "priority", "created_at", "status", "eta_at")[:limit])
    for job in jobs:
        ranks[job.user_id] = ranks.get(job.user_id, 0) + 1
        out.append((job, snapshot.start_in(job, rank=ranks[job.user_id])[0]))
    return snapshot, out


def user_queued_count(*, user_id: int) -> int:
    return GenerationJob.objects.filter(user_id=user_id, status=JobStatus.QUEUED).count()

