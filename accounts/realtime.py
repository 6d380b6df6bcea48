"""The per-user realtime channel: one Channels group per user.

Every signed-in socket of a user joins `user_group(user_id)`; any process (API,
Celery worker) reaches all of that user's devices by sending to the group.
Sends happen after commit so a socket never hears of a row a rollback undid.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def user_send_now(user_id: int, event: dict[str, Any]) -> None:
    """Send an event to every open socket of the user. `event["type"]` names it, e.g. "generation.updated"."""
    layer = get_channel_layer()
    if layer is None:
        return
    async_to_sync(layer.group_send)(user_group(user_id), {"type": "user.event", "event": event})



def user_sessions_ended_now(user_id: int, session_ids: list[str] | None) -> None:
    """Close the user's open sockets signed in with these sessions (every socket for None)."""
    layer = get_channel_layer()
    if layer is None:
        return
    async_to_sync(layer.group_send)(user_group(user_id), {"type": "session.ended", "sessions": session_ids})
