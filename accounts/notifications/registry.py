"""Notification types: each app registers the ones it causes (in its AppConfig.ready), with
the default channel, how long a push stays news, and how to say it.

A type's `render(group)` returns (title, body) for a group of notifications of that type;
it runs when the inbox is read or a push is sent, inside `translation.override` of the
reader's language, so it must call gettext/ngettext itself and never return stored text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable

from django.utils.translation import gettext as _

from ..models import NotificationSetting, User

Channel = NotificationSetting.Channel


@dataclass(frozen=True)
class Group:
    """What a renderer sees: one group of the inbox, or the one notification a push is for."""

    user: User  # who reads it
    type: str
    count: int  # notifications in the group
    actors_count: int  # distinct people in it
    actors: list[User]  # the most recent few, newest first
    data: dict[str, Any]  # of the newest notification
    latest_at: datetime


Renderer = Callable[[Group], tuple[str, str]]


@dataclass(frozen=True)
class NotificationType:
    name: str  # e.g. "post.liked"; stable, clients filter by it
    default: str  # a Channel value
    push_ttl: timedelta  # after this, FCM drops an undelivered push
    render: Renderer
    # Grouped types (likes, follows) can arrive by the thousand: a socket event and a push go
    # out at most once per group per this many seconds; the inbox counts every one.
    throttle_seconds: int = 0


_TYPES: dict[str, NotificationType] = {}
# Checks that silence a notification: (recipient_id, actor_id) -> True to drop it. Apps add
# theirs (feed: mutes) in AppConfig.ready; blocks are accounts' own and always checked.
_SILENCERS: list[Callable[[int, int], bool]] = []


def notification_type_register(kind: NotificationType) -> None:
    if kind.default not in Channel.values:
        raise ValueError(f"{kind.name}: default channel {kind.default!r} is not one of {Channel.values}")
    _TYPES[kind.name] = kind


def notification_silencer_register(check: Callable[[int, int], bool]) -> None:
    if check not in _SILENCERS:
        _SILENCERS.append(check)


def notification_type(name: str) -> NotificationType:
    return _TYPES[name]


def notification_types() -> dict[str, NotificationType]:
    return dict(sorted(_TYPES.items()))


def actor_name(group: Group) -> str:
    """How a text names the newest person in a group."""
    if not group.actors:
        return _("Someone")
    actor = group.actors[0]
    return actor.display_name or f"@{actor.handle}"


def silenced(recipient_id: int, actor_id: int) -> bool:
    return any(check(recipient_id, actor_id) for check in _SILENCERS)
