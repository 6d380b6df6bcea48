"""The daily feed time limit (teen protections): the phone reports how long the feed was on
screen with its view batches (`POST /views`, `watch_seconds`); the seconds add up per user and
local day (their market's time zone) in the cache, and the feeds answer 403
`feed_time_limit_reached` once the user's limit (accounts.selectors.user_daily_feed_minutes)
is used up. A cache counter, not a row: it is written on every view batch and only today's
matters; losing it (a Redis flush) errs towards showing the feed."""

from __future__ import annotations

from django.core.cache import cache
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.selectors import user_daily_feed_minutes, user_local_date
from config.errors import ApplicationError

DAY_SECONDS = 24 * 3600


def _key(user: User) -> str:
    return f"feed-time:{user.pk}:{user_local_date(user).isoformat()}"


def feed_seconds_today(*, user: User) -> int:
    return int(cache.get(_key(user)) or 0)


def feed_time_add(*, user: User, seconds: int) -> int:
    """Adds reported watch time to today's; returns today's total in seconds."""
    key = _key(user)
    if seconds <= 0:
        return int(cache.get(key) or 0)
    # Kept two days: a local day is over before then in every time zone.
    cache.add(key, 0, 2 * DAY_SECONDS)
    try:
        return cache.incr(key, seconds)
    except ValueError:  # expired between add and incr
        cache.set(key, seconds, 2 * DAY_SECONDS)
        return seconds


def feed_time_check(*, user: User) -> None:
    """Refuses the feed once today's watch time reached the user's daily limit."""
    minutes = user_daily_feed_minutes(user)
    if minutes is not None and feed_seconds_today(user=user) >= minutes * 60:
        raise ApplicationError(
            _("You reached your daily feed time of %(minutes)d minutes. See you tomorrow.") % {"minutes": minutes},
            code="feed_time_limit_reached", status_code=403)
