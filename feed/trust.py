"""How much one report counts towards hiding a post: its reporter's trust.

A report is weighed once, when it is made, and the weight is stored on the row, so deciding
whether a post hides is one aggregate over its pending reports. Five accounts made this
morning must not be able to take a post down: accounts younger than
FEED_REPORT_MIN_ACCOUNT_AGE_DAYS weigh nothing (their reports still put the post in the
review queue), and an older account's weight grows with its age up to full trust at
FEED_REPORT_FULL_TRUST_DAYS. A verified email adds to it, reports that staff upheld before
add to it, reports staff rejected (they restored the post) take from it, and being blocked
by many established accounts divides it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Q

from accounts.models import Block, User

from .models import Report


def report_weight(*, reporter: User, now: datetime) -> float:
    """The weight a report by `reporter` carries now, between 0 and FEED_REPORT_MAX_WEIGHT."""
    age_days = (now - reporter.created_at) / timedelta(days=1)
    if age_days < settings.FEED_REPORT_MIN_ACCOUNT_AGE_DAYS:
        return 0.0
    weight = min(1.0, age_days / max(settings.FEED_REPORT_FULL_TRUST_DAYS, 1))
    if reporter.email_verified:
        weight += settings.FEED_REPORT_VERIFIED_BONUS
    history = Report.objects.filter(reporter=reporter, upheld__isnull=False).aggregate(
        upheld_count=Count("pk", filter=Q(upheld=True)), rejected_count=Count("pk", filter=Q(upheld=False)))
    weight += (settings.FEED_REPORT_UPHELD_BONUS * history["upheld_count"]
               - settings.FEED_REPORT_REJECTED_PENALTY * history["rejected_count"])
    # Only established accounts' blocks count: otherwise a batch of fresh accounts could block a
    # trusted reporter into silence.
    established = now - timedelta(days=settings.FEED_REPORT_MIN_ACCOUNT_AGE_DAYS)
    blocked_by = Block.objects.filter(blocked=reporter, blocker__created_at__lte=established,
                                      blocker__is_active=True).count()
    weight /= 1 + blocked_by / max(settings.FEED_REPORT_BLOCKS_HALVING, 1)
    return round(min(max(weight, 0.0), settings.FEED_REPORT_MAX_WEIGHT), 3)
