"""Rate limits on the actions a bot would repeat (likes, comments, follows, reports, generations,
sign-ups), per account and per client IP; the client IP, which no header can forge; and
production refusing to guess how many proxies are in front of it."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Callable

import pytest
from django.conf import settings as django_settings
from django.test import RequestFactory

from accounts.models import Follow, User
from accounts.tests.factories import UserFactory
from config.http import client_ip
from feed.models import Comment, Like, Report
from feed.tests.factories import PostFactory
from generation.models import GenerationJob

pytestmark = pytest.mark.django_db

GENERATION = {"kind": "text_to_video", "prompt": "a corgi surfing at sunset", "duration_seconds": 4,
              "size": "480x854"}


@pytest.fixture(autouse=True)
def _generation_room(settings, tmp_path, sent_tasks):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.CREDITS_SIGNUP_GRANT = 100
    # Enough room that every allowed submission below is a new job.
    settings.GENERATION_FREE_CONCURRENT_JOBS = 10


def _rates(settings, **rates: str) -> None:
    current = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {**current, **rates}}


@dataclass
class Action:
    scope: str
    # (client, n) -> response: the n-th distinct request of this action.
    send: Callable
    # What the action changes, to compare before and after a refused request.
    state: Callable
    ok: int = 200


def _follow(client, n):
    return client.post(f"/api/v1/users/{UserFactory(handle=f'target_{n}_{client.user.pk}').handle}/follow")


ACTIONS = {
    "likes": Action("likes", lambda c, n: c.post(f"/api/v1/posts/{PostFactory().pk}/like"),
                    lambda: sorted(Like.objects.values_list("user_id", "post_id"))),
    "comments": Action("comments", lambda c, n: c.post(f"/api/v1/posts/{PostFactory().pk}/comments",
                                                       {"body": f"nice {n}"}),
                       lambda: sorted(Comment.objects.values_list("pk", flat=True)), ok=201),
    "follows": Action("follows", _follow, lambda: sorted(Follow.objects.values_list("follower_id", "followee_id"))),
    "reports": Action("reports", lambda c, n: c.post(f"/api/v1/posts/{PostFactory().pk}/reports", {"reason": "spam"}),
                      lambda: sorted(Report.objects.values_list("pk", flat=True)), ok=201),
    "generations": Action("generations", lambda c, n: c.post("/api/v1/generations", GENERATION),
                          lambda: sorted(GenerationJob.objects.values_list("pk", flat=True)), ok=201),
}


def _assert_throttled(response) -> None:
    assert response.status_code == 429, response.content
    error = response.json()["error"]
    assert error["code"] == "throttled"
    assert error["retry_after"] > 0
    assert int(response.headers["Retry-After"]) == error["retry_after"]


@pytest.mark.parametrize("name", ACTIONS)
def test_each_action_is_limited_per_account(name, settings, client_for):
    action = ACTIONS[name]
    _rates(settings, **{action.scope: "2/min", f"{action.scope}_ip": "100/min"})
    client = client_for(UserFactory())

    allowed = [action.send(client, n).status_code for n in range(2)]
    before = action.state()
    refused = action.send(client, 2)

    assert allowed == [action.ok] * 2
    _assert_throttled(refused)
    assert action.state() == before
    # Someone else at the same address still gets through.
    assert action.send(client_for(UserFactory()), 3).status_code == action.ok


@pytest.mark.parametrize("name", ACTIONS)
def test_each_action_is_limited_per_address_whatever_the_account_or_forwarded_header(name, settings, client_for):
    action = ACTIONS[name]
    _rates(settings, **{action.scope: "100/min", f"{action.scope}_ip": "2/min"})
    clients = [client_for(UserFactory()) for _ in range(3)]
    for n, client in enumerate(clients):
        client.credentials(HTTP_AUTHORIZATION=client._credentials["HTTP_AUTHORIZATION"],
                           HTTP_X_FORWARDED_FOR=f"203.0.113.{n}")

    allowed = [action.send(client, n).status_code for n, client in enumerate(clients[:2])]
    before = action.state()
    refused = action.send(clients[2], 2)

    assert allowed == [action.ok] * 2
    _assert_throttled(refused)
    assert action.state() == before
    # From another address the same account gets through.
    clients[2].credentials(HTTP_AUTHORIZATION=clients[2]._credentials["HTTP_AUTHORIZATION"],
                           REMOTE_ADDR="198.51.100.9")
    assert action.send(clients[2], 3).status_code == action.ok


def test_a_remix_and_a_retry_count_as_generations(settings, client_for):
    _rates(settings, generations="1/min")
    client = client_for(UserFactory())
    post = PostFactory()
    assert client.post("/api/v1/generations", GENERATION).status_code == 201
    job = GenerationJob.objects.get(user=client.user)
    before = sorted(GenerationJob.objects.values_list("pk", flat=True))

    remix = client.post(f"/api/v1/posts/{post.pk}/remix", {"prompt": "again"})
    retry = client.post(f"/api/v1/generations/{job.pk}/retry")

    _assert_throttled(remix)
    _assert_throttled(retry)
    assert sorted(GenerationJob.objects.values_list("pk", flat=True)) == before


def test_reading_is_not_limited_by_the_write_limit(settings, client_for):
    _rates(settings, comments="1/min")
    client = client_for(UserFactory())
    post = PostFactory()
    assert client.post(f"/api/v1/posts/{post.pk}/comments", {"body": "first"}).status_code == 201
    _assert_throttled(client.post(f"/api/v1/posts/{post.pk}/comments", {"body": "second"}))

    listed = [client.get(f"/api/v1/posts/{post.pk}/comments") for _ in range(3)]

    assert [r.status_code for r in listed] == [200] * 3
    assert [c["body"] for c in listed[-1].json()["results"]] == ["first"]


def test_default_comment_rate_fits_a_person_and_stops_a_script(client_for):
    client = client_for(UserFactory())
    post = PostFactory()

    statuses = [client.post(f"/api/v1/posts/{post.pk}/comments", {"body": f"c{n}"}).status_code for n in range(20)]
    refused = client.post(f"/api/v1/posts/{post.pk}/comments", {"body": "one too many"})

    assert statuses == [201] * 20
    _assert_throttled(refused)
    assert Comment.objects.count() == 20


def _signup(api, n, **headers):
    return api.post("/api/v1/auth/signup", {"email": f"new{n}@example.com", "password": "a-long-pass-phrase-7",
                                            "handle": f"new_{n}"}, **headers)


def test_sign_ups_are_limited_per_address_whatever_the_forwarded_header(api):
    # Default: 5 an hour from one address.
    allowed = [_signup(api, n, HTTP_X_FORWARDED_FOR=f"203.0.113.{n}").status_code for n in range(5)]

    refused = _signup(api, 5, HTTP_X_FORWARDED_FOR="203.0.113.77")

    assert allowed == [201] * 5
    _assert_throttled(refused)
    assert not User.objects.filter(email="new5@example.com").exists()
    assert User.objects.count() == 5
    assert _signup(api, 6, REMOTE_ADDR="198.51.100.9").status_code == 201


# --- the client address -------------------------------------------------------------------------


def _request(remote="10.0.0.1", forwarded=None):
    extra = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded is not None else {}
    return RequestFactory().get("/", REMOTE_ADDR=remote, **extra)


def test_without_proxies_the_forwarded_header_is_ignored(settings):
    assert settings.NUM_PROXIES == 0  # the default outside production
    assert client_ip(_request(forwarded="1.2.3.4")) == "10.0.0.1"


def test_behind_proxies_the_entry_they_appended_is_the_client(settings):
    settings.NUM_PROXIES = 1
    assert client_ip(_request(forwarded="1.1.1.1, 2.2.2.2, 198.51.100.7")) == "198.51.100.7"
    assert client_ip(_request(forwarded="198.51.100.7")) == "198.51.100.7"
    assert client_ip(_request()) == "10.0.0.1"
    settings.NUM_PROXIES = 2
    assert client_ip(_request(forwarded="1.1.1.1, 198.51.100.7, 10.0.0.2")) == "198.51.100.7"


def test_an_address_that_is_not_one_is_none(settings):
    assert client_ip(_request(remote="")) is None
    settings.NUM_PROXIES = 1
    assert client_ip(_request(forwarded="not-an-ip")) is None
    assert client_ip(_request(forwarded=" 2001:DB8::1 ")) == "2001:db8::1"


def _run_settings(env_overrides: dict) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG", "NUM_PROXIES"}}
    # Signing keys are production's own check (tests/test_production_settings.py), not this one's.
    env.update({"DJANGO_ENV": "production", "SECRET_KEY": "x" * 50, "ALLOWED_HOSTS": "api.example.com",
                "PROVENANCE_REQUIRED": "false", **env_overrides})
    return subprocess.run([sys.executable, "-c", "import django; django.setup()"], env=env,
                          capture_output=True, text=True, timeout=60, cwd=django_settings.BASE_DIR)


def test_production_refuses_to_guess_the_number_of_proxies():
    refused = _run_settings({})
    direct = _run_settings({"NUM_PROXIES": "0"})

    assert refused.returncode != 0
    assert "Production needs NUM_PROXIES" in refused.stderr
    assert direct.returncode == 0, direct.stderr
