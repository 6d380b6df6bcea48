"""Daily generation quotas per plan: how many generations a user may start a day.

The day is the user's quota day, from `quota_day_start`: midnight to midnight in the time zone
of the user's market (UTC without one).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from accounts.selectors import user_time_zone
from config.errors import TooManyRequests

from .models import DailyUsage


class DailyQuotaReached(TooManyRequests):
    code = "daily_quota_reached"


def quota_time_zone(user) -> tzinfo:
    """The zone the user's quota day is counted in: their market's."""
    return user_time_zone(user)


def quota_day_start(user, *, now: datetime | None = None) -> datetime:
    """The start of the user's current quota day (midnight where they are)."""
    zone = quota_time_zone(user)
    local = (now or timezone.now()).astimezone(zone)
    return datetime.combine(local.date(), time(), tzinfo=zone)


def quota_day_end(user, *, now: datetime | None = None) -> datetime:
    """When the quota resets: the next local midnight (zone arithmetic, so DST days are right)."""
    start = quota_day_start(user, now=now)
    return datetime.combine(start.date() + timedelta(days=1), time(), tzinfo=start.tzinfo)


@dataclass(frozen=True)
class QuotaStatus:
    limit: int  # 0: no limit
    used: int
    resets_at: datetime

    @property
    def remaining(self) -> int | None:
        return None if not self.limit else max(0, self.limit - self.used)


def quota_status(*, user, limit: int, now: datetime | None = None) -> QuotaStatus:
    day = quota_day_start(user, now=now)
    used = DailyUsage.objects.filter(user_id=user.pk, day_start=day).values_list("used", flat=True).first() or 0
    return QuotaStatus(limit=limit, used=used, resets_at=quota_day_end(user, now=now))


def quota_consume(*, user, limit: int, now: datetime | None = None) -> QuotaStatus:
    """Count one generation against today's quota, or raise DailyQuotaReached (429) with the
    reset time. Runs in the caller's transaction: a submission that fails later gives it back."""
    now = now or timezone.now()
    day, resets_at = quota_day_start(user, now=now), quota_day_end(user, now=now)
    with transaction.atomic():
        try:
            with transaction.atomic():
                DailyUsage.objects.get_or_create(user_id=user.pk, day_start=day)
        except IntegrityError:
            pass  # a concurrent first submission of the day made the row
        usage = DailyUsage.objects.select_for_update().get(user_id=user.pk, day_start=day)
        if limit and usage.used >= limit:
            raise DailyQuotaReached(
                f"Daily limit of {limit} generations reached; it resets at {resets_at:%Y-%m-%d %H:%M %Z}.",
                retry_after=int((resets_at - now).total_seconds()),
                extra={"resets_at": resets_at.isoformat(), "limit": limit},
            )
        DailyUsage.objects.filter(pk=usage.pk).update(used=F("used") + 1)
    return QuotaStatus(limit=limit, used=usage.used + 1, resets_at=resets_at)
