"""Is the user connected on any device right now? Decides between websocket and push.

A counter per user in the shared cache: +1 on connect, -1 on disconnect. The key
expires PRESENCE_TTL seconds after the last connect or client ping, so a count
left behind by a crashed server process is wrong for at most that long.
"""

from __future__ import annotations

from django.core.cache import cache

PRESENCE_TTL = 120


def _key(user_id: int) -> str:
    return f"presence:{user_id}"


def presence_connected(user_id: int) -> None:
    key = _key(user_id)
    if cache.add(key, 1, timeout=PRESENCE_TTL):
        return
    try:
        cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=PRESENCE_TTL)
    cache.touch(key, PRESENCE_TTL)


def presence_seen(user_id: int) -> None:
    cache.touch(_key(user_id), PRESENCE_TTL)


def presence_disconnected(user_id: int) -> None:
    key = _key(user_id)
    try:
        if cache.decr(key) <= 0:
            cache.delete(key)
    except ValueError:
        pass  # already expired


def user_is_online(user_id: int) -> bool:
    return (cache.get(_key(user_id)) or 0) > 0
