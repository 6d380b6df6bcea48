"""Engagement events for authors, batched.

A viral post gets thousands of likes a minute; its author's phone needs one
event every couple of seconds, not one per like. Each like/comment/remix adds to
a per-author Redis hash; the first one of a window schedules a flush task
FEED_ENGAGEMENT_BATCH_SECONDS later, which sends one `post.engagement` event
with the totals (through accounts.events, so with the user's seq) and empties the
hash atomically.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction

from accounts.events import event_frame, event_send_on_commit
from config.redis import get_redis
from config.tasks import task_send_now

logger = logging.getLogger(__name__)

FLUSH_TASK = "feed.tasks.flush_engagement"
KINDS = ("likes", "comments", "remixes")


def _keys(author_id: int) -> tuple[str, str]:
    return f"engage:{author_id}", f"engage:lock:{author_id}"


def engagement_on_commit(*, author_id: int, post_id: int, kind: str) -> None:
    transaction.on_commit(lambda: engagement_record(author_id=author_id, post_id=post_id, kind=kind))


def engagement_record(*, author_id: int, post_id: int, kind: str) -> None:
    client = get_redis()
    if client is None:
        # No Redis: nothing to batch across, one event each (still with the user's seq).
        event_send_on_commit(author_id, "post.engagement",
                             {"items": [{"post_id": post_id, **{k: int(k == kind) for k in KINDS}}]})
        return
    counts, lock = _keys(author_id)
    window = settings.FEED_ENGAGEMENT_BATCH_SECONDS
    pipe = client.pipeline()
    pipe.hincrby(counts, f"{post_id}:{kind}", 1)
    # The lock outlives the window so a lost flush task is retried by the next event.
    pipe.set(lock, 1, nx=True, ex=max(1, int(window * 5)))
    _, first_in_window = pipe.execute()
    if first_in_window:
        task_send_now(FLUSH_TASK, author_id, countdown=window)


def engagement_flush(*, author_id: int) -> dict | None:
    client = get_redis()
    if client is None:
        return None
    counts_key, lock = _keys(author_id)
    pipe = client.pipeline(transaction=True)
    pipe.hgetall(counts_key)
    pipe.delete(counts_key)
    pipe.delete(lock)
    raw, _, _ = pipe.execute()
    if not raw:
        return None
    items: dict[int, dict[str, int]] = {}
    for field, value in raw.items():
        post_id, kind = field.decode().split(":")
        items.setdefault(int(post_id), {k: 0 for k in KINDS})[kind] = int(value)
    data = {"items": [{"post_id": pid, **counts} for pid, counts in sorted(items.items())]}
    return event_frame("post.engagement", event_send_on_commit(author_id, "post.engagement", data), data)
