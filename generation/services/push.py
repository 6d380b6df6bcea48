"""FCM push of a job's final state, for a user with no socket open."""

from __future__ import annotations

from typing import Any

from accounts.presence import user_is_online
from accounts.push import push_to_user

from ..models import GenerationJob, JobStatus

_PUSH_TEXTS = {
    JobStatus.SUCCEEDED: ("Your video is ready", "Tap to watch and post it."),
    JobStatus.FAILED: ("Your video could not be made", "Your credits are back. Tap to try again."),
    JobStatus.CANCELED: ("Generation canceled", "Your credits are back."),
}


def job_notify_finished(*, job_id: Any, device_ids: list[int] | None = None) -> int:
    """FCM push of the final state when none of the user's devices has the socket open
    (to `device_ids` only, on a retry); raises accounts.push.PushRetry to the task, which
    retries it. TTL (a day) and collapse key (one per job) are in accounts.push.PUSH_TTLS."""
    job = GenerationJob.objects.filter(pk=job_id).first()
    if job is None or not job.is_terminal or user_is_online(job.user_id):
        return 0
    title, body = _PUSH_TEXTS[job.status]
    return push_to_user(user_id=job.user_id, title=title, body=body,
                        data={"type": "generation.updated", "job_id": str(job.pk), "status": job.status,
                              "seq": str(job.seq)},
                        collapse_key=f"job:{job.pk}", device_ids=device_ids)
