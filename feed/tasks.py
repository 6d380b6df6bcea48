"""Periodic and deferred work of the feed. Tasks only call services."""

from celery import shared_task

from . import counters, ranking, realtime


@shared_task(name="feed.tasks.refresh_scores")
def refresh_scores() -> int:
    return ranking.scores_refresh()


@shared_task(name="feed.tasks.flush_views")
def flush_views() -> int:
    return counters.views_flush()


@shared_task(name=realtime.FLUSH_TASK)
def flush_engagement(author_id: int) -> bool:
    return realtime.engagement_flush(author_id=author_id) is not None
