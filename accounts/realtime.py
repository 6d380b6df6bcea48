"""The per-user realtime channel: one Channels group per user.

Every signed-in socket of a user joins `user_group(user_id)`; events reach it only through
accounts.events (stored with the user's seq, sent after commit). Session ends close sockets here.
"""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def user_sessions_ended_now(user_id: int, session_ids: list[str] | None) -> None:
    """Close the user's open sockets signed in with these sessions (every socket for None)."""
    layer = get_channel_layer()
    if layer is None:
        return
    async_to_sync(layer.group_send)(user_group(user_id), {"type": "session.ended", "sessions": session_ids})
