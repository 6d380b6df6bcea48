"""The one websocket a signed-in device keeps open: `/ws/`."""

from __future__ import annotations

import asyncio
import logging
import time

from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from config.logging import bind_user_id

from .presence import presence_connected, presence_disconnected, presence_seen

from .realtime import user_group
from .ws_auth import WS_SUBPROTOCOL

logger = logging.getLogger(__name__)

# Application close codes (4000-4999 are ours). A client that gets 4401 should
# refresh its access token and reconnect; it must not retry with the same token.
# The error before it says why: token_missing, token_invalid, token_expired (the
# token ran out while the socket was open) or session_ended (logout, password change,
# suspension: a refresh fails too, so sign in again).
CLOSE_UNAUTHENTICATED = 4401


class UserSocketConsumer(AsyncJsonWebsocketConsumer):
    """Joins the user's group and forwards every event sent to it.

    Server -> client only: events carry a sequence number per object, so a client
    that missed some re-reads state over REST. The client may send {"type": "ping"}.
    """

    group: str | None = None
    user_id: int | None = None
    session_id: str | None = None
    _expiry: asyncio.Task | None = None
    _ended = False

    async def connect(self) -> None:
        user = self.scope.get("user")
        subprotocol = WS_SUBPROTOCOL if WS_SUBPROTOCOL in (self.scope.get("subprotocols") or []) else None
        if user is None or not user.is_authenticated:
            # Accept first: a close code only reaches the client on an open socket.
            await self.accept(subprotocol=subprotocol)
            await self.send_json({"type": "error", "code": self.scope.get("auth_error") or "token_missing"})
            await self.close(code=CLOSE_UNAUTHENTICATED, reason="unauthenticated")
            return
        self.user_id = user.pk
        # Every handler of this socket runs in the task of its connection, so this holds
        # for the socket's whole life and for no other socket.
        bind_user_id(user.pk)
        self.group = user_group(user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept(subprotocol=subprotocol)
        await sync_to_async(presence_connected)(user.pk)
        await self.send_json({"type": "hello", "user_id": user.pk})
        self.session_id = self.scope.get("auth_session")
        # The token was the socket's credential: it stops being one at its exp.
        self._expiry = asyncio.create_task(self._end_at(self.scope["auth_expires_at"]))

    async def _end_at(self, expires_at: float) -> None:
        await asyncio.sleep(max(0.0, expires_at - time.time()))
        await self._end("token_expired")

    async def _end(self, code: str) -> None:
        if self._ended:
            return
        self._ended = True
        if self._expiry is not None and self._expiry is not asyncio.current_task():
            self._expiry.cancel()
        await self.send_json({"type": "error", "code": code})
        await self.close(code=CLOSE_UNAUTHENTICATED, reason=code)

    async def disconnect(self, code: int) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)
            await sync_to_async(presence_disconnected)(self.user_id)

    async def receive_json(self, content, **kwargs) -> None:
        if isinstance(content, dict) and content.get("type") == "ping" and not self._ended:
            # Clients ping every ~30 s; that keeps their presence alive.
            await sync_to_async(presence_seen)(self.user_id)
            await self.send_json({"type": "pong"})

    async def user_event(self, message: dict) -> None:
        if not self._ended:
            await self.send_json(message["event"])

    async def session_ended(self, message: dict) -> None:
        """Sessions of this user ended (accounts.realtime.user_sessions_ended_now)."""
        if message["sessions"] is None or self.session_id in message["sessions"]:
            await self._end("session_ended")
