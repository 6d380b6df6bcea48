"""View counting without a database write per request.

A view counts at most once per viewer, post and UTC day. The dedup is a
SET NX in the cache; the counts pile up in one Redis hash and a periodic task
adds them to `Post.views_count` in one statement per post. Seen posts also go to
a per-viewer sorted set that the for-you ranking reads. Without Redis (one
process, development) the count goes straight to the database.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import timedelta

import redis
from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from config.redis import get_redis

from .models import Post, ViewsFlush
from .ranking import seen_key

PENDING_KEY = "views:pending"
FLUSHING_KEY = f"{PENDING_KEY}:flushing"
FLUSHING_ID_KEY = f"{PENDING_KEY}:flushing-id"
FLUSH_LOCK_KEY = "views:flush-lock"
FLUSH_LOCK_SECONDS = 300
SEEN_MAX = 2000

logger = logging.getLogger(__name__)


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
    """Moves pending view counts into the database, exactly once. Returns the views added."""
    client = get_redis()
    if client is None:
        return 0
    # One flush at a time, whatever runs it (beat, a retry, an admin by hand).
    lock = client.lock(FLUSH_LOCK_KEY, timeout=FLUSH_LOCK_SECONDS)
    if not lock.acquire(blocking=False):
        return 0
    try:
        return _flush_batch(client)
    finally:
        try:
            lock.release()
        except redis.exceptions.LockError:  # it outlived its timeout: nothing left to release
            pass


def _flush_batch(client) -> int:
    # Rename first: views arriving during the flush land in a fresh hash, none is lost. The
    # batch then gets an id, unless it has one from a flush that died; the database records
    # the id with the counts, so a batch found again after a crash is only cleaned up.
    if not client.exists(FLUSHING_KEY):
        if not client.exists(PENDING_KEY):
            return 0
        client.rename(PENDING_KEY, FLUSHING_KEY)
    client.set(FLUSHING_ID_KEY, uuid.uuid4().hex, nx=True)
    batch = client.get(FLUSHING_ID_KEY).decode()
    pending = {int(k): int(v) for k, v in client.hgetall(FLUSHING_KEY).items()}
    added = 0
    try:
        with transaction.atomic():
            ViewsFlush.objects.create(batch=batch)
            for post_id, count in pending.items():
                Post.objects.filter(pk=post_id).update(views_count=F("views_count") + count)
            added = sum(pending.values())
    except IntegrityError:
        logger.warning("views batch already flushed", extra={"batch": batch})
    client.delete(FLUSHING_KEY, FLUSHING_ID_KEY)
    ViewsFlush.objects.filter(created_at__lt=timezone.now() - timedelta(days=1)).delete()
    return added
