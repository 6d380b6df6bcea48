"""Writing the inbox: `notify` is how every app tells a user that something happened.

One rule for every type (the user's channel for it, NotificationSetting, else the type's
default): `off` stores nothing; `in_app` stores it for the inbox and tells the user's open
sockets (`notification.created`, through accounts.events like every realtime event);
`push` and `both` also hand it to a task that sends FCM push when none of the user's
sockets is open (the task checks presence when it runs, outside any transaction).
Nobody hears of themselves, and a block either way or a registered silencer (feed: mutes)
drops the notification before anything is written.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Max, Q

from config.tasks import task_send_on_commit

from ..events import event_send_on_commit
from ..models import Block, Notification, NotificationMarker, NotificationSetting
from .registry import Channel, notification_type, silenced

logger = logging.getLogger(__name__)

PUSH_TASK = "accounts.tasks.push_notification"


def user_channel(user_id: int, type_name: str) -> str:
    chosen = NotificationSetting.objects.filter(user_id=user_id, type=type_name).values_list("channel", flat=True)
    return chosen.first() or notification_type(type_name).default


def _blocked_either_way(a: int, b: int) -> bool:
    return Block.objects.filter(Q(blocker_id=a, blocked_id=b) | Q(blocker_id=b, blocked_id=a)).exists()


def _first_in_window(user_id: int, group_key: str, what: str, seconds: int) -> bool:
    """At most one socket event / push per group per window for the busy types. A lost cache
    key only lets one more through: the inbox itself is counted in the table."""
    if seconds <= 0:
        return True
    return cache.add(f"notify:{what}:{user_id}:{group_key}", 1, timeout=seconds)


def notify(*, user_id: int, type: str, actor_id: int | None = None, target: str = "", subject: str = "",
           data: dict[str, Any] | None = None, group_key: str | None = None,
           dedupe_key: str | None = None) -> Notification | None:
    """Record that `type` happened to the user, in the caller's transaction; the socket event and
    the push task go out after it commits. `group_key` gathers rows into one inbox entry
    ("post.liked:12"); None makes an entry of its own. `dedupe_key`: the same thing again is no
    new notification. Returns the row, or None when nothing is written (off, self, silenced)."""
    kind = notification_type(type)
    if actor_id is not None and (actor_id == user_id or _blocked_either_way(user_id, actor_id)
                                 or silenced(user_id, actor_id)):
        return None
    channel = user_channel(user_id, type)
    if channel == Channel.OFF:
        return None
    group_key = group_key or f"{type}:{uuid.uuid4().hex[:16]}"
    try:
        with transaction.atomic():  # a savepoint: a duplicate leaves the caller's transaction usable
            row = Notification.objects.create(
                user_id=user_id, type=type, group_key=group_key, actor_id=actor_id, target=target, subject=subject,
                data=data or {}, inbox=channel in (Channel.BOTH, Channel.IN_APP), dedupe_key=dedupe_key)
    except IntegrityError:
        if dedupe_key is None:
            raise
        return None  # the same thing, told already
    if row.inbox and _first_in_window(user_id, group_key, "event", kind.throttle_seconds):
        event_send_on_commit(user_id, "notification.created",
                             {"id": row.pk, "notification_type": type, "group_key": group_key})
    if channel in (Channel.BOTH, Channel.PUSH) and _first_in_window(user_id, group_key, "push",
                                                                     kind.throttle_seconds):
        task_send_on_commit(PUSH_TASK, row.pk)
    return row


def notification_retract(*, user_id: int, dedupe_key: str) -> None:
    """The thing was undone (an unlike, an unfollow): its notification goes."""
    Notification.objects.filter(user_id=user_id, dedupe_key=dedupe_key).delete()


def notifications_about_delete(*keys: str) -> int:
    """What they were about is gone (a deleted post or comment): so are they, in every inbox."""
    keys = tuple(key for key in keys if key)
    if not keys:
        return 0
    return Notification.objects.filter(target__in=keys).delete()[0] + \
        Notification.objects.filter(subject__in=keys).delete()[0]


def notifications_from_actor_delete(*, user_id: int, actor_id: int) -> int:
    """The user blocked or muted the actor: what the actor caused leaves the user's inbox."""
    return Notification.objects.filter(user_id=user_id, actor_id=actor_id).delete()[0]


@transaction.atomic
def notifications_mark_read(*, user_id: int, up_to_id: int) -> int:
    """Everything up to `up_to_id` is read (a marker that only moves forward, and never past the
    newest notification). Returns the marker."""
    newest = Notification.objects.filter(user_id=user_id).aggregate(newest=Max("id"))["newest"] or 0
    marker, _ = NotificationMarker.objects.select_for_update().get_or_create(user_id=user_id)
    wanted = min(up_to_id, newest)
    if wanted > marker.last_read_id:
        marker.last_read_id = wanted
        marker.save(update_fields=["last_read_id"])
    return marker.last_read_id


def notification_group_dismiss(*, user_id: int, group_key: str) -> int:
    return Notification.objects.filter(user_id=user_id, group_key=group_key).delete()[0]


@transaction.atomic
def notification_settings_update(*, user_id: int, channels: dict[str, str]) -> None:
    """Set the channel of each type given (already validated); a type set to its default
    keeps no row."""
    for type_name, channel in channels.items():
        if channel == notification_type(type_name).default:
            NotificationSetting.objects.filter(user_id=user_id, type=type_name).delete()
        else:
            NotificationSetting.objects.update_or_create(user_id=user_id, type=type_name,
                                                         defaults={"channel": channel})
