"""What every log record carries besides its message, and the plain (development) line format.

The request id comes from django-guid (its middleware sets it per request, its Celery
integration carries it into the tasks a request enqueues). The user id is ours: it is only
known once DRF has authenticated the request (accounts.authentication) or a websocket has
been accepted (accounts.consumers), so it lives in a contextvar that those set and that
every request clears first (UserIdReset, run by django-guid's middleware).
"""

from __future__ import annotations

import logging
from contextvars import ContextVar

from django_guid.integrations import Integration
from pythonjsonlogger.core import RESERVED_ATTRS

_user_id: ContextVar[int | None] = ContextVar("log_user_id", default=None)


def bind_user_id(user_id: int | None) -> None:
    """Puts the user's id on every record logged from here on in this request or socket."""
    _user_id.set(user_id)


class UserIdFilter(logging.Filter):
    """Adds `user_id`, unless the record was logged with one of its own (a job's owner, say)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "user_id", None) is None:
            record.user_id = _user_id.get()
        return True


class UserIdReset(Integration):
    """A django-guid integration, so the reset runs where the request id is set.

    The test client, and any server that reuses a context for several requests, would
    otherwise stamp the previous request's user on an anonymous one.
    """

    identifier = "UserIdReset"

    def run(self, **_kwargs) -> None:  # the new request id (guid=) is not needed here
        _user_id.set(None)


# Set on every record by the filters above; the plain line leaves them out while unknown.
_CONTEXT_FIELDS = ("request_id", "user_id")
_NOT_EXTRA = frozenset(RESERVED_ATTRS) | {"taskName"}


class PlainFormatter(logging.Formatter):
    """The usual one-line format, then every `extra` field as key=value, so development logs
    hold what the JSON lines hold."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        pairs = [
            f"{key}={value}"
            for key, value in record.__dict__.items()
            if key not in _NOT_EXTRA and not key.startswith("_")
            and not (key in _CONTEXT_FIELDS and value is None)
        ]
        line = super().formatMessage(record)
        return f"{line} {' '.join(pairs)}" if pairs else line
