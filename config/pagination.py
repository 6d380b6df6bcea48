"""Cursor pages, one behaviour for every list of the API (the ranked feeds' own cursors in
feed.ranking answer the same way):

- `page_size` absent: the list's default; an integer from 1 to the list's `max_page_size`: that
  many; anything else (not an integer, 0, over the maximum): 400 `validation_error` with field
  `page_size`, code `page_size_invalid`. (DRF ignored a bad one and capped a big one.)
- `cursor` that this API did not hand out (not decodable, or its position not a value of the
  ordering column): 400 `cursor_invalid`. (DRF answered 404 `not_found`.)
"""

from __future__ import annotations

from base64 import b64decode
from urllib.parse import parse_qs

from django.core.exceptions import FieldDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from django.utils.translation import gettext as _
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination

from .converters import ID_MAX
from .errors import ApplicationError

PAGE_SIZE_PARAM = "page_size"


class CursorInvalid(ApplicationError):
    code = "cursor_invalid"


def page_size_from(raw: str | None, *, default: int, maximum: int) -> int:
    """The `page_size` query parameter of a list: `default` when absent, else 1..maximum or a 400."""
    if raw is None or raw == "":
        return default
    size = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 6 else 0
    if not 1 <= size <= maximum:
        message = _("Use a whole number from 1 to %(max)d.") % {"max": maximum}
        raise ApplicationError(message, code="validation_error",
                               fields={PAGE_SIZE_PARAM: [{"code": "page_size_invalid", "message": message}]})
    return size


_CURSOR_TOKENS = {"o", "r", "p"}  # what DRF's encode_cursor writes: offset, reverse, position


def _tokens(encoded: str) -> set[str]:
    """The names in a cursor DRF decoded already, or {"?"}: none is not a cursor it wrote."""
    tokens = set(parse_qs(b64decode(encoded.encode("ascii")).decode("ascii"), keep_blank_values=True))
    return tokens or {"?"}


def cursor_invalid() -> CursorInvalid:
    return CursorInvalid(_("This cursor is not valid; start again from the first page."))


class StrictCursorPagination(CursorPagination):
    """DRF's cursor pages with the answers above."""

    page_size_query_param = PAGE_SIZE_PARAM

    def paginate_queryset(self, queryset, request, view=None):
        self._model = getattr(queryset, "model", None)
        return super().paginate_queryset(queryset, request, view)

    def get_page_size(self, request) -> int:
        return page_size_from(request.query_params.get(self.page_size_query_param),
                              default=self.page_size, maximum=self.max_page_size)

    def decode_cursor(self, request):
        try:
            cursor = super().decode_cursor(request)
        except NotFound as exc:
            raise cursor_invalid() from exc
        if cursor is None:
            return None
        if not _tokens(request.query_params.get(self.cursor_query_param, "")) <= _CURSOR_TOKENS:
            raise cursor_invalid()  # DRF read any other text (a feed's cursor too) as the first page
        if cursor.position is not None:
            self._check_position(cursor.position)
        return cursor

    def _check_position(self, position: str) -> None:
        # The position is compared with the first ordering column in SQL: a value of another
        # type (a date that is not one, a number past the column) must not reach the query.
        ordering = self.ordering if isinstance(self.ordering, str) else self.ordering[0]
        try:
            field = self._model._meta.get_field(ordering.lstrip("-")) if self._model is not None else None
        except FieldDoesNotExist:
            return
        if field is None:
            return
        try:
            value = field.to_python(position)
        except DjangoValidationError as exc:
            raise cursor_invalid() from exc
        if isinstance(field, models.IntegerField) and not -ID_MAX - 1 <= value <= ID_MAX:
            raise cursor_invalid()


class NewestFirstCursorPagination(StrictCursorPagination):
    """Opaque cursor pages, newest first. Stable while rows are added (no skips, no repeats)."""

    page_size = 20
    max_page_size = 100
    ordering = ("-created_at", "-id")
