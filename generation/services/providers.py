"""Hosted providers from the worker's and submission's side: which backend serves a job
(routing, fallbacks, the circuit breaker), the provider's remote job id on our job, staff
alerts, and what a render cost us.

The circuit breaker lives in the cache (Redis in production): every worker must see the same
state at once, it is a counter with a time-to-live (the window, the cool-down) which Redis
expires by itself, and losing it only means learning again that a provider is down. In
PostgreSQL it would add a row update to every failure, on the path that is already failing.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from ..backends import HOSTED, BackendError, RenderParams, UnsupportedRequest, get_backend
from ..backends.hosted.capabilities import CAPABILITIES
from ..models import GenerationJob, ProviderAlert

logger = logging.getLogger(__name__)

# USD per second of video. OpenAI's published prices for 720p (not verifiable here: override
# with GENERATION_PROVIDER_COSTS). Local backends cost nothing unless configured.
# Runway: Gen-4.5 at 12 credits a second, 0.01 USD a credit. Veo 3.1 on Vertex AI, with audio.
DEFAULT_PROVIDER_COSTS = {"openai/sora-2": 0.10, "openai/sora-2-pro": 0.30, "runway/gen4.5": 0.12,
                          "veo/veo-3.1-generate-001": 0.40, "veo/veo-3.1-fast-generate-001": 0.15,
                          # Replicate: Wan 2.5 at 720p.
                          "replicate/wan-video/wan-2.5-t2v": 0.10, "replicate/wan-video/wan-2.5-t2v-fast": 0.068}


# --- routing ---------------------------------------------------------------------------

def route_for(*, kind: str, plan_code: str) -> list[str]:
    """The ordered backends for a kind and plan: GENERATION_ROUTES[kind or "*"][plan or "*"]."""
    routes = settings.GENERATION_ROUTES or {}
    for kind_key in (kind, "*"):
        by_plan = routes.get(kind_key) or {}
        for plan_key in (plan_code, "*"):
            if by_plan.get(plan_key):
                return [str(name) for name in by_plan[plan_key]]
    return [settings.GENERATION_BACKEND]


def backend_model(name: str) -> str:
    """The provider's model a hosted backend renders with now (recorded per job, prices its cost)."""
    return get_backend(name).model() if name in HOSTED else ""


def provider_of(name: str) -> str:
    return "openai" if name == "remote" else name


# "auto" tries these, largest first: portrait, as this is a phone app.
AUTO_SIZES = ((1080, 1920), (720, 1280), (480, 854))


def _auto_size(backend: Any, params: RenderParams, max_short_side: int) -> RenderParams:
    """The largest portrait size the backend renders that the plan allows."""
    for width, height in AUTO_SIZES:
        if width > max_short_side:
            continue
        candidate = replace(params, width=width, height=height)
        try:
            return backend.check(candidate)
        except UnsupportedRequest as exc:
            if exc.code != "size_not_supported":
                raise
    raise UnsupportedRequest("No size this video model renders fits your plan.", code="size_not_supported",
                             field="size")


def route_plan(*, kind: str, plan_code: str, params: RenderParams,
               max_short_side: int) -> tuple[RenderParams, list[str]]:
    """At submit: the first backend of the route whose breaker is closed checks the request (its
    refusal is the user's answer; a size of 0x0, "auto", is its choice); the others stay as
    fallbacks where they take the checked request unchanged."""
    route = route_for(kind=kind, plan_code=plan_code)
    primary = next((name for name in route if not breaker_is_open(name)), route[0])
    backend = get_backend(primary)
    if params.width == 0 or params.height == 0:
        checked = _auto_size(backend, params, max_short_side)
    else:
        checked = backend.check(params)
    fallbacks = []
    for name in route:
        if name == primary:
            continue
        try:
            if get_backend(name).check(checked) == checked:
                fallbacks.append(name)
        except (UnsupportedRequest, BackendError):
            continue
    return checked, [primary, *fallbacks]


def _log_entry(source: str, to: str, reason: str) -> dict[str, str]:
    return {"from": source, "to": to, "reason": reason, "at": timezone.now().isoformat()}


def job_reroute(*, job_id: Any, reason: str, exclude_current: bool = False) -> str | None:
    """Before a render: the job's backend, or the next of its route when its breaker is open (or
    `exclude_current`). A job with a remote id stays where it was paid for. Returns the backend,
    or None when no backend of the route may take it."""
    with transaction.atomic():
        job = GenerationJob.objects.select_for_update().get(pk=job_id)
        if job.remote_id and not exclude_current:
            return job.backend
        current_ok = not exclude_current and not breaker_is_open(job.backend)
        if current_ok:
            return job.backend
        route = job.route or [job.backend]
        for name in route:
            if name != job.backend and not breaker_is_open(name):
                job.route_log = [*job.route_log, _log_entry(job.backend, name, reason)]
                logger.warning("generation.rerouted", extra={"job_id": str(job.pk), "from": job.backend, "to": name,
                                                             "reason": reason})
                job.backend = name
                job.provider_model = backend_model(name)
                job.remote_id = ""
                job.save(update_fields=["backend", "provider_model", "remote_id", "route_log", "updated_at"])
                return name
        return None if exclude_current else job.backend


# --- circuit breaker -------------------------------------------------------------------

def _key(name: str, part: str) -> str:
    return f"generation:breaker:{provider_of(name)}:{part}"


