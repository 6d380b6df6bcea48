"""Reads of generation state: the public view of a job (queue position and ETA: generation.scheduling)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Callable, Iterable, Mapping

from django.conf import settings
from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework.exceptions import ErrorDetail, ValidationError

from config.errors import NotFound
from config.media import media_url

from .filters import GenerationFilter
from .models import GenerationJob, JobKind, JobStatus, Rendition, RenditionStatus
from .scheduling import QueueSnapshot, queue_estimate


# Fields that an app above generation adds to a job's public state. Generation may not import
# those apps, so they register here from their AppConfig.ready(): feed adds the post a remix
# was started from. Each takes the job and returns the fields to add.
StateExtension = Callable[[GenerationJob], dict[str, Any]]
_state_extensions: list[StateExtension] = []


def job_state_extension_register(extension: StateExtension) -> None:
    if extension not in _state_extensions:
        _state_extensions.append(extension)


def jobs_of_user(*, user_id: int, filters: Mapping[str, Any] | None = None) -> QuerySet[GenerationJob]:
    """The user's jobs, filtered by query parameters (`status`, repeatable); bad ones are a 400."""
    qs = GenerationJob.objects.filter(user_id=user_id).prefetch_related("cameos", "renditions")
    if filters is None:
        return qs
    filterset = GenerationFilter(filters, queryset=qs)
    if not filterset.is_valid():
        raise ValidationError({field: [ErrorDetail(e["message"], code=e["code"]) for e in errors]
                               for field, errors in filterset.errors.get_json_data().items()})
    return filterset.qs


def job_of_user(*, user_id: int, job_id: Any) -> GenerationJob:
    job = GenerationJob.objects.filter(user_id=user_id, pk=job_id).first()
    if job is None:
        raise NotFound(_("No such generation."), code="generation_not_found")
    return job


def job_public_state(job: GenerationJob, *, snapshot: QueueSnapshot | None = None) -> dict[str, Any]:
    """What the owner's apps see, over REST and in `generation.updated` events alike. A queued
    job's position and ETA (seconds until it is expected to start) come from the fair-share
    model in generation.scheduling; `snapshot` shares one look at the queue between many jobs."""
    position, eta = queue_estimate(job, snapshot)
    result = None
    if job.status == JobStatus.SUCCEEDED and job.video:
        result = {
            "video_url": media_url(job.video.name),
            "poster_url": media_url(job.poster.name),
            "duration_seconds": job.result_duration,
            "width": job.result_width,
            "height": job.result_height,
            "fps": job.result_fps,
            "bytes": job.result_bytes,
            "sha256": job.result_sha256,
        }
    state = {
        "id": str(job.id),
        "kind": job.kind,
        "status": job.status,
        "progress": job.progress,
        "seq": job.seq,
        "prompt": job.prompt,
        "style": job.style,
        "duration_seconds": job.duration_seconds,
        "size": f"{job.width}x{job.height}",
        "seed": job.seed,
        "backend": job.backend,
        "cost": job.cost,
        "queue_position": position,
        "eta_seconds": eta,
        # Our own messages are stored in English (gettext_noop) and translated as they are read.
        "error": {"code": job.error_code, "message": _(job.error_message)} if job.error_code else None,
        "result": result,
        "source_generation_id": str(job.source_job_id) if job.source_job_id else None,
        "retry_of": str(job.retry_of_id) if job.retry_of_id else None,
        "cameo_ids": sorted(str(c.pk) for c in job.cameos.all()),
        "created_at": job.created_at.isoformat(),
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }
    state["renditions"] = job_renditions(job) if job.kind == JobKind.LOCALIZE else []
    for extension in _state_extensions:
        state.update(extension(job))
    return state


def job_renditions(job: GenerationJob) -> list[dict[str, Any]]:
    """A localize job's languages, each with its own state and files."""
    return [{
        "language": r.language,
        "source_language": r.source_language,
        "status": r.status,
        "stage": r.stage,
        "dubbed": r.dubbed,
        "burned_in": r.burned_in,
        "video_url": media_url(r.video.name) if r.status == RenditionStatus.SUCCEEDED else None,
        "subtitles_url": media_url(r.subtitles.name) if r.status == RenditionStatus.SUCCEEDED else None,
        "cues": r.cues,
        "error_code": r.error_code or None,
    } for r in sorted(job.renditions.all(), key=lambda r: r.language)]


