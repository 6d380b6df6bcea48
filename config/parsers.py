"""Request body parsers (REST_FRAMEWORK's DEFAULT_PARSER_CLASSES): DRF's, with two refusals
before anything reaches a serializer or the database.

- JSON nested deeper than REQUEST_JSON_MAX_DEPTH: 400 `json_too_deep`. The depth is counted on
  the text, before the decoder runs: CPython's decoder recurses once a level, so a few thousand
  `[` would end in a RecursionError (a 500) inside it, and whatever deep value it did return
  would recurse again in every serializer and encoder after it.
- A NUL character in any string or key, JSON or form: 400 `validation_error` naming the field
  (`null_characters_not_allowed`, DRF's CharField code). PostgreSQL refuses NUL in text and
  jsonb, and DRF checks it only in CharField; here no field type, present or future, lets one by.

Body size is capped before any parser reads (config.limits).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from itertools import accumulate
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.utils.translation import gettext as _
from rest_framework import parsers, status
from rest_framework.exceptions import APIException, ErrorDetail, ParseError, ValidationError
from rest_framework.utils import json

NULL_CHARACTER_CODE = "null_characters_not_allowed"

# A JSON string (escapes included), so that brackets inside strings are not counted.
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]+")
_DEPTH_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


# DRF exceptions, not config.errors' (which imports DRF's views, which import these parsers):
# config.errors renders them with their default_code.
class JsonTooDeep(APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "json_too_deep"


class RequestTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"


def json_depth(text: str) -> int:
    """How deeply arrays and objects nest in a JSON text, counted without parsing it (so without
    recursion, and in C-speed passes: a regex pass drops strings, another all but brackets)."""
    brackets = _NOT_A_BRACKET.sub("", _JSON_STRING.sub("", text))
    return max(accumulate(map(_DEPTH_STEP.__getitem__, brackets)), default=0)


def check_json_depth(text: str, limit: int | None = None) -> None:
    limit = settings.REQUEST_JSON_MAX_DEPTH if limit is None else limit
    if json_depth(text) > limit:
        raise JsonTooDeep(_("JSON may nest arrays and objects at most %(limit)d deep.") % {"limit": limit})


def null_character_path(data: Any) -> str | None:
    """The path ("field", "items.0.name") of the first string or key holding a NUL, or None.
    Iterative: the data may be as deep as the depth limit allows."""
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return path or "non_field_errors"
        elif isinstance(value, Mapping):
            for key, item in value.items():
                key = str(key)
                name = f"{path}.{key}" if path else key
                if "\x00" in key:
                    return name.replace("\x00", "\\u0000")
                # A form's QueryDict holds a list of values a key; a JSON object one value.
                values = value.getlist(key) if hasattr(value, "getlist") else [item]
                stack.extend((name, v) for v in reversed(values))
        elif isinstance(value, list | tuple):
            stack.extend((f"{path}.{i}" if path else str(i), v) for i, v in reversed(list(enumerate(value))))
        elif hasattr(value, "name") and isinstance(value.name, str) and "\x00" in value.name:
            return path  # an uploaded file's name
    return None


def check_null_characters(data: Any) -> None:
    path = null_character_path(data)
    if path is not None:
        message = _("Null characters are not allowed.")
        raise ValidationError({path: [ErrorDetail(message, code=NULL_CHARACTER_CODE)]})


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = stream.read().decode(encoding) if stream is not None else ""
        except (UnicodeDecodeError, LookupError) as exc:
            raise ParseError(_("JSON parse error - %(error)s") % {"error": exc}) from exc
        check_json_depth(text)
        try:
            data = json.loads(text, parse_constant=json.strict_constant if self.strict else None)
        except ValueError as exc:
            raise ParseError(_("JSON parse error - %(error)s") % {"error": exc}) from exc
        # Only an escape can put a NUL in JSON text (a raw one is a parse error above).
        if "\\u0000" in text:
            check_null_characters(data)
        return data


class FormParser(parsers.FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        check_null_characters(data)
        return data


class MultiPartParser(parsers.MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            result = super().parse(stream, media_type, parser_context)
        # Django's own limits (DATA_UPLOAD_MAX_*), raised as SuspiciousOperation, which DRF does
        # not translate: without this they left the API's error shape.
        except RequestDataTooBig as exc:
            raise RequestTooLarge(_("The form's fields are too large.")) from exc
        except (TooManyFieldsSent, TooManyFilesSent) as exc:
            raise ParseError(_("The form has too many fields or files.")) from exc
        check_null_characters(result.data)
        check_null_characters(result.files)
        return result
