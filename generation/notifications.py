"""The notification types generation causes, and what they say (rendered when read)."""

from __future__ import annotations

from datetime import timedelta

from django.utils.translation import gettext as _

from accounts.notifications import Channel, Group, NotificationType, notification_type_register


def _succeeded(group: Group) -> tuple[str, str]:
    return _("Your video is ready"), _("Tap to watch and post it.")


def _failed(group: Group) -> tuple[str, str]:
    return _("Your video could not be made"), _("Your credits are back. Tap to try again.")


def notification_types_register() -> None:
    # "Your video is ready" a day late is still worth a tap; weeks late it is noise.
    for name, render in (("generation.succeeded", _succeeded), ("generation.failed", _failed)):
        notification_type_register(NotificationType(name=name, default=Channel.BOTH, push_ttl=timedelta(days=1),
                                                    render=render))