def breaker_is_open(name: str) -> bool:
    return cache.get(_key(name, "open")) is not None


def breaker_open(name: str, *, seconds: int, reason: str) -> None:
    cache.set(_key(name, "open"), reason, timeout=seconds)
    logger.warning("generation.breaker_opened", extra={"backend": name, "reason": reason, "seconds": seconds})


def breaker_failure(name: str) -> bool:
    """One transient failure of a backend; opens its breaker at the threshold. Returns whether it is open."""
    key = _key(name, "failures")
    cache.add(key, 0, timeout=settings.GENERATION_BREAKER_WINDOW)
    try:
        failures = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=settings.GENERATION_BREAKER_WINDOW)
        failures = 1
    if failures >= settings.GENERATION_BREAKER_FAILURES:
        cache.delete(key)
        breaker_open(name, seconds=settings.GENERATION_BREAKER_COOLDOWN, reason="failures")
        return True
    return False


def breaker_success(name: str) -> None:
    cache.delete(_key(name, "failures"))


def breaker_reset(name: str) -> None:
    cache.delete_many([_key(name, "failures"), _key(name, "open")])


def breakers_open(names: list[str]) -> list[str]:
    return [name for name in names if breaker_is_open(name)]


# --- the remote job id on our job ------------------------------------------------------

class RemoteJob:
    """The worker's RemoteJobLink: each change commits in its own transaction, at once."""

    def __init__(self, job: GenerationJob) -> None:
        self.job_id = job.pk
        self.backend = job.backend
        self.remote_id = job.remote_id

    def record(self, remote_id: str, *, expires_at: datetime | None = None) -> None:
        with transaction.atomic():
            GenerationJob.objects.filter(pk=self.job_id).update(
                remote_id=remote_id, remote_created_at=timezone.now(), remote_expires_at=expires_at,
                remote_creates=F("remote_creates") + 1, provider_model=backend_model(self.backend),
                updated_at=timezone.now())
        self.remote_id = remote_id
        logger.info("generation.remote_recorded", extra={"job_id": str(self.job_id), "remote_id": remote_id})

    def forget(self, *, reason: str) -> None:
        with transaction.atomic():
            job = GenerationJob.objects.select_for_update().get(pk=self.job_id)
            job.route_log = [*job.route_log, {"remote_id": job.remote_id, "reason": reason,
                                              "at": timezone.now().isoformat()}]
            job.remote_id = ""
            job.save(update_fields=["remote_id", "route_log", "updated_at"])
        self.remote_id = ""


# --- staff alerts ----------------------------------------------------------------------

def provider_alert_raise(*, provider: str, code: str, message: str, job_id: Any = None) -> ProviderAlert:
    """An open alert for the dashboard; the same provider and code again counts on the open one."""
    now = timezone.now()
    provider = provider_of(provider)
    for _ in range(2):
        updated = ProviderAlert.objects.filter(provider=provider, code=code, resolved_at__isnull=True).update(
            occurrences=F("occurrences") + 1, last_seen_at=now, message=message[:500])
        if updated:
            return ProviderAlert.objects.get(provider=provider, code=code, resolved_at__isnull=True)
        try:
            with transaction.atomic():
                alert = ProviderAlert.objects.create(provider=provider, code=code, message=message[:500],
                                                     job_id=job_id, created_at=now, last_seen_at=now)
        except IntegrityError:  # another worker opened it meanwhile: count on theirs
            continue
        logger.error("generation.provider_alert", extra={"provider": provider, "code": code, "job_id": str(job_id)})
        return alert
    return ProviderAlert.objects.get(provider=provider, code=code, resolved_at__isnull=True)


def provider_alert_resolve(*, alert_id: int) -> None:
    """Staff fixed it (topped up the quota): the alert closes and the provider is tried again."""
    alert = ProviderAlert.objects.get(pk=alert_id)
    if alert.resolved_at is None:
        alert.resolved_at = timezone.now()
        alert.save(update_fields=["resolved_at"])
    for name in [alert.provider, *(n for n in HOSTED if provider_of(n) == alert.provider)]:
        breaker_reset(name)


def provider_quota_exhausted(*, job_id: Any, backend: str, message: str) -> None:
    provider_alert_raise(provider=backend, code="provider_quota_exhausted", message=message, job_id=job_id)
    breaker_open(backend, seconds=settings.GENERATION_QUOTA_COOLDOWN, reason="quota")


# --- cost ------------------------------------------------------------------------------

def provider_cost(job: GenerationJob) -> Decimal | None:
    """What the provider charged for the job: every render it was asked for, at its per-second rate."""
    rates = {**DEFAULT_PROVIDER_COSTS, **(settings.GENERATION_PROVIDER_COSTS or {})}
    key = f"{provider_of(job.backend)}/{job.provider_model}" if job.provider_model else provider_of(job.backend)
    rate = rates.get(key)
    if rate is None:
        return None if job.backend in HOSTED else Decimal("0")
    renders = max(job.remote_creates, 1) if job.backend in HOSTED else 1
    # A model that renders only longer clips is paid for the clip it rendered, before the cut.
    cap = CAPABILITIES.get(provider_of(job.backend), {}).get(job.provider_model)
    seconds = (cap.duration_for(job.duration_seconds) if cap else None) or job.duration_seconds
    return (Decimal(str(rate)) * seconds * renders).quantize(Decimal("0.0001"))
