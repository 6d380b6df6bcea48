"""Request-reading helpers shared by every app's views: one copy each."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request

IDEMPOTENCY_KEY_MAX_LENGTH = 128

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key", str, OpenApiParameter.HEADER, required=False,
    description="Same key + same body returns the same result; same key + another body is a 409.",
)


def validated(serializer_class, request: Request, *, partial: bool = False) -> dict:
    """The request body through `serializer_class`, or the one 400 shape (config.errors)."""
    serializer = serializer_class(data=request.data, partial=partial)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def idempotency_key(request: Request) -> str | None:
    """The Idempotency-Key header: None when absent, a 400 when empty or too long."""
    key = request.headers.get("Idempotency-Key")
    if key is not None and not (1 <= len(key) <= IDEMPOTENCY_KEY_MAX_LENGTH):
        raise ValidationError({"Idempotency-Key": [f"Use 1-{IDEMPOTENCY_KEY_MAX_LENGTH} characters."]},
                              code="idempotency_key_invalid")
    return key
