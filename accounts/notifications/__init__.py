"""The notifications inbox, on the one event path: what happened to a user, grouped, with
per-type channels (inbox, push, both, off). Apps register their types and call `notify`."""

from .registry import (
    Channel,
    Group,
    NotificationType,
    actor_name,
    notification_silencer_register,
    notification_type_register,
    notification_types,
)
from .services import (
    notification_retract,
    notifications_about_delete,
    notifications_from_actor_delete,
    notify,
)

__all__ = [
    "Channel", "Group", "NotificationType", "actor_name", "notification_retract", "notification_silencer_register",
    "notification_type_register", "notification_types", "notifications_about_delete",
    "notifications_from_actor_delete", "notify",
]