def heartbeat_is_stale(job: GenerationJob, *, now=None) -> bool:
    if job.heartbeat_at is None:
        return True
    age = ((now or timezone.now()) - job.heartbeat_at).total_seconds()
    return age >= settings.GENERATION_HEARTBEAT_TIMEOUT


def stale_running_jobs(*, now=None) -> QuerySet[GenerationJob]:
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.GENERATION_HEARTBEAT_TIMEOUT)
    return GenerationJob.objects.filter(status=JobStatus.RUNNING, heartbeat_at__lt=cutoff)


def queued_jobs_needing_message(*, now=None) -> QuerySet[GenerationJob]:
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.GENERATION_REQUEUE_AFTER)
    return GenerationJob.objects.filter(status=JobStatus.QUEUED).filter(Q(enqueued_at__lt=cutoff) |
                                                                         Q(enqueued_at__isnull=True))


# --- the admin dashboard --------------------------------------------------------------------


def stuck_jobs(*, now=None) -> QuerySet[GenerationJob]:
    """Jobs the sweeper would act on: running past their heartbeat lease, or queued too long."""
    return GenerationJob.objects.filter(Q(pk__in=stale_running_jobs(now=now).values("pk"))
                                        | Q(pk__in=queued_jobs_needing_message(now=now).values("pk")))


def job_counts_by_status(*, since) -> dict[str, int]:
    """Jobs created since `since`, counted by status (every status, zero included)."""
    rows = (GenerationJob.objects.filter(created_at__gte=since).order_by().values_list("status")
            .annotate(count=Count("pk")))
    counts = dict.fromkeys(JobStatus.values, 0)
    counts.update(dict(rows))
    return counts


def provider_costs_by_day(*, since) -> list[dict[str, Any]]:
    """Succeeded jobs finished since `since`, per day, plan and backend: what the users paid in
    credits (their value in USD), what the providers charged us, and the margin between them."""
    from decimal import Decimal

    from django.db.models import Sum
    from django.db.models.functions import TruncDate

    rows = (GenerationJob.objects.filter(status=JobStatus.SUCCEEDED, finished_at__gte=since).order_by()
            .annotate(day=TruncDate("finished_at")).values("day", "plan_code", "backend")
            .annotate(jobs=Count("pk"), seconds=Sum("duration_seconds"), credits=Sum("cost"),
                      provider_cost=Sum("provider_cost_usd"), unpriced=Count("pk", filter=Q(provider_cost_usd=None)))
            .order_by("-day", "plan_code", "backend"))
    value = Decimal(str(settings.GENERATION_CREDIT_VALUE_USD))
    out = []
    for row in rows:
        revenue = (value * row["credits"]).quantize(Decimal("0.0001"))
        cost = row["provider_cost"] or Decimal("0")
        out.append({**row, "plan_code": row["plan_code"] or "-", "revenue_usd": revenue, "cost_usd": cost,
                    "margin_usd": revenue - cost})
    return out


def provider_alerts_open():
    from .models import ProviderAlert

    return ProviderAlert.objects.filter(resolved_at__isnull=True).order_by("-last_seen_at")


def renditions_for_sources(source_job_ids: Iterable[Any]) -> dict[Any, list[Rendition]]:
    """The ready renditions of each source video, one per language (the newest), in one query.
    A rendition turns `succeeded` only once its files are stored, whatever its job's other
    languages do."""
    ready: dict[Any, dict[str, Rendition]] = {}
    rows = (Rendition.objects.filter(source_job_id__in=list(source_job_ids),
                                     status=RenditionStatus.SUCCEEDED)
            .order_by("source_job_id", "language", "-finished_at"))
    for rendition in rows:
        ready.setdefault(rendition.source_job_id, {}).setdefault(rendition.language, rendition)
    return {source: list(by_language.values()) for source, by_language in ready.items()}
