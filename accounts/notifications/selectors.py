"""Reading the inbox: groups of notifications, newest first, rendered in the reader's language."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.db.models import Count, F, Max, Window
from django.db.models.functions import RowNumber
from django.utils import translation

from ..i18n import user_language
from ..models import Notification, NotificationMarker, NotificationSetting, User
from .registry import Group, notification_type, notification_types

SAMPLE_ACTORS = 3


def _last_read(user_id: int) -> int:
    return NotificationMarker.objects.filter(user_id=user_id).values_list("last_read_id", flat=True).first() or 0


def _inbox(user_id: int, types: list[str] | None):
    rows = Notification.objects.filter(user_id=user_id, inbox=True)
    return rows.filter(type__in=types) if types else rows


def _sample_actors(user_id: int, group_keys: list[str]) -> dict[str, list[User]]:
    """The newest few distinct actors of each group, in one query (a window per group)."""
    ranked = (Notification.objects.filter(user_id=user_id, inbox=True, group_key__in=group_keys,
                                          actor__isnull=False)
              .annotate(rank=Window(RowNumber(), partition_by=[F("group_key")], order_by=F("id").desc()))
              .filter(rank__lte=SAMPLE_ACTORS).select_related("actor").order_by("group_key", "-id"))
    sample: dict[str, list[User]] = defaultdict(list)
    for row in ranked:
        sample[row.group_key].append(row.actor)
    return sample


def notification_groups(*, user: User, types: list[str] | None = None, before_id: int | None = None,
                        limit: int = 20) -> list[dict[str, Any]]:
    """Up to `limit` groups whose newest notification is older than `before_id`, newest first:
    the rendered text, the count, a few actors, the newest notification's id and data."""
    groups = (_inbox(user.pk, types).values("group_key")
              .annotate(latest_id=Max("id"), count=Count("id"), actors_count=Count("actor", distinct=True))
              .order_by("-latest_id"))
    if before_id is not None:
        groups = groups.filter(latest_id__lt=before_id)
    page = list(groups[:limit])
    if not page:
        return []
    latest = Notification.objects.in_bulk([group["latest_id"] for group in page])
    actors = _sample_actors(user.pk, [group["group_key"] for group in page])
    read_up_to = _last_read(user.pk)
    result = []
    with translation.override(user_language(user)):
        for group in page:
            row = latest[group["latest_id"]]
            seen = Group(user=user, type=row.type, count=group["count"], actors_count=group["actors_count"],
                         actors=actors.get(group["group_key"], []), data=row.data, latest_at=row.created_at)
            title, body = notification_type(row.type).render(seen)
            result.append({
                "group_key": group["group_key"], "type": row.type, "title": title, "body": body,
                "count": group["count"], "actors_count": group["actors_count"], "sample_actors": seen.actors,
                "latest_id": row.pk, "latest_at": row.created_at, "unread": row.pk > read_up_to,
                "data": row.data,
            })
    return result


def notifications_unread_count(*, user_id: int, types: list[str] | None = None) -> dict[str, int]:
    """Unread groups (the badge) and unread notifications, past the read marker."""
    unread = _inbox(user_id, types).filter(id__gt=_last_read(user_id))
    return {"count": unread.values("group_key").distinct().count(), "notifications": unread.count(),
            "last_read_id": _last_read(user_id)}


def notification_settings(*, user_id: int) -> dict[str, str]:
    """Every type's channel for the user: their choice, else the type's default."""
    chosen = dict(NotificationSetting.objects.filter(user_id=user_id).values_list("type", "channel"))
    return {name: chosen.get(name, kind.default) for name, kind in notification_types().items()}


def notification_for_push(notification_id: int) -> tuple[Notification, tuple[str, str]] | None:
    """A notification and its push text in the recipient's language, or None when it is gone."""
    row = Notification.objects.select_related("user", "actor").filter(pk=notification_id).first()
    if row is None or not row.user.is_active:
        return None
    if row.group_key and row.inbox:
        count = Notification.objects.filter(user_id=row.user_id, group_key=row.group_key, inbox=True)
        counted = count.aggregate(count=Count("id"), actors=Count("actor", distinct=True))
    else:
        counted = {"count": 1, "actors": 1 if row.actor_id else 0}
    group = Group(user=row.user, type=row.type, count=counted["count"], actors_count=counted["actors"],
                  actors=[row.actor] if row.actor else [], data=row.data, latest_at=row.created_at)
    with translation.override(user_language(row.user)):
        return row, notification_type(row.type).render(group)
