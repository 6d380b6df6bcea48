"""What the OpenAPI schema says beyond each view's own decorator: the one error shape, the error
responses every operation can give, and cursor-paginated lists.

- `AutoSchema` (REST_FRAMEWORK DEFAULT_SCHEMA_CLASS) adds to every operation the errors that come
  from the shared machinery: 401 where a bearer token is read, 400 where there is a body or a
  query, 404 where the path has an id or a handle, 409 where an Idempotency-Key is taken, 413
  and 415 where there is a body, 429 where a throttle counts the method. Each is the `Error`
  component (config.errors' shape) and its description lists the `code`s it can carry.
- `errors(*codes)` in a view's `extend_schema(responses={...})` adds the codes of that operation
  (a 409 `idempotency_key_reused`, a 402 `insufficient_credits`); the common ones of the same
  status are merged in.
- `paginated(Serializer, PaginationClass)` documents a list as what it returns, a cursor page
  `{next, previous, results}`, with the paginator's `cursor` and `page_size` parameters.
"""

from __future__ import annotations

from drf_spectacular import openapi
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import SAFE_METHODS, AllowAny

from .pagination import NewestFirstCursorPagination
from .throttling import ACTION_THROTTLES


class ErrorFieldSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable and machine-readable: branch on this, not on `message`.")
    message = serializers.CharField(help_text="For people, in the request's language.")
    fields = serializers.DictField(child=ErrorFieldSerializer(many=True),
                                   help_text="Request field (`a.b`, `items.0`) -> its errors; validation only.")
    retry_after = serializers.IntegerField(required=False, help_text="429 only: seconds, as in Retry-After.")
    max_bytes = serializers.IntegerField(required=False, help_text="413 only: the largest body accepted.")
    required = serializers.IntegerField(required=False, help_text="`campaign_localization_required` only: the "
                                                                  "rendition languages the campaign needs.")
    have = serializers.IntegerField(required=False, help_text="`campaign_localization_required` only: the "
                                                              "rendition languages the post has.")


class ErrorSerializer(serializers.Serializer):
    """config.errors.error_body: every API error has this shape."""

    error = ErrorDetailSerializer()


class ErrorResponse(OpenApiResponse):
    """An error status of an operation and the codes it carries there."""

    def __init__(self, codes: tuple[str, ...]) -> None:
        self.codes = tuple(dict.fromkeys(codes))
        super().__init__(ErrorSerializer, description="Error codes: " + ", ".join(f"`{c}`" for c in self.codes))


def errors(*codes: str) -> ErrorResponse:
    """An error response for `extend_schema(responses={status: errors("code", ...)})`."""
    return ErrorResponse(codes)


class _PageShape(CursorPagination):
    """The page's shape only: the view pages on its own and documents its own parameters."""

    def get_schema_operation_parameters(self, view) -> list:
        return []


def paginated(serializer_class: type[serializers.Serializer],
              pagination_class: type | None = NewestFirstCursorPagination) -> serializers.ListSerializer:
    """The 200 of a list read in cursor pages with `pagination_class` (None: a page the view
    builds itself, {next, previous, results}, with the query parameters it declares)."""
    listed = serializer_class(many=True)
    listed._schema_pagination_class = pagination_class or _PageShape  # read by AutoSchema._get_paginator
    return listed


# The codes the shared machinery gives, by status (config.errors, config.http, config.limits,
# config.parsers, simplejwt through accounts.authentication).
BODY_400 = ("validation_error", "malformed_request")
QUERY_400 = ("validation_error",)
AUTH_401 = ("not_authenticated", "authentication_failed", "token_invalid", "session_ended")
THROTTLED_429 = ("throttled",)
TOO_LARGE_413 = ("request_too_large",)
MEDIA_TYPE_415 = ("unsupported_media_type",)
# A path whose id or handle is unknown (or not visible) says which; an id of any other shape or
# size is answered as an unknown one (config.converters); a malformed handle is `not_found`.
NOT_FOUND_BY_PARAMETER = {
    "post_id": "post_not_found",
    "comment_id": "comment_not_found",
    "job_id": "generation_not_found",
    "campaign_id": "campaign_not_found",
    "handle": "user_not_found",
}


class AutoSchema(openapi.AutoSchema):
    def _get_paginator(self):
        for serializer in self._declared_responses().values():
            pagination_class = getattr(serializer, "_schema_pagination_class", None)
            if pagination_class is not None:
                return pagination_class()
        return super()._get_paginator()

    def _declared_responses(self) -> dict:
        """The responses the view declares ({status: serializer}), as drf-spectacular reads them."""
        declared = self.get_response_serializers()
        if isinstance(declared, dict):
            return {int(str(code[0] if isinstance(code, tuple) else code)): s for code, s in declared.items()}
        if self.method == "DELETE":
            return {204: None}
        return {201 if self._is_create_operation() else 200: declared}

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        declared = self._declared_responses()
        for status_code, codes in self._common_errors().items():
            extra = declared[status_code].codes if isinstance(declared.get(status_code), ErrorResponse) else ()
            responses[str(status_code)] = self._get_response_for_code(
                ErrorResponse((*codes, *extra)), str(status_code), direction=direction)
        return dict(sorted(responses.items()))

    def _common_errors(self) -> dict[int, tuple[str, ...]]:
        found: dict[int, tuple[str, ...]] = {}
        parameters = self._get_parameters()
        has_body = self.method in ("POST", "PUT", "PATCH") and self._get_request_body() is not None
        has_query = any(p["in"] == "query" for p in parameters)
        idempotent = any(p["in"] == "header" and p["name"] == "Idempotency-Key" for p in parameters)
        if has_body or has_query or idempotent:
            found[400] = (*(BODY_400 if has_body else QUERY_400),
                          *(("cursor_invalid",) if any(p["name"] == "cursor" for p in parameters) else ()),
                          *(("idempotency_key_invalid",) if idempotent else ()))
        if self.view.get_authenticators():
            # A bad token is refused also where signing in is optional (AllowAny).
            found[401] = AUTH_401 if self._needs_auth() else AUTH_401[1:]
        path_codes = tuple(code for name, code in NOT_FOUND_BY_PARAMETER.items() if f"{{{name}}}" in self.path)
        if "{" in self.path:
            found[404] = ("not_found", *path_codes)
        if idempotent:
            found[409] = ("idempotency_key_reused",)
        if has_body:
            found[413] = TOO_LARGE_413
            found[415] = MEDIA_TYPE_415
        if self._throttled():
            found[429] = THROTTLED_429
        return found

    def _needs_auth(self) -> bool:
        return not all(isinstance(p, AllowAny) for p in self.view.get_permissions())

    def _throttled(self) -> bool:
        for throttle in self.view.get_throttles():
            if isinstance(throttle, tuple(ACTION_THROTTLES)) and self.method in SAFE_METHODS:
                continue  # counted on writes only
            return True
        return False
