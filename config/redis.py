"""A shared redis-py client for the few data structures Django's cache API lacks
(hashes, sorted sets). None when REDIS_URL is not set: callers fall back."""

from __future__ import annotations

from functools import lru_cache

import redis
from django.conf import settings


@lru_cache(maxsize=4)
def _client(url: str, timeout: float) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)


def get_redis() -> redis.Redis | None:
    if not settings.REDIS_URL:
        return None
    return _client(settings.REDIS_URL, settings.REDIS_SOCKET_TIMEOUT)
