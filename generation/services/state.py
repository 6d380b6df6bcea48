"""The state machine of a generation job: its one hub.

Every change of status goes through `transition`, under a row lock taken by the caller
(`locked`); it is the one place that settles credits and publishes `generation.updated`
events, and with the sends below, the one place that talks to Celery, after commit.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.utils import timezone
from django.utils.translation import gettext_noop

from accounts.events import event_send_on_commit
from accounts.notifications import notify
from billing import services as ledger
from config.errors import Conflict
from config.tasks import task_send_on_commit

from .. import selectors
from ..models import TERMINAL, GenerationJob, JobKind, JobStatus, Rendition, RenditionStatus
from ..scheduling import QueueSnapshot

logger = logging.getLogger(__name__)

RENDER_TASK = "generation.tasks.render_generation"
# Renders have a queue of their own: GPU workers consume only it (see config.celery).
RENDER_QUEUE = "gpu"

_ALLOWED_TRANSITIONS: dict[str, set[str]] = {
    JobStatus.QUEUED: {JobStatus.RUNNING, JobStatus.CANCELED, JobStatus.FAILED},
    # running -> queued: the worker died or hit a transient error; it runs again.
    JobStatus.RUNNING: {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED, JobStatus.QUEUED},
}

CANCELED_BY_USER = {"error_code": "canceled", "error_message": gettext_noop("Canceled by you.")}


class IllegalTransition(Conflict):
    code = "illegal_transition"


def publish_on_commit(job: GenerationJob, *, final: bool = False, snapshot: QueueSnapshot | None = None) -> None:
    """The job's state as saved, stored as the user's next event and sent after commit."""
    event_send_on_commit(job.user_id, "generation.updated",
                         {"job": selectors.job_public_state(job, snapshot=snapshot)})
    if final and job.status in (JobStatus.SUCCEEDED, JobStatus.FAILED):
        # Into the inbox, and as push when the app is closed (the user's channel for the type).
        # Not for a cancel: the user did it, or staff did and the job's error says why.
        notify(user_id=job.user_id, type=f"generation.{job.status}", target=f"job:{job.pk}",
               data={"job_id": str(job.pk), "error_code": job.error_code or ""}, group_key=f"generation:{job.pk}")


def enqueue_on_commit(job: GenerationJob) -> None:
    # A hint: the worker it wakes claims the fairest job, not necessarily this one. The message
    # priority (Redis and AMQP: 0 is the most urgent; our job priority grows with the tier) only
    # decides which hint is read first.
    task_send_on_commit(RENDER_TASK, str(job.pk), queue=RENDER_QUEUE, priority=max(0, 9 - job.priority))


def transition(job: GenerationJob, to: str, **changes: Any) -> GenerationJob:
    """Apply one state change to a row locked by the caller."""
    if to not in _ALLOWED_TRANSITIONS.get(job.status, set()):
        raise IllegalTransition(f"A {job.status} generation cannot become {to}.")
    previous = job.status
    job.status = to
    for field, value in changes.items():
        setattr(job, field, value)
    job.seq += 1
    if to in TERMINAL:
        job.finished_at = timezone.now()
        job.lease_owner = ""
        if to == JobStatus.SUCCEEDED:
            ledger.credits_capture(user_id=job.user_id, reference=job.credit_reference)
        else:
            ledger.credits_release(user_id=job.user_id, reference=job.credit_reference)
        if job.kind == JobKind.LOCALIZE:
            _renditions_close(job)
    job.save()
    logger.info("generation.transition", extra={"job_id": str(job.pk), "from": previous, "to": to,
                                                "seq": job.seq, "error_code": job.error_code})
    publish_on_commit(job, final=to in TERMINAL)
    return job


def _renditions_close(job: GenerationJob) -> None:
    """A localize job ends: its languages still pending fail with it and their credits come back
    (each succeeded or failed language was settled as it finished)."""
    pending = Rendition.objects.select_for_update().filter(job=job, status=RenditionStatus.PENDING)
    for rendition in pending.order_by("language"):
        rendition.status = RenditionStatus.FAILED
        rendition.error_code = (job.error_code or "localization_failed")[:60]
        rendition.error_message = job.error_message
        rendition.finished_at = job.finished_at
        rendition.save(update_fields=["status", "error_code", "error_message", "finished_at"])
        ledger.credits_release(user_id=job.user_id, reference=rendition.credit_reference)


def locked(job_id: Any) -> GenerationJob | None:
    return GenerationJob.objects.select_for_update().filter(pk=job_id).first()


def requeue_or_fail(job: GenerationJob, *, reason: str) -> GenerationJob:
    """A locked running job whose worker is gone: run it again, or give up after the attempts."""
    if job.cancel_requested:
        return transition(job, JobStatus.CANCELED, **CANCELED_BY_USER)
    if job.attempts >= settings.GENERATION_MAX_ATTEMPTS:
        return transition(job, JobStatus.FAILED, error_code=reason,
                          error_message=gettext_noop("The render kept failing; your credits are back."))
    job = transition(job, JobStatus.QUEUED, lease_owner="", heartbeat_at=None, progress=0,
                     enqueued_at=timezone.now(), eta_at=None)
    enqueue_on_commit(job)
    return job


def delete_files(names: list[str]) -> None:
    for name in names:
        if name:
            default_storage.delete(name)
