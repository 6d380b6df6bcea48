"""Realtime on the embedded defaults: the socket server tails the event counters.

With the in-memory channel layer (no REDIS_URL) a group send reaches only the sockets of the
process that sent it, and the Celery worker is another process. So each socket server process
reads, every EVENTS_TAIL_INTERVAL seconds, the EventCounter rows of the users it has sockets
for (one indexed query, whatever the number of sockets) and tells the sockets of a user whose
counter moved to read the new events from the table. A committed counter value N means events
up to N are committed (same transaction), so nothing is skipped. With Redis, delivery is pushed
through channels-redis and this never runs.
"""

from __future__ import annotations

import asyncio
from collections import Counter

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from .models import EventCounter
from .realtime import user_group


class _Tailer:
    def __init__(self) -> None:
        self.users: Counter[int] = Counter()
        self.seen: dict[int, int] = {}
        self.task: asyncio.Task | None = None

    async def _run(self) -> None:
        layer = get_channel_layer()
        while self.users:
            await asyncio.sleep(settings.EVENTS_TAIL_INTERVAL)
            counters = await _counters(list(self.users))
            for user_id, seq in counters.items():
                if seq > self.seen.get(user_id, 0):
                    self.seen[user_id] = seq
                    await layer.group_send(user_group(user_id), {"type": "events.available", "seq": seq})


@database_sync_to_async
def _counters(user_ids: list[int]) -> dict[int, int]:
    return dict(EventCounter.objects.filter(user_id__in=user_ids).values_list("user_id", "last_seq"))


_tailers: dict[asyncio.AbstractEventLoop, _Tailer] = {}


def tail_start(user_id: int, seq: int) -> None:
    """A socket of the user, which has seen events up to `seq`, opened in this process."""
    tailer = _tailers.setdefault(asyncio.get_running_loop(), _Tailer())
    tailer.users[user_id] += 1
    tailer.seen[user_id] = max(tailer.seen.get(user_id, 0), seq)
    if tailer.task is None or tailer.task.done():
        tailer.task = asyncio.get_running_loop().create_task(tailer._run())


def tail_stop(user_id: int) -> None:
    tailer = _tailers.get(asyncio.get_running_loop())
    if tailer is None:
        return
    tailer.users[user_id] -= 1
    if tailer.users[user_id] <= 0:
        del tailer.users[user_id]
        tailer.seen.pop(user_id, None)
    if not tailer.users:
        _tailers.pop(asyncio.get_running_loop(), None)
