"""The purge steps of account deletion, registered by each app in its AppConfig.ready.

Accounts is the lowest app and never imports the apps above it, yet a purge touches all of
them (posts, jobs, the ledger, payouts). So each app registers what it does to a deleted
account, and accounts runs the steps:

- `check(user, options)`: at the request, before anything changes; raises an ApplicationError
  to refuse it (a store subscription that only the store can cancel).
- `on_request(user) -> dict`: after the account was deactivated (Stripe: cancel at period
  end). What it returns is kept on the deletion and handed to `on_cancel(user, state)`.
- `hold(ctx) -> str | None`: before the purge; a reason makes the purge wait for the next beat
  run (a payout in flight, a running job, an unconfirmed Stripe cancel). It may act to end the
  wait (send the payout), but must not delete anything.
- `purge(ctx)`: removes or anonymises the app's rows of the user; idempotent, since a purge
  that crashed runs again from the first step not recorded as done.

Steps run in dependency order: a step runs after the steps named in its `after` (creators
before feed before generation before billing: the higher app's rows point at the lower's).
`handles` names every foreign key to the user model the step takes care of, as
"app_label.Model.field"; `anonymises` those it points at the placeholder user instead of
deleting. A test walks every model and fails on a foreign key no step names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass(frozen=True)
class PurgeContext:
    user_id: int
    placeholder_id: int
    deletion_id: int


@dataclass(frozen=True)
class PurgeStep:
    name: str
    purge: Callable[[PurgeContext], Any]
    after: tuple[str, ...] = ()
    check: Callable[..., None] | None = None
    on_request: Callable[..., dict | None] | None = None
    on_cancel: Callable[..., None] | None = None
    hold: Callable[[PurgeContext], str | None] | None = None
    handles: tuple[str, ...] = ()
    anonymises: tuple[str, ...] = field(default=())


_STEPS: dict[str, PurgeStep] = {}


def account_purge_step_register(name: str, purge: Callable[[PurgeContext], Any], *, after: tuple[str, ...] = (),
                                check: Callable[..., None] | None = None,
                                on_request: Callable[..., dict | None] | None = None,
                                on_cancel: Callable[..., None] | None = None,
                                hold: Callable[[PurgeContext], str | None] | None = None,
                                handles: tuple[str, ...] = (), anonymises: tuple[str, ...] = ()) -> None:
    """Register (or replace, for a reloaded app) the purge step `name`."""
    _STEPS[name] = PurgeStep(name=name, purge=purge, after=tuple(after), check=check, on_request=on_request,
                             on_cancel=on_cancel, hold=hold, handles=tuple(handles) + tuple(anonymises),
                             anonymises=tuple(anonymises))


def purge_steps() -> list[PurgeStep]:
    """Every step, each after those it names (registration order breaks ties)."""
    ordered: list[PurgeStep] = []
    placed: set[str] = set()
    visiting: set[str] = set()

    def place(step: PurgeStep) -> None:
        if step.name in placed:
            return
        if step.name in visiting:
            raise RuntimeError(f"Account purge steps depend on each other in a cycle at {step.name!r}.")
        visiting.add(step.name)
        for name in step.after:
            if name in _STEPS:  # an app not installed is no dependency
                place(_STEPS[name])
        visiting.discard(step.name)
        placed.add(step.name)
        ordered.append(step)

    for step in list(_STEPS.values()):
        place(step)
    return ordered
