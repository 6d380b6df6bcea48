"""Functions that change generation state, a module per role:

- `state`: the state machine's hub (`transition`), and the after-commit sends of events and tasks
- `submission`: what a user does (submit, retry, cancel, delete)
- `localization`, `localization_worker`: the same for a localize job (subtitles and dubs)
- `worker`: the GPU worker's fair-share claim, progress, render and finish
- `scheduler`: worker heartbeats, measured render times, wake-ups and ETA updates
- `sweeper`: the periodic rescue of lost jobs and messages
- `staff`: admin actions
"""

from ..backends.hosted.capabilities import REFUSAL_CODES as BACKEND_REFUSALS
from .staff import job_fail_by_staff
from .state import RENDER_QUEUE, RENDER_TASK, IllegalTransition
from .submission import (
    ALLOWED_DURATIONS,
    ALLOWED_SIZES,
    PROMPT_MAX_LENGTH,
    generation_cancel,
    generation_delete,
    generation_retry,
    generation_submit,
)
from .localization import localization_retry, localization_submit
from .scheduler import etas_refresh, wake_for_next
from .sweeper import jobs_sweep
from .worker import (
    Claim,
    LeaseLost,
    StartOutcome,
    job_claim,
    job_fail,
    job_progress,
    job_render,
    job_transient_error,
    transient_backoff,
)

__all__ = [
    "ALLOWED_DURATIONS", "ALLOWED_SIZES", "BACKEND_REFUSALS", "PROMPT_MAX_LENGTH", "RENDER_QUEUE", "RENDER_TASK",
    "Claim", "IllegalTransition", "LeaseLost", "StartOutcome", "etas_refresh", "generation_cancel",
    "generation_delete", "generation_retry", "generation_submit", "job_claim", "job_fail", "job_fail_by_staff",
    "job_progress", "job_render", "localization_retry", "localization_submit", "job_transient_error", "jobs_sweep", "transient_backoff",
    "wake_for_next",
]
