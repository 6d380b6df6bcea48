"""The one way any app emits realtime: `event_send_on_commit(user_id, type, data)`.

Each event gets the user's next sequence number (`seq`, 1, 2, 3, ... per user, across every
event type and process) from a counter row bumped by one `INSERT ... ON CONFLICT DO UPDATE
... RETURNING` (the row stays locked until the caller's transaction ends), and is stored in
the event table in that same transaction. So a rolled-back change leaves neither a number
nor an event behind, and a user's numbers have no holes: seq N committed before N+1.

After commit the frame `{"type": ..., "seq": ..., **data}` goes to the user's Channels group
(every open socket of the user). A socket that sees a seq jump reads the missing ones from
the table (accounts.consumers); on the in-memory layer (no Redis) the socket server also
tails the table (accounts.events_tail), which is how a worker's events reach it. Events are
kept EVENTS_RETENTION_SECONDS for resume (`GET /api/v1/events?after=`, `/ws/?after=`).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from config.errors import ApplicationError

from .models import Event, EventCounter
from .realtime import user_group

logger = logging.getLogger(__name__)

RESERVED_KEYS = frozenset({"type", "seq"})
PRUNE_BATCH = 5000


class EventsExpired(ApplicationError):
    code = "events_expired"
    status_code = 410


def event_frame(event_type: str, seq: int, data: dict[str, Any]) -> dict[str, Any]:
    """What a socket and `GET /events` show of one event."""
    return {"type": event_type, "seq": seq, **data}


def _next_seq(user_id: int) -> int:
    table = connection.ops.quote_name(EventCounter._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (user_id, last_seq) VALUES (%s, 1) "
            f"ON CONFLICT (user_id) DO UPDATE SET last_seq = {table}.last_seq + 1 RETURNING last_seq",
            [user_id],
        )
        return int(cursor.fetchone()[0])


def event_send_on_commit(user_id: int, event_type: str, data: dict[str, Any]) -> int:
    """Store an event for the user with their next seq, in the current transaction (or one of its
    own), and send it to every open socket of the user once that commits. Returns the seq."""
    if RESERVED_KEYS & data.keys():
        raise ValueError(f"event data may not hold {sorted(RESERVED_KEYS & data.keys())}")
    with transaction.atomic():
        seq = _next_seq(user_id)
        Event.objects.create(user_id=user_id, seq=seq, type=event_type, data=data)
    frame = event_frame(event_type, seq, data)
    transaction.on_commit(lambda: event_deliver_now(user_id, frame))
    return seq


def event_send_now(user_id: int, event_type: str, data: dict[str, Any]) -> int | None:
    """For code outside any transaction (tasks): the same, committed at once. None when the
    user is gone (their rows cascade away, so there is nobody to tell)."""
    try:
        with transaction.atomic():
            return event_send_on_commit(user_id, event_type, data)
    except IntegrityError:
        logger.info("events.user_gone", extra={"user_id": user_id, "type": event_type})
        return None


def event_deliver_now(user_id: int, frame: dict[str, Any]) -> None:
    """Hand a stored event to the user's open sockets. A lost send costs nothing durable: the
    sockets catch up from the table on the next seq they see (or tail it, without Redis)."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(user_group(user_id), {"type": "user.event", "event": frame})
    except Exception:  # the broker is down: resume covers it
        logger.exception("events.deliver_failed", extra={"user_id": user_id, "seq": frame.get("seq")})


# --- reading (resume) ----------------------------------------------------------------------------


def event_last_seq(user_id: int) -> int:
    return EventCounter.objects.filter(user_id=user_id).values_list("last_seq", flat=True).first() or 0


def events_after(*, user_id: int, after: int, limit: int) -> list[dict[str, Any]]:
    """The user's frames with seq > after, in order, at most `limit`; EventsExpired when some of
    them are no longer kept (or `after` is past the user's latest seq: the log is not the one
    the client knew). Either way the app re-reads state over REST and goes on from `seq` now."""
    last = event_last_seq(user_id)  # read first: every seq up to it is committed
    rows = list(Event.objects.filter(user_id=user_id, seq__gt=after).order_by("seq")
                .values_list("seq", "type", "data")[:limit])
    if after > last or (after < last and (not rows or rows[0][0] != after + 1)):
        raise EventsExpired(_("Events after this seq are no longer kept; re-read the state you show."))
    return [event_frame(event_type, seq, data) for seq, event_type, data in rows]


def events_prune() -> int:
    """Delete events older than EVENTS_RETENTION_SECONDS (beat: accounts.tasks.prune_events)."""
    cutoff = timezone.now() - timedelta(seconds=settings.EVENTS_RETENTION_SECONDS)
    deleted = 0
    while True:
        ids = list(Event.objects.filter(created_at__lt=cutoff).values_list("pk", flat=True)[:PRUNE_BATCH])
        if not ids:
            break
        deleted += Event.objects.filter(pk__in=ids).delete()[0]
    if deleted:
        logger.info("events.pruned", extra={"deleted": deleted})
    return deleted
