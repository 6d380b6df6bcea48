"""Limits on what a request may carry, checked before any view, parser or query sees it.

- Body size: REQUEST_BODY_MAX_BYTES, or what REQUEST_BODY_LIMITS allows the route. Too large
  is a 413 `request_too_large`. DATA_UPLOAD_MAX_MEMORY_SIZE does not do this: Django checks it
  only in `request.body` (and for a form's non-file fields), while DRF's parsers read the
  request as a stream, so a JSON body of any size used to be parsed in full. Under ASGI,
  Django's handler reads the whole body (to disk past FILE_UPLOAD_MAX_MEMORY_SIZE) before any
  middleware runs, so BodyLimitASGIMiddleware, around the Django app in config.asgi, refuses a
  too large Content-Length before reading and stops reading a chunked body once it is too
  large. RequestLimitsMiddleware checks Content-Length again inside Django, for the other
  servers (runserver's WSGI, the test client), which read no more than Content-Length says.
- A NUL character in the path (404) or in a query parameter (400 `validation_error`):
  PostgreSQL refuses NUL in text, and nothing else in a path or query string needs one.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import TooManyFieldsSent
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, resolve
from django.utils.translation import gettext as _

from .errors import error_body
from .parsers import NULL_CHARACTER_CODE

logger = logging.getLogger(__name__)


def body_limit(path_info: str, content_type: str = "") -> int:
    """The largest body, in bytes, the route at `path_info` accepts with this content type."""
    default = settings.REQUEST_BODY_MAX_BYTES
    try:
        match = resolve(path_info)
    except Resolver404:
        return default
    limits: Mapping[str, Mapping[str, int]] = settings.REQUEST_BODY_LIMITS
    rules = limits.get(match.view_name) or (limits.get(f"{match.namespace}:*") if match.namespace else None)
    if not rules:
        return default
    media_type = content_type.split(";", 1)[0].strip().lower()
    return rules.get(media_type, rules.get("*", default))


def too_large_body(limit: int) -> dict[str, Any]:
    body = error_body("request_too_large", _("The request body must be at most %(limit)d bytes.") % {"limit": limit})
    body["error"]["max_bytes"] = limit
    return body


def _content_length(value: str | bytes | None) -> int | None:
    try:
        length = int(value) if value not in (None, "", b"") else None
    except ValueError:
        return None
    return length if length is not None and length >= 0 else None


def _refused(path: str, length: int, limit: int) -> None:
    logger.warning("http.request_too_large", extra={"path": path[:200], "bytes": length, "max_bytes": limit})


class RequestLimitsMiddleware:
    """Django's side: NUL in the path or query, and Content-Length over the route's limit."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "\x00" in request.path_info:
            raise Http404  # no route has a NUL in it; a 404 as for any unknown path
        try:
            query = request.GET.lists()
        except TooManyFieldsSent:  # DATA_UPLOAD_MAX_NUMBER_FIELDS; Django would answer in HTML
            return JsonResponse(error_body("malformed_request", _("The query has too many parameters.")), status=400)
        for name, values in query:
            if "\x00" in name or any("\x00" in value for value in values):
                field = name.replace("\x00", "\\u0000")
                message = _("Null characters are not allowed.")
                return JsonResponse(error_body("validation_error", message, {
                    field: [{"code": NULL_CHARACTER_CODE, "message": message}]}), status=400)
        length = _content_length(request.META.get("CONTENT_LENGTH"))
        if length is not None and length > settings.REQUEST_BODY_MAX_BYTES:
            limit = body_limit(request.path_info, request.content_type or "")
            if length > limit:
                _refused(request.path_info, length, limit)
                return JsonResponse(too_large_body(limit), status=413)
        return self.get_response(request)


Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]


class BodyLimitASGIMiddleware:
    """ASGI's side (HTTP only): refuses a too large body before Django's handler reads it."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length, content_type = None, ""
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                length = _content_length(value)
            elif name == b"content-type":
                content_type = value.decode("latin-1")
        path = scope["path"]
        root = scope.get("root_path") or ""
        if root and path.startswith(root):
            path = path[len(root):] or "/"
        default = settings.REQUEST_BODY_MAX_BYTES
        limit: int | None = None
        if length is not None and length > default:
            limit = body_limit(path, content_type)
            if length > limit:
                _refused(path, length, limit)
                return await _send_json(send, 413, too_large_body(limit))

        # Counted as it arrives too: a chunked body has no Content-Length, and nothing else
        # holds a body to the one it declared.
        received, exceeded = 0, False

        async def limited_receive() -> dict:
            nonlocal received, exceeded, limit
            message = await receive()
            if message["type"] == "http.request" and not exceeded:
                received += len(message.get("body", b""))
                if received > default:
                    limit = body_limit(path, content_type) if limit is None else limit
                    if received > limit:
                        # Django's handler stops reading at a disconnect and answers nothing;
                        # the 413 is sent below once it has returned.
                        exceeded = True
                        return {"type": "http.disconnect"}
            return message

        await self.app(scope, limited_receive, send)
        if exceeded:
            assert limit is not None
            _refused(path, received, limit)
            await _send_json(send, 413, too_large_body(limit))


async def _send_json(send: Send, status: int, body: dict) -> None:
    content = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(content)).encode()),
        (b"connection", b"close"),
    ]})
    await send({"type": "http.response.body", "body": content})
