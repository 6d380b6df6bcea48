"""Inputs that used to crash the API: NUL bytes in paths, query strings, headers and bodies,
control characters in one-line text, JSON nested thousands deep. Each answers a 4xx in the
error shape and changes nothing. (Body size and image pixels: test_body_limits.py.)"""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts.models import User
from config.parsers import json_depth
from feed.models import MutedHashtag
from tests.rows import table_rows

pytestmark = pytest.mark.django_db


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


# --- NUL bytes and over-long values in paths ----------------------------------------------

_SAMPLE = {"int": "1", "uuid": "00000000-0000-4000-8000-000000000000"}


def _routes(patterns=None, prefix=""):
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            if pattern.namespace != "admin":  # Django's own; the admin's NUL path is tested below
                yield from _routes(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern) and getattr(pattern.pattern, "converters", None):
            yield prefix + str(pattern.pattern), pattern


def _text_param_routes() -> list[tuple[str, str]]:
    """(method, URL) for every route with a text path parameter, that parameter a NUL."""
    found = []
    for route, pattern in _routes():
        text = [name for name, conv in pattern.pattern.converters.items()
                if type(conv).__name__.replace("Converter", "").lower() not in _SAMPLE]
        if not text:
            continue
        url = "/" + re.sub(r"<(?:(\w+):)?(\w+)>", lambda m: "%00" if m.group(2) in text else _SAMPLE[
            type(pattern.pattern.converters[m.group(2)]).__name__.replace("Converter", "").lower()], route)
        view = getattr(pattern.callback, "cls", None) or getattr(pattern.callback, "view_class", None)
        methods = [m for m in ("get", "post", "put", "patch", "delete") if hasattr(view, m)] if view else ["get"]
        found += [(method, url) for method in methods]
    return found


TEXT_PARAM_ROUTES = _text_param_routes()


def test_every_route_with_a_text_parameter_is_covered():
    # The routes of the report, so the enumeration cannot silently find nothing.
    assert {("get", "/api/v1/users/%00"), ("get", "/api/v1/users/%00/posts"), ("get", "/api/v1/users/%00/followers"),
            ("get", "/api/v1/hashtags/%00/posts"), ("get", "/s/%00"), ("post", "/api/v1/users/%00/follow"),
            ("post", "/api/v1/users/%00/mute"), ("post", "/api/v1/users/%00/block"),
            ("post", "/api/v1/hashtags/%00/mute")} <= set(TEXT_PARAM_ROUTES)


@pytest.mark.parametrize(("method", "url"), TEXT_PARAM_ROUTES)
def test_a_nul_in_a_path_parameter_is_a_404(auth_api, method, url):
    before = table_rows()

    response = getattr(auth_api, method)(url)

    assert response.status_code == 404
    if url.startswith("/api/"):
        assert response.json()["error"]["code"] == "not_found"
    assert table_rows() == before


@pytest.mark.parametrize(("method", "url"), [
    ("post", "/api/v1/hashtags/" + "a" * 101 + "/mute"),  # longer than the column: was a 500
    ("post", "/api/v1/hashtags/" + "a" * 300 + "/mute"),  # was a 204
    ("get", "/api/v1/hashtags/" + "a" * 101 + "/posts"),
    ("post", "/api/v1/users/" + "a" * 31 + "/follow"),
    ("get", "/api/v1/users/bad%20handle"),
    ("get", "/s/" + "a" * 21),
    ("get", "/api/v1/media/not%20a%20token"),
])
def test_a_path_parameter_of_the_wrong_shape_is_a_404(auth_api, method, url):
    before = table_rows()

    response = getattr(auth_api, method)(url)

    assert response.status_code == 404
    assert table_rows() == before


def test_a_nul_in_an_admin_path_is_a_404(admin_client):
    response = admin_client.get("/" + reverse("admin:index").strip("/") + "/accounts/user/%00/change/")

    assert response.status_code == 404


def test_good_path_parameters_still_resolve(auth_api):
    other = User.objects.create_user(email="ana@example.com", password="pw-long-enough-1", handle="ana.b_1")
    assert auth_api.get("/api/v1/users/ANA.B_1").json()["id"] == other.pk
    assert auth_api.post("/api/v1/hashtags/%23Cats/mute").status_code == 204
    assert list(MutedHashtag.objects.filter(user=auth_api.user).values_list("tag", flat=True)) == ["cats"]


# --- NUL bytes in query parameters, headers and bodies -------------------------------------

