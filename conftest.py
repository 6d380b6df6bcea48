"""Fixtures shared by every test package."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

pytest_plugins = ["tests.fakes.fcm", "tests.fakes.s3", "tests.fakes.stripe_server"]


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
