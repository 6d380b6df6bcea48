"""View counting without a database write per request.

A view counts at most once per viewer, post and UTC day. The dedup is a
SET NX in the cache; the counts pile up in one Redis hash and a periodic task
adds them to `Post.views_count` in one statement per post. Seen posts also go to
a per-viewer sorted set that the for-you ranking reads. Without Redis (one
process, development) the count goes straight to the database.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from config.redis import get_redis

from .models import Post
from .ranking import seen_key

PENDING_KEY = "views:pending"
SEEN_MAX = 2000


def views_record(*, viewer_id: int, post_ids: list[int]) -> int:
    """Returns how many of these views were new today (and so will be counted)."""
    day = timezone.now().strftime("%Y%m%d")
    fresh = [pid for pid in dict.fromkeys(post_ids) if cache.add(f"view:{day}:{pid}:{viewer_id}", 1, 2 * 86400)]
    client = get_redis()
    if client is None:
        for post_id in fresh:
            Post.objects.filter(pk=post_id).update(views_count=F("views_count") + 1)
        return len(fresh)
    now = time.time()
    pipe = client.pipeline()
    for post_id in fresh:
        pipe.hincrby(PENDING_KEY, str(post_id), 1)
    if post_ids:
        key = seen_key(viewer_id)
        pipe.zadd(key, {str(pid): now for pid in post_ids})
        pipe.zremrangebyrank(key, 0, -SEEN_MAX - 1)
        pipe.expire(key, settings.FEED_SEEN_HOURS * 3600)
    pipe.execute()
    return len(fresh)


def views_flush() -> int:
    """Moves pending view counts into the database. Returns the views added."""
    client = get_redis()
    if client is None:
        return 0
    # Rename first: views arriving during the flush land in a fresh hash, none is lost.
    batch_key = f"{PENDING_KEY}:flushing"
    if not client.exists(batch_key):
        if not client.exists(PENDING_KEY):
            return 0
        client.rename(PENDING_KEY, batch_key)
    pending = {int(k): int(v) for k, v in client.hgetall(batch_key).items()}
    with transaction.atomic():
        for post_id, count in pending.items():
            Post.objects.filter(pk=post_id).update(views_count=F("views_count") + count)
    client.delete(batch_key)
    return sum(pending.values())
