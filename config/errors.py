"""One error shape for every API error.

    {"error": {"code": "...", "message": "...", "fields": {...}}}

`code` is stable and machine-readable; `message` is for people; `fields` maps a
request field to a list of {"code", "message"} (validation errors only).
Services raise ApplicationError (or a subclass); DRF and Django errors are
translated here, so views never build error bodies themselves.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, JsonResponse
from django.utils.translation import gettext
from django.views.decorators.csrf import csrf_exempt
from django.views.defaults import page_not_found, server_error
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger(__name__)


class ApplicationError(Exception):
    """A business rule said no. Raised by services; rendered as a 4xx."""

    status_code = status.HTTP_400_BAD_REQUEST
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, status_code: int | None = None,
                 fields: dict[str, Any] | None = None, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code
        self.fields = fields or {}
        # More machine-readable keys of the error, beside code and message (e.g. the counts a
        # rule wanted and found).
        self.extra = extra or {}


class NotFound(ApplicationError):
    status_code = status.HTTP_404_NOT_FOUND
    code = "not_found"


class Forbidden(ApplicationError):
    status_code = status.HTTP_403_FORBIDDEN
    code = "permission_denied"


class Conflict(ApplicationError):
    status_code = status.HTTP_409_CONFLICT
    code = "conflict"


class TooManyRequests(ApplicationError):
    """Come back later: a 429 with Retry-After, in the header and as `retry_after` in the body
    (the same as DRF's Throttled below)."""

    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    code = "throttled"

    def __init__(self, message: str, *, retry_after: int, code: str | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        super().__init__(message, code=code, extra=extra)  # extra: e.g. a quota's `resets_at`
        self.retry_after = max(1, int(retry_after))


# DRF exception class -> stable code. DRF's own default codes are mostly fine;
# these make the common ones explicit and independent of DRF's wording.
_DRF_CODES: dict[type[exceptions.APIException], str] = {
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
    exceptions.ParseError: "malformed_request",
    exceptions.ValidationError: "validation_error",
}


def error_body(code: str, message: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def _flatten_fields(details: Any, prefix: str = "") -> dict[str, list[dict[str, str]]]:
    """DRF full details -> {"field" or "field.sub" or "items.0.name": [{"code", "message"}]}."""
    out: dict[str, list[dict[str, str]]] = {}
    if isinstance(details, dict):
        if set(details) == {"message", "code"}:
            out.setdefault(prefix or "non_field_errors", []).append(
                {"code": str(details["code"]), "message": str(details["message"])}
            )
            return out
        for key, value in details.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            for k, v in _flatten_fields(value, name).items():
                out.setdefault(k, []).extend(v)
    elif isinstance(details, list):
        for index, item in enumerate(details):
            is_leaf = isinstance(item, dict) and set(item) == {"message", "code"}
            name = prefix if is_leaf else (f"{prefix}.{index}" if prefix else str(index))
            for k, v in _flatten_fields(item, name).items():
                out.setdefault(k, []).extend(v)
    return out


def _validation_response(details: Any) -> Response:
    fields = _flatten_fields(details)
    if list(fields) == ["non_field_errors"] and len(fields["non_field_errors"]) == 1:
        # A single error about the request as a whole: promote its code.
        only = fields["non_field_errors"][0]
        return Response(error_body(only["code"], only["message"]), status=status.HTTP_400_BAD_REQUEST)
    first = next(iter(fields.values()))[0] if fields else {"message": gettext("Invalid input.")}
    return Response(
        error_body("validation_error", first["message"], fields),
        status=status.HTTP_400_BAD_REQUEST,
    )


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, TooManyRequests):
        body = error_body(exc.code, exc.message)
        body["error"]["retry_after"] = exc.retry_after
        body["error"].update(exc.extra)
        return Response(body, status=exc.status_code, headers={"Retry-After": str(exc.retry_after)})
    if isinstance(exc, ApplicationError):
        body = error_body(exc.code, exc.message, exc.fields)
        body["error"].update(exc.extra)
        return Response(body, status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(detail=exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # an unexpected exception: Django logs it and returns 500

    if isinstance(exc, exceptions.ValidationError):
        return _validation_response(exc.get_full_details())

    assert isinstance(exc, exceptions.APIException)
    code = next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), None)
    detail = exc.detail
    if isinstance(detail, dict):
        # simplejwt puts {"detail", "code", "messages"} here.
        message = str(detail.get("detail", exc.default_detail))
        code = str(detail.get("code") or code or exc.default_code)
    elif isinstance(detail, list):
        message = " ".join(str(d) for d in detail) or str(exc.default_detail)
    else:
        message = str(detail)
        code = code or str(getattr(detail, "code", None) or exc.default_code)
    body = error_body(code or exc.default_code, message)
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        body["error"]["retry_after"] = int(exc.wait)
    response.data = body
    return response


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


@csrf_exempt  # the API uses bearer tokens: a POST to an unknown path is a JSON 404, not a CSRF page
def json_404(request: HttpRequest, exception: Exception | None = None):
    """Django's 404 for paths no DRF view matched (e.g. /api/v1/nope)."""
    if _is_api(request):
        return JsonResponse(error_body("not_found", gettext("Not found.")), status=404)
    return page_not_found(request, exception)


def json_500(request: HttpRequest):
    if _is_api(request):
        return JsonResponse(error_body("server_error", gettext("Something went wrong on our side.")), status=500)
    return server_error(request)
