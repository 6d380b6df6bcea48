"""The notification types cameos cause, and what they say (rendered when read)."""

from __future__ import annotations

from datetime import timedelta

from django.utils.translation import gettext as _

from ..notifications.registry import Channel, Group, NotificationType, actor_name, notification_type_register


def _requested(group: Group) -> tuple[str, str]:
    return _("Cameo request"), _("%(name)s asked to use your cameo.") % {"name": actor_name(group)}


def _approved(group: Group) -> tuple[str, str]:
    return _("Cameo approved"), _("%(name)s let you use their cameo.") % {"name": actor_name(group)}


def _revoked(group: Group) -> tuple[str, str]:
    return _("Cameo permission removed"), _("%(name)s no longer lets you use their cameo.") % {
        "name": actor_name(group)}


def _verified(group: Group) -> tuple[str, str]:
    return _("Your cameo is ready"), _("You and the people you allow can now put you in videos.")


def _rejected(group: Group) -> tuple[str, str]:
    return _("Your cameo could not be verified"), _("Record a new clip and say the phrase shown.")


def _taken_down(group: Group) -> tuple[str, str]:
    return _("A video of yours was taken down"), _(
        "It uses a cameo its owner no longer lets you use. It comes back if they allow you again.")


def _job_canceled(group: Group) -> tuple[str, str]:
    return _("A video was canceled"), _("A cameo in it is no longer yours to use. Your credits are back.")


def notification_types_register() -> None:
    for name, render, default in (
        ("cameo.requested", _requested, Channel.BOTH), ("cameo.approved", _approved, Channel.BOTH),
        ("cameo.revoked", _revoked, Channel.IN_APP), ("cameo.verified", _verified, Channel.BOTH),
        ("cameo.rejected", _rejected, Channel.BOTH), ("cameo.post_taken_down", _taken_down, Channel.BOTH),
        ("cameo.job_canceled", _job_canceled, Channel.IN_APP),
    ):
        notification_type_register(NotificationType(name=name, default=default, push_ttl=timedelta(days=1),
                                                    render=render))
