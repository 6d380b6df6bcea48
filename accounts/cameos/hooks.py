"""How the apps above accounts hear that a cameo's consent changed (a person revoked, the level
lowered or raised, the cameo deleted). Generation cancels jobs, feed takes posts down or back up.

Listeners run inside the changing transaction, after the cameo row is locked: a job or post
committed before that lock is seen by them, and one submitted after it sees the new consent.
Registered in each app's AppConfig.ready (a lower app never imports a higher one).
"""

from __future__ import annotations

from typing import Any, Callable

Listener = Callable[..., Any]

_LISTENERS: list[Listener] = []


def cameo_consent_listener_register(listener: Listener) -> None:
    if listener not in _LISTENERS:
        _LISTENERS.append(listener)


def consent_changed(*, cameo: Any, reason: str) -> None:
    """`reason`: a stable code ("grant_revoked", "level_lowered", "cameo_deleted", ...)."""
    for listener in list(_LISTENERS):
        listener(cameo=cameo, reason=reason)
