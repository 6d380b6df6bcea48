"""Functions that change generation state, a module per role:

- `state`: the state machine's hub (`transition`), and the after-commit sends of events and tasks
- `submission`: what a user does (submit, retry, cancel, delete)
- `worker`: the GPU worker's start, progress, render and finish
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
from .sweeper import jobs_sweep
from .worker import LeaseLost, StartOutcome, job_fail, job_progress, job_render, job_start, job_transient_error

__all__ = [
    "ALLOWED_DURATIONS", "ALLOWED_SIZES", "BACKEND_REFUSALS", "PROMPT_MAX_LENGTH", "RENDER_QUEUE", "RENDER_TASK",
    "IllegalTransition", "LeaseLost", "StartOutcome", "generation_cancel", "generation_delete", "generation_retry",
    "generation_submit", "job_fail", "job_fail_by_staff", "job_progress", "job_render",
    "job_start", "job_transient_error", "jobs_sweep",
]
