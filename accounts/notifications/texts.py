"""The notification types accounts causes (follows), and what they say."""

from __future__ import annotations

from datetime import timedelta

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from .registry import Channel, Group, NotificationType, actor_name, notification_type_register


def _followed(group: Group) -> tuple[str, str]:
    others = max(group.actors_count - 1, 0)
    if not others:
        return _("New follower"), _("%(name)s followed you.") % {"name": actor_name(group)}
    return _("New followers"), ngettext("%(name)s and %(count)d other followed you.",
                                        "%(name)s and %(count)d others followed you.",
                                        others) % {"name": actor_name(group), "count": others}


def notification_types_register() -> None:
    # Follows are grouped by day; a celebrity gets them by the thousand, so the socket and push
    # hear of a group at most once a minute (the inbox counts every one).
    notification_type_register(NotificationType(name="user.followed", default=Channel.IN_APP,
                                                push_ttl=timedelta(hours=12), render=_followed,
                                                throttle_seconds=60))
