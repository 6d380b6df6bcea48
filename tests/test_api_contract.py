"""Answers a generated client can rely on: ids of any shape or size, cursors, page_size, bodies
that are not objects and bad access tokens each get one answer everywhere; media URLs are
absolute and stored files are reachable only through signed URLs. Every refusal changes nothing.
(Path shapes of text parameters, NUL bytes: test_input_limits.py.)"""

from __future__ import annotations

import base64
import importlib
import re
import uuid
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import URLPattern, URLResolver, clear_url_caches, get_resolver, reverse
from rest_framework_simplejwt.tokens import AccessToken

from accounts.tests.factories import UserFactory
from config.converters import IdConverter, UuidIdConverter
from creators.tests.factories import CampaignFactory
from feed.models import Hashtag
from feed.tests.factories import CommentFactory, PostFactory
from generation.selectors import job_public_state
from tests.rows import table_rows

pytestmark = pytest.mark.django_db

BASE = "https://api.example.test"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.PUBLIC_BASE_URL = BASE + "/"


# --- Ids of any shape or size in a path ----------------------------------------------------

def _id_routes(patterns=None, prefix=""):
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            if pattern.namespace != "admin":
                yield from _id_routes(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            converters = getattr(pattern.pattern, "converters", {})
            if any(isinstance(c, IdConverter | UuidIdConverter) for c in converters.values()):
                yield prefix + str(pattern.pattern), pattern


def _id_urls(value_for) -> list[tuple[str, str]]:
    found = []
    for route, pattern in _id_routes():
        converters = pattern.pattern.converters
        url = "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: value_for(converters[m.group(1)]), route)
        view = pattern.callback.cls
        found += [(m, url) for m in ("get", "post", "put", "patch", "delete") if hasattr(view, m)]
    return found


UNKNOWN = {IdConverter: "123456789", UuidIdConverter: "6f1c2a4e-2b1d-4c3e-9f0a-1b2c3d4e5f60"}
MALFORMED = [
    {IdConverter: "99999999999999999999999", UuidIdConverter: "not-a-uuid"},
    {IdConverter: "9223372036854775808", UuidIdConverter: "6f1c2a4e-2b1d-4c3e-9f0a"},  # 2**63: past bigint
    {IdConverter: "abc", UuidIdConverter: "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz"},
    {IdConverter: "-1", UuidIdConverter: "%20"},
]


def test_every_route_with_an_id_is_covered():
    urls = {url for _, url in _id_urls(lambda c: UNKNOWN[type(c)])}
    assert {"/api/v1/posts/123456789", "/api/v1/posts/123456789/like", "/api/v1/comments/123456789/replies",
            "/api/v1/campaigns/123456789/enrol", f"/api/v1/generations/{UNKNOWN[UuidIdConverter]}",
            f"/api/v1/generations/{UNKNOWN[UuidIdConverter]}/retry"} <= urls
    assert len(urls) >= 20


@pytest.mark.parametrize("malformed", MALFORMED, ids=lambda m: m[IdConverter])
def test_a_malformed_or_out_of_range_id_gets_the_answer_of_an_unknown_id(auth_api, sent_tasks, malformed):
    PostFactory()  # something that exists, so "unknown" is not just an empty table
    unknown = _id_urls(lambda c: UNKNOWN[type(c)])
    bad = _id_urls(lambda c: malformed[type(c)])
    before = table_rows()

    answers = {}
    for (method, unknown_url), (_, bad_url) in zip(unknown, bad, strict=True):
        expected = getattr(auth_api, method)(unknown_url, {}, format="json")
        got = getattr(auth_api, method)(bad_url, {}, format="json")
        answers[(method, bad_url)] = (got.status_code, got.json()["error"]["code"])
        assert answers[(method, bad_url)] == (expected.status_code, expected.json()["error"]["code"]), bad_url

    assert answers[("get", f"/api/v1/posts/{malformed[IdConverter]}")] == (404, "post_not_found")
    assert answers[("get", f"/api/v1/generations/{malformed[UuidIdConverter]}")] == (404, "generation_not_found")
    assert answers[("get", f"/api/v1/campaigns/{malformed[IdConverter]}")] == (404, "campaign_not_found")
    assert all(400 <= status < 500 for status, _ in answers.values())
    assert table_rows() == before
    assert sent_tasks == []


def test_the_largest_id_still_reaches_the_view(auth_api):
    assert reverse("post-detail", kwargs={"post_id": 2**63 - 1}) == "/api/v1/posts/9223372036854775807"
    post = PostFactory()

    assert auth_api.get(f"/api/v1/posts/{post.pk}").json()["id"] == post.pk
    assert auth_api.get("/api/v1/posts/9223372036854775807").json()["error"]["code"] == "post_not_found"


# --- Ids out of range in a body -------------------------------------------------------------

@pytest.mark.parametrize(("url", "body", "field"), [
    ("/api/v1/views", {"post_ids": [1, 2**63]}, "post_ids.1"),
    ("/api/v1/views", {"post_ids": [10**30]}, "post_ids.0"),
    ("/api/v1/posts/{post}/comments", {"body": "hi", "parent_id": 2**63}, "parent_id"),
    ("/api/v1/campaigns/{campaign}/submissions", {"post_id": 2**63}, "post_id"),
])
def test_an_id_out_of_its_column_in_a_body_is_a_400_naming_it(auth_api, url, body, field):
    post, campaign = PostFactory(), CampaignFactory()
    before = table_rows()

    response = auth_api.post(url.format(post=post.pk, campaign=campaign.pk), body, format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert [e["code"] for e in error["fields"][field]] == ["max_value"]
    assert table_rows() == before


# --- Cursors and page_size: one answer on every list -----------------------------------------

LISTS = {  # URL: the list's largest page_size (README, API section)
    "/api/v1/generations": 100,
    "/api/v1/billing/credits": 100,
    "/api/v1/users/{handle}/followers": 100,
    "/api/v1/users/{handle}/following": 100,
    "/api/v1/creators/me/rewards": 100,
    "/api/v1/creators/me/payouts": 100,
    "/api/v1/feed/following": 50,
    "/api/v1/feed/for-you": 50,
    "/api/v1/feed/trending": 50,
    "/api/v1/users/{handle}/posts": 50,
    "/api/v1/hashtags/cats/posts": 50,
    "/api/v1/posts/{post}/comments": 50,
    "/api/v1/comments/{comment}/replies": 50,
    "/api/v1/posts/{post}/remixes": 50,
    "/api/v1/posts/{post}/remixes?sort=top": 50,
}


@pytest.fixture
def lists(auth_api):
    from creators.tests.factories import CreatorProfileFactory

    CreatorProfileFactory(user=auth_api.user)
    Hashtag.objects.create(tag="cats")
    auth_api.get("/api/v1/billing/credits")  # the credit account is made on the first read
    comment = CommentFactory()
    return {url.format(handle=auth_api.user.handle, post=comment.post_id, comment=comment.pk): size
            for url, size in LISTS.items()}


def _with(url: str, **params) -> str:
    return url + ("&" if "?" in url else "?") + "&".join(f"{k}={v}" for k, v in params.items())


def _drf_cursor(query: str) -> str:
    return base64.b64encode(query.encode()).decode()


BAD_CURSORS = ["zzz", "%25%25", _drf_cursor("p=not-a-date"), _drf_cursor("p=99999999999999999999999"),
               _drf_cursor("o=abc"), base64.urlsafe_b64encode(b'["snap", 20, 99999999999999999999]').decode(),
               base64.urlsafe_b64encode(b'["' + b"s" * 5000 + b'", 20, 1]').decode()]


def test_a_bad_cursor_is_400_cursor_invalid_on_every_list(auth_api, lists):
    before = table_rows()

    answers = {(url, cursor): auth_api.get(_with(url, cursor=cursor)) for url in lists for cursor in BAD_CURSORS}

    assert {key: (r.status_code, r.json().get("error", {}).get("code")) for key, r in answers.items()} == {
        key: (400, "cursor_invalid") for key in answers}
    assert table_rows() == before


@pytest.mark.parametrize("page_size", ["abc", "0", "-1", "1.5", "", "max+1", "99999999999999999999"])
def test_a_bad_page_size_is_400_page_size_invalid_on_every_list(auth_api, lists, page_size):
    before = table_rows()

    answers = {url: auth_api.get(_with(url, page_size=str(size + 1) if page_size == "max+1" else page_size))
               for url, size in lists.items()}

    if page_size == "":  # an empty value is the default, as an absent one
        assert {url: r.status_code for url, r in answers.items()} == dict.fromkeys(lists, 200)
        return
    assert {url: r.json()["error"] for url, r in answers.items()} == {url: {
        "code": "validation_error", "message": f"Use a whole number from 1 to {size}.",
        "fields": {"page_size": [{"code": "page_size_invalid", "message": f"Use a whole number from 1 to {size}."}]},
    } for url, size in lists.items()}
    assert table_rows() == before


def test_the_largest_page_size_of_each_list_is_served(auth_api, lists):
    answers = {url: auth_api.get(_with(url, page_size=size)) for url, size in lists.items()}

    assert {url: (r.status_code, "results" in r.json()) for url, r in answers.items()} == dict.fromkeys(
        lists, (200, True))


def test_a_later_page_keeps_the_page_size_and_checks_it(client_for, auth_api):
    author = UserFactory()
    auth_api.post(f"/api/v1/users/{author.handle}/follow")
    for _ in range(3):
        PostFactory(author=author)

    first = auth_api.get("/api/v1/feed/following?page_size=2").json()
    second = auth_api.get(first["next"])
    refused = auth_api.get(_with(first["next"], page_size="abc")) if "page_size" not in first["next"] else \
        auth_api.get(first["next"].replace("page_size=2", "page_size=abc"))

    assert len(first["results"]) == 2 and len(second.json()["results"]) == 1
    assert refused.json()["error"]["fields"]["page_size"][0]["code"] == "page_size_invalid"


# --- Bodies that are not objects, bad access tokens --------------------------------------------

@pytest.mark.parametrize("body", ["[1, 2]", '"text"', "3", "null"])
@pytest.mark.parametrize("url", ["/api/v1/generations", "/api/v1/posts", "/api/v1/views", "/api/v1/auth/login"])
def test_a_body_that_is_not_an_object_is_a_validation_error(auth_api, sent_tasks, url, body):
    before = table_rows()

    response = auth_api.post(url, body, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert response.json()["error"]["fields"]["non_field_errors"][0]["code"] == "not_an_object"
    assert table_rows() == before
    assert sent_tasks == []


def test_a_bad_access_token_is_token_invalid_over_rest_as_on_refresh(api):
    user = UserFactory()
    expired = AccessToken.for_user(user)
    expired.set_exp(lifetime=-timedelta(seconds=5))
    for_nobody = AccessToken.for_user(user)
    for_nobody["user_id"] = 10**9
    suspended_user = UserFactory(is_active=False)
    before = table_rows()

    answers = {}
    for name, token in {"garbage": "not-a-token", "expired": str(expired), "unknown user": str(for_nobody),
                        "inactive user": str(AccessToken.for_user(suspended_user)),
                        "two values": "a b"}.items():
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        response = api.get("/api/v1/me")
        answers[name] = (response.status_code, response.json()["error"]["code"])
    api.credentials()
    refresh = api.post("/api/v1/auth/refresh", {"refresh": "not-a-token"}, format="json")

    assert answers == dict.fromkeys(answers, (401, "token_invalid"))
    assert (refresh.status_code, refresh.json()["error"]["code"]) == (401, "token_invalid")
    assert table_rows() == before


# --- Media: absolute, signed URLs only ---------------------------------------------------------

def _fetch(client, url: str):
    assert url.startswith(BASE + "/api/v1/media/"), url
    return client.get(urlsplit(url).path)


def test_media_urls_are_absolute_and_fetchable(auth_api):
    post = PostFactory(author=auth_api.user)
    for name in (post.generation.video.name, post.generation.poster.name):
        default_storage.save(name, ContentFile(b"bytes of " + name.encode()))
    auth_api.user.avatar = default_storage.save("avatars/me.png", ContentFile(b"png"))
    auth_api.user.save(update_fields=["avatar"])
    campaign = CampaignFactory(cover=default_storage.save("campaigns/cover.jpg", ContentFile(b"jpg")))

    card = auth_api.get(f"/api/v1/posts/{post.pk}").json()
    job = auth_api.get(f"/api/v1/generations/{post.generation_id}").json()
    me = auth_api.get("/api/v1/me").json()
    profile = auth_api.get(f"/api/v1/users/{auth_api.user.handle}").json()
    cover = auth_api.get(f"/api/v1/campaigns/{campaign.pk}").json()["cover_url"]

    assert b"".join(_fetch(auth_api, card["video_url"]).streaming_content) == b"bytes of " + \
        post.generation.video.name.encode()
    assert _fetch(auth_api, card["poster_url"]).status_code == 200
    assert job["result"]["video_url"] == card["video_url"]
    assert job_public_state(post.generation)["result"]["poster_url"] == card["poster_url"]
    assert card["author"]["avatar_url"] == me["avatar_url"] == profile["avatar_url"]
    assert b"".join(_fetch(auth_api, me["avatar_url"]).streaming_content) == b"png"
    assert _fetch(auth_api, cover).status_code == 200


@pytest.fixture
def debug_urls(settings):
    """The URLs as `make run` builds them: DEBUG on when config.urls is imported."""
    import config.urls

    settings.DEBUG = True
    clear_url_caches()
    importlib.reload(config.urls)
    yield
    settings.DEBUG = False
    clear_url_caches()
    importlib.reload(config.urls)


def test_stored_files_are_not_served_unsigned_with_debug_on(auth_api, debug_urls, settings):
    user = UserFactory()
    name = default_storage.save(f"generation/{user.pk}/{uuid.uuid4()}/video.mp4", ContentFile(b"private video"))
    avatar = default_storage.save("avatars/a.png", ContentFile(b"png"))

    for path in (name, avatar):
        assert auth_api.get(settings.MEDIA_URL + path).status_code == 404
        assert _fetch(auth_api, default_storage.url(path)).status_code == 200  # the signed way still works


def test_the_admin_links_stored_files_through_signed_urls(admin_client):
    post = PostFactory()
    default_storage.save(post.generation.video.name, ContentFile(b"video"))

    page = admin_client.get(reverse("admin:generation_generationjob_change", args=[post.generation_id]))

    links = re.findall(r'href="([^"]*video\.mp4[^"]*|[^"]*/media/[^"]*)"', page.content.decode())
    assert page.status_code == 200
    assert links
    assert all(link.startswith(BASE + "/api/v1/media/") for link in links), links
    assert _fetch(admin_client, links[0].replace("&amp;", "&")).status_code == 200


# --- On SQLite, the database of `make run` ----------------------------------------------------

SQLITE_SCRIPT = r"""
import json
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from rest_framework.test import APIClient
from accounts.services import tokens_for_user
from accounts.tests.factories import UserFactory
client = APIClient()
client.credentials(HTTP_AUTHORIZATION="Bearer " + tokens_for_user(UserFactory())["access"])
answers = {}
for method, url, body in [("get", "/api/v1/posts/9223372036854775808", None),
                          ("get", "/api/v1/posts/99999999999999999999999/comments", None),
                          ("post", "/api/v1/posts/9223372036854775808/like", None),
                          ("get", "/api/v1/campaigns/9223372036854775808", None),
                          ("post", "/api/v1/views", {"post_ids": [9223372036854775808]}),
                          ("post", "/api/v1/posts/1/comments", {"body": "hi", "parent_id": 9223372036854775808})]:
    response = getattr(client, method)(url, body, format="json")
    answers[method + " " + url] = [response.status_code, response.json()["error"]["code"]]
print(json.dumps(answers))
"""


def test_ids_past_bigint_are_a_4xx_on_sqlite_too(tmp_path):
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "DJANGO_ENV": "development",
           "DJANGO_SETTINGS_MODULE": "config.settings", "REDIS_URL": "", "DEBUG": "false"}
    result = subprocess.run([sys.executable, "-c", SQLITE_SCRIPT], cwd=Path(__file__).resolve().parents[1], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]

    assert json.loads(result.stdout.strip().splitlines()[-1]) == {
        "get /api/v1/posts/9223372036854775808": [404, "post_not_found"],
        "get /api/v1/posts/99999999999999999999999/comments": [404, "post_not_found"],
        "post /api/v1/posts/9223372036854775808/like": [404, "post_not_found"],
        "get /api/v1/campaigns/9223372036854775808": [404, "campaign_not_found"],
        "post /api/v1/views": [400, "validation_error"],
        "post /api/v1/posts/1/comments": [400, "validation_error"],
    }
