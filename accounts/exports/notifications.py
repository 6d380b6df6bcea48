"""The notification the account export causes, and what it says (rendered when read)."""

from __future__ import annotations

from datetime import timedelta

from django.utils.translation import gettext as _

from ..notifications.registry import Channel, Group, NotificationType, notification_type_register


def _ready(group: Group) -> tuple[str, str]:
    return _("Your data export is ready"), _("Download it from Settings before the link expires.")


def notification_types_register() -> None:
    notification_type_register(NotificationType(name="account.export_ready", default=Channel.BOTH,
                                                push_ttl=timedelta(days=1), render=_ready))
