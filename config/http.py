"""Request-reading helpers shared by every app's views: one copy each."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping

from django.conf import settings
from django.http import HttpRequest
from django.utils.translation import gettext, gettext_lazy
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request

from .converters import ID_MAX
from .errors import ApplicationError

IDEMPOTENCY_KEY_MAX_LENGTH = 128

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key", str, OpenApiParameter.HEADER, required=False,
    description="Same key + same body returns the same result; same key + another body is a 409.",
)


def validated(serializer_class, request: Request, *, partial: bool = False) -> dict:
    """The request body through `serializer_class`, or the one 400 shape (config.errors).

    A body that is not an object (a JSON array, string or number) is a `validation_error` like
    any other bad body, with code `not_an_object` (DRF's own answer had the generic `invalid`)."""
    if not isinstance(request.data, Mapping):
        message = gettext("Send the fields as a JSON object.")
        raise ApplicationError(message, code="validation_error",
                               fields={"non_field_errors": [{"code": "not_an_object", "message": message}]})
    serializer = serializer_class(data=request.data, partial=partial)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def idempotency_key(request: Request) -> str | None:
    """The Idempotency-Key header: None when absent, a 400 when empty, too long or holding a
    control character (a NUL would reach PostgreSQL, which refuses it)."""
    key = request.headers.get("Idempotency-Key")
    if key is not None and not (1 <= len(key) <= IDEMPOTENCY_KEY_MAX_LENGTH and key.isprintable()):
        raise ValidationError({"Idempotency-Key": [gettext("Use 1-%(max)d printable characters.") % {"max": IDEMPOTENCY_KEY_MAX_LENGTH}]},
                              code="idempotency_key_invalid")
    return key


def client_ip(request: HttpRequest | Request) -> str | None:
    """The client's address, for everything that counts or limits per client (throttles, sign-in
    lockouts, share visitors, audit rows); None when there is no valid one.

    With NUM_PROXIES = n trusted proxies in front, each appending the address it saw to
    X-Forwarded-For, the client is the n-th entry from the right: entries left of it are whatever
    the client sent. With 0 the header is ignored and the socket's address is the client's.
    """
    address = request.META.get("REMOTE_ADDR", "")
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if settings.NUM_PROXIES and forwarded:
        entries = forwarded.split(",")
        address = entries[-min(settings.NUM_PROXIES, len(entries))]
    try:
        return str(ipaddress.ip_address(address.strip()))
    except ValueError:
        return None


_CONTROL_CHARACTER = re.compile(r"[\x01-\x1f\x7f-\x9f]")  # NUL: config.parsers refuses it first


class SingleLineField(serializers.CharField):
    """Text shown on one line (a name, a locale, a version): no control characters at all, so no
    newlines, tabs or terminal escapes in profiles, admin lists and log lines."""

    default_error_messages = {"control_characters": gettext_lazy("Control characters are not allowed.")}

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if _CONTROL_CHARACTER.search(value):
            self.fail("control_characters")
        return value


class IdField(serializers.IntegerField):
    """An integer primary key in a request body or query: 1 to the largest BigAutoField, so that
    no number outside the column reaches the database (a 400 `min_value`/`max_value` instead)."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", ID_MAX)
        super().__init__(**kwargs)
