"""FCM push of one notification (accounts.tasks.push_notification), outside any transaction.

Sent only when none of the recipient's sockets is open: an open app hears it on the socket
(`notification.created`). The text is rendered now, in the recipient's language; the
collapse key is the inbox group, so a newer push about the same group replaces the older
one on the lock screen; the TTL is the type's.
"""

from __future__ import annotations

import hashlib

from ..presence import user_is_online
from ..push import push_to_user
from .registry import notification_type
from .selectors import notification_for_push

# APNs' collapse id is at most 64 bytes.
_COLLAPSE_MAX = 64
_STATE_KEYS = frozenset({"status", "reason"})


def _collapse_key(group_key: str) -> str:
    if len(group_key.encode()) <= _COLLAPSE_MAX:
        return group_key
    return hashlib.sha256(group_key.encode()).hexdigest()[:_COLLAPSE_MAX]


def _push_data(row) -> dict[str, str]:
    """FCM data is string pairs: the type, the ids the app opens and their status; no free text
    (a review reason, a caption) rides in a push payload: the app reads it over REST."""
    data = {key: str(value) for key, value in row.data.items()
            if (key.endswith("_id") or key in _STATE_KEYS) and isinstance(value, (str, int))
            and not isinstance(value, bool)}
    return {**data, "type": row.type, "notification_id": str(row.pk), "group_key": row.group_key}


def notification_push(*, notification_id: int, device_ids: list[int] | None = None) -> int:
    """Returns how many devices FCM accepted; raises accounts.push.PushRetry to the task."""
    found = notification_for_push(notification_id)
    if found is None:
        return 0
    row, (title, body) = found
    if user_is_online(row.user_id):
        return 0
    return push_to_user(user_id=row.user_id, title=title, body=body, data=_push_data(row),
                        collapse_key=_collapse_key(row.group_key), ttl=notification_type(row.type).push_ttl,
                        device_ids=device_ids)