@pytest.mark.parametrize(("url", "param"), [
    ("/api/v1/posts/1/remixes?sort=new%00", "sort"),
    ("/api/v1/feed/for-you?cursor=%00", "cursor"),
    ("/api/v1/feed/following?page_size=1%00", "page_size"),
    ("/api/v1/feed/following?cursor=%00", "cursor"),
    ("/api/v1/billing/plans?country=U%00", "country"),
    ("/api/v1/billing/credits?cursor=%00", "cursor"),
    ("/api/v1/generations?status=%00", "status"),
    ("/api/v1/campaigns?anything=%00", "anything"),
])
def test_a_nul_in_a_query_parameter_is_a_400_naming_it(auth_api, url, param):
    before = table_rows()

    response = auth_api.get(url)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert response.json()["error"]["fields"] == {param: [
        {"code": "null_characters_not_allowed", "message": "Null characters are not allowed."}]}
    assert table_rows() == before


def test_too_many_query_parameters_is_a_400_in_the_error_shape(auth_api, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10

    response = auth_api.get("/api/v1/campaigns?" + "&".join(f"p{i}=1" for i in range(20)))

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_request"


def test_a_nul_in_the_idempotency_key_is_a_400(auth_api, sent_tasks):
    before = table_rows()

    response = auth_api.post("/api/v1/generations", {"kind": "text_to_video", "prompt": "a cat", "duration_seconds": 4,
                                                     "size": "480x854"}, HTTP_IDEMPOTENCY_KEY="key\x00")

    assert response.status_code == 400
    assert response.json()["error"]["fields"]["Idempotency-Key"][0]["code"] == "idempotency_key_invalid"
    assert table_rows() == before
    assert sent_tasks == []


@pytest.mark.parametrize(("body", "fmt", "field"), [
    ({"post_ids": [1, "\x00"]}, "json", "post_ids.1"),
    ({"post_ids": [1], "extra": {"deep": ["ok", "bad\x00"]}}, "json", "extra.deep.1"),
    ({"post_ids": [1], "key\x00": 1}, "json", "key\\u0000"),
    ({"post_ids": "1", "note": "a\x00b"}, "multipart", "note"),
])
def test_a_nul_anywhere_in_a_body_is_a_400_naming_the_field(auth_api, body, fmt, field):
    before = table_rows()

    response = auth_api.post("/api/v1/views", body, format=fmt)

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {field: [
        {"code": "null_characters_not_allowed", "message": "Null characters are not allowed."}]}
    assert table_rows() == before


def test_a_nul_in_a_form_encoded_body_is_a_400(auth_api):
    before = table_rows()

    response = auth_api.generic("PATCH", "/api/v1/me", "display_name=ok&locale=en%00",
                                content_type="application/x-www-form-urlencoded")

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["locale"]
    assert table_rows() == before


@pytest.mark.parametrize(("field", "value"), [("display_name", "Ana\x1b[31m"), ("display_name", "Ana\nBo"),
                                            ("locale", "en\tUS")])
def test_control_characters_in_one_line_text_are_a_400(auth_api, field, value):
    before = auth_api.user.__dict__.copy()

    response = auth_api.patch("/api/v1/me", {field: value}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["fields"][field][0]["code"] == "control_characters"
    auth_api.user.refresh_from_db()
    assert getattr(auth_api.user, field) == before[field]


def test_newlines_stay_allowed_in_a_bio(auth_api):
    assert auth_api.patch("/api/v1/me", {"bio": "line one\nline two"}, format="json").status_code == 200


# --- JSON depth ----------------------------------------------------------------------------

def test_json_depth_counts_brackets_outside_strings_only():
    assert json_depth("") == 0
    assert json_depth('{"a": [1, {"b": []}]}') == 4
    assert json_depth('{"a": "[[[[\\"[[[", "b": "}}}"}') == 1
    assert json_depth("[]" * 1000) == 1
    assert json_depth(_deep(5000)) == 5000


@pytest.mark.parametrize(("method", "url", "authenticated"), [
    ("patch", "/api/v1/me", True),
    ("post", "/api/v1/views", True),
    ("post", "/api/v1/auth/signup", False),
])
def test_json_nested_thousands_deep_is_a_400(api, auth_api, method, url, authenticated):
    client = auth_api if authenticated else api
    before = table_rows()

    response = client.generic(method.upper(), url, '{"bio": ' + _deep(5000) + "}", content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "json_too_deep"
    assert table_rows() == before


def test_json_up_to_the_depth_limit_is_parsed(auth_api, settings):
    settings.REQUEST_JSON_MAX_DEPTH = 3
    at_limit = auth_api.generic("PATCH", "/api/v1/me", '{"bio": [["x"]]}', content_type="application/json")
    over = auth_api.generic("PATCH", "/api/v1/me", '{"bio": [[["x"]]]}', content_type="application/json")
    in_a_string = auth_api.patch("/api/v1/me", {"bio": "[[[[[[ :-)"}, format="json")

    assert at_limit.json()["error"]["fields"]["bio"][0]["code"] == "invalid"  # the serializer's answer
    assert over.json()["error"]["code"] == "json_too_deep"
    assert in_a_string.status_code == 200
    auth_api.user.refresh_from_db()
    assert auth_api.user.bio == "[[[[[[ :-)"
