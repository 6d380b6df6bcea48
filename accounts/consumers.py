"""The one websocket a signed-in device keeps open: `/ws/`."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from urllib.parse import parse_qs

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import InMemoryChannelLayer

from config.logging import bind_user_id

from .events import EventsExpired, event_last_seq, events_after
from .events_tail import tail_start, tail_stop
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
# `?after=<seq>` older than the kept events (or not a seq of this user): re-read state over
# REST, then reconnect without `after` (or with the seq of `hello`).
CLOSE_EVENTS_EXPIRED = 4410
# Events read from the table per query when replaying or filling a gap.
REPLAY_BATCH = 500
_BAD = object()  # a frame that is not JSON


def _after(scope) -> int | None:
    """The `after` query parameter: None when absent, -1 when not a seq (answered as expired)."""
    values = parse_qs(scope.get("query_string", b"").decode("latin1")).get("after")
    if not values:
        return None
    value = values[0]
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 18 else -1


@database_sync_to_async
def _events_after(user_id: int, after: int) -> list[dict]:
    return events_after(user_id=user_id, after=after, limit=REPLAY_BATCH)


class UserSocketConsumer(AsyncJsonWebsocketConsumer):
    """Joins the user's group and forwards every event sent to it.

    Every event frame carries the user's `seq`; this socket sends them in seq order, each once,
    reading from the event table (accounts.events) whatever it did not get live: on connect
    with `?after=`, on a gap, and on the embedded defaults when the tailer says there is more.
    The client may send {"type": "ping"}; any other frame gets a `bad_frame` error.
    """

    group: str | None = None
    user_id: int | None = None
    session_id: str | None = None
    _expiry: asyncio.Task | None = None
    _ended = False
    _tailing = False
    sent_seq = 0

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
        after = _after(self.scope)
        self.group = user_group(user.pk)
        # Joined before reading the table: an event committed from here on comes live, and one
        # committed before is in the table; the seq check drops what comes both ways.
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept(subprotocol=subprotocol)
        await sync_to_async(presence_connected)(user.pk)
        current = await database_sync_to_async(event_last_seq)(user.pk)
        if after is None:
            self.sent_seq = current
        await self.send_json({"type": "hello", "user_id": user.pk, "seq": current})
        if after is not None:
            self.sent_seq = after
            if not await self._catch_up():
                return
        if isinstance(self.channel_layer, InMemoryChannelLayer):
            self._tailing = True
            tail_start(user.pk, self.sent_seq)
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

    async def _catch_up(self) -> bool:
        """Send the events after `sent_seq` from the table; False when they are gone (closed)."""
        while not self._ended:
            try:
                if self.sent_seq < 0:
                    raise EventsExpired("not a seq")
                frames = await _events_after(self.user_id, self.sent_seq)
            except EventsExpired:
                self._ended = True
                await self.send_json({"type": "error", "code": "events_expired"})
                await self.close(code=CLOSE_EVENTS_EXPIRED, reason="events_expired")
                return False
            for frame in frames:
                await self.send_json(frame)
                self.sent_seq = frame["seq"]
            if len(frames) < REPLAY_BATCH:
                break
        return True

    async def disconnect(self, code: int) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
        if self._tailing:
            self._tailing = False
            tail_stop(self.user_id)
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)
            await sync_to_async(presence_disconnected)(self.user_id)

    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
        """Not JSON or binary: a `bad_frame` error, and the socket stays open."""
        try:
            content = json.loads(text_data) if text_data is not None and bytes_data is None else _BAD
        except (ValueError, RecursionError):  # not JSON, or nested past the parser's depth
            content = _BAD
        await self.receive_json(content)

    async def receive_json(self, content, **kwargs) -> None:
        if self._ended or self.user_id is None:
            return
        if isinstance(content, dict) and content.get("type") == "ping":
            # Clients ping every ~30 s; that keeps their presence alive.
            await sync_to_async(presence_seen)(self.user_id)
            await self.send_json({"type": "pong"})
            return
        await self.send_json({"type": "error", "code": "bad_frame"})  # also an unknown type

    async def user_event(self, message: dict) -> None:
        event = message["event"]
        if self._ended or not isinstance(event.get("seq"), int) or event["seq"] <= self.sent_seq:
            return  # already sent (replayed, or read from the table first)
        if event["seq"] == self.sent_seq + 1:
            await self.send_json(event)
            self.sent_seq = event["seq"]
        else:  # one sent by another process arrived first: the table has the ones before it
            await self._catch_up()

    async def events_available(self, message: dict) -> None:
        """The tailer (accounts.events_tail) saw this user's counter reach `seq`."""
        if not self._ended and message["seq"] > self.sent_seq:
            await self._catch_up()

    async def session_ended(self, message: dict) -> None:
        """Sessions of this user ended (accounts.realtime.user_sessions_ended_now)."""
        if message["sessions"] is None or self.session_id in message["sessions"]:
            await self._end("session_ended")
