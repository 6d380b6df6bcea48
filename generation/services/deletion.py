"""Generation's step of an account purge (accounts.deletion.registry), registered in
GenerationConfig.ready: the person's jobs are canceled when the deletion is asked for (credits
back), the purge waits while one still runs, then every job and its stored files go."""

from __future__ import annotations

import logging

from django.db import transaction

from accounts.deletion.registry import PurgeContext
from accounts.models import User
from config.errors import Conflict

from ..models import TERMINAL, GenerationJob, Rendition
from .state import delete_files
from .submission import generation_cancel

logger = logging.getLogger(__name__)

HANDLES = ("generation.GenerationJob.user",)


def _active_jobs_cancel(user: User) -> int:
    ids = list(GenerationJob.objects.filter(user_id=user.pk).exclude(status__in=TERMINAL).values_list("pk", flat=True))
    for job_id in ids:
        try:
            generation_cancel(user=user, job_id=job_id)
        except Conflict:  # it finished meanwhile
            continue
    return len(ids)


def account_jobs_cancel(*, user: User) -> None:
    """At the request: nothing more renders for the account (a running job stops at its next step)."""
    canceled = _active_jobs_cancel(user)
    if canceled:
        logger.info("generation.account_jobs_canceled", extra={"user_id": user.pk, "jobs": canceled})


def account_jobs_hold(ctx: PurgeContext) -> str | None:
    user = User.objects.get(pk=ctx.user_id)
    _active_jobs_cancel(user)
    if GenerationJob.objects.filter(user_id=ctx.user_id).exclude(status__in=TERMINAL).exists():
        return "generation_running"
    return None


def account_jobs_purge(ctx: PurgeContext) -> None:
    jobs = GenerationJob.objects.filter(user_id=ctx.user_id)
    names: list[str] = []
    for row in jobs.values_list("video", "poster", "input_image", "source_video", "source_subtitles"):
        names += row
    for row in Rendition.objects.filter(job__user_id=ctx.user_id).values_list("video", "subtitles"):
        names += row
    jobs.delete()
    transaction.on_commit(lambda: delete_files(names))
