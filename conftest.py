"""Fixtures shared by every test package."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

pytest_plugins = ["tests.fakes.fcm", "tests.fakes.s3", "tests.fakes.smtp", "tests.fakes.stripe_server",
                  "tests.fakes.translate_api", "tests.fakes.app_store", "tests.fakes.google_play"]


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # Argon2 is deliberately slow; tests check behaviour, not hashing cost.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Throttle counters and cached values live in Redis: start every test clean."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def user(db):
    from accounts.tests.factories import UserFactory

    return UserFactory()


@pytest.fixture
def auth_api(user) -> APIClient:
    from accounts.services import tokens_for_user

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_for_user(user)['access']}")
    client.user = user
    return client


@pytest.fixture
def client_for():
    from accounts.services import tokens_for_user

    def make(user) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_for_user(user)['access']}")
        client.user = user
        return client

    return make


@pytest.fixture
def sent_tasks(monkeypatch):
    """Celery task messages the code sends, recorded as (name, args, options) instead of
    published. Tests that need a real worker use tests.worker instead."""
    from config.celery import app

    sent: list[tuple[str, list, dict]] = []
    monkeypatch.setattr(app, "send_task", lambda name, args=None, **kw: sent.append((name, list(args or []), kw)))
    return sent


@pytest.fixture
def events_of():
    """events_of(user) subscribes to the user's group on the Redis channel layer and returns
    a function that drains the events sent to it so far. All reads run on one event loop:
    the layer's receive buffers belong to the loop that first waited on them."""
    import asyncio

    from channels.layers import get_channel_layer

    from accounts.realtime import user_group

    layer = get_channel_layer()
    loop = asyncio.new_event_loop()

    async def receive_all(channel):
        out = []
        while True:
            try:
                message = await asyncio.wait_for(layer.receive(channel), timeout=0.1)
            except TimeoutError:
                return out
            out.append(message["event"])

    def subscribe(user):
        channel = loop.run_until_complete(layer.new_channel())
        loop.run_until_complete(layer.group_add(user_group(user.pk), channel))
        return lambda: loop.run_until_complete(receive_all(channel))

    yield subscribe
    loop.run_until_complete(layer.flush())
    loop.close()
