"""One entitlement model across Stripe, the App Store and Google Play, and the daily
generation quota that comes with it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.services import tokens_for_user
from billing.models import DailyUsage
from billing.quotas import DailyQuotaReached, quota_consume, quota_day_start
from billing.selectors import user_entitlements
from billing.tests.factories import SubscriptionFactory
from billing.tests.store_fixtures import (
    APPLE_URL,
    GOOGLE_PURCHASE_URL,
    account_token,
    post_json,
    store_plans,  # noqa: F401 (fixture)
)
from generation.models import GenerationJob
from tests.concurrency import at_once

pytestmark = pytest.mark.django_db

GENERATE = {"kind": "text_to_video", "prompt": "a red kite over dunes", "duration_seconds": 4, "size": "720x1280"}


def _device(user) -> APIClient:
    """Another device signing in as the same user."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_for_user(user)['access']}")
    return client


def _apple_pro(auth_api, app_store) -> dict:
    tx = app_store.transaction(product_id="com.example.pro", account_token=account_token(auth_api))
    assert post_json(APIClient(), APPLE_URL, app_store.notification("SUBSCRIBED", tx)).status_code == 200
    return tx


def test_an_ios_subscriber_signing_in_on_android_has_the_same_plan(auth_api, app_store, store_plans):
    _apple_pro(auth_api, app_store)

    android = _device(auth_api.user).get("/api/v1/billing/subscription").json()

    assert (android["entitlements"]["plan"], android["entitlements"]["store"]) == ("pro", "apple")
    assert android["entitlements"]["daily_generations"] == 0


def test_two_active_subscriptions_in_two_stores_are_both_shown_and_the_best_wins(auth_api, app_store, google_play,
                                                                                store_plans):
    user = auth_api.user
    tx = _apple_pro(auth_api, app_store)
    token = google_play.buy(product_id="basic_monthly", account_id=account_token(auth_api))
    assert post_json(_device(user), GOOGLE_PURCHASE_URL, {"purchase_token": token}).status_code == 200
    SubscriptionFactory(user=user, plan=store_plans.basic, stripe_subscription_id="sub_web")

    ent = user_entitlements(user_id=user.pk)

    assert (ent.plan_code, ent.store) == ("pro", "apple")
    assert sorted((a.store, a.plan_code) for a in ent.active_subscriptions) == [
        ("apple", "pro"), ("google", "basic"), ("stripe", "basic")]
    assert ent.active_subscriptions[0].subscription_id == tx["originalTransactionId"]
    assert "Also active" in ent.reason
    body = auth_api.get("/api/v1/billing/subscription").json()
    assert len(body["entitlements"]["active_subscriptions"]) == 3


def test_the_stores_purchase_token_is_one_per_user(auth_api):
    first = account_token(auth_api)

    assert account_token(auth_api) == first
    assert account_token(_device(auth_api.user)) == first


# --- daily quotas -------------------------------------------------------------------------------


@pytest.fixture
def generation_settings(settings, tmp_path, monkeypatch):
    from config.celery import app

    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.GENERATION_BACKEND = "preview"
    settings.CREDITS_SIGNUP_GRANT = 1000
    monkeypatch.setattr(app, "send_task", lambda *args, **kwargs: None)
    return settings


def test_the_free_daily_quota_answers_429_with_the_reset_time(auth_api, generation_settings):
    generation_settings.GENERATION_FREE_DAILY_QUOTA = 2
    for _ in range(2):
        assert auth_api.post("/api/v1/generations", GENERATE, format="json").status_code == 201
    reserved = auth_api.get("/api/v1/billing/credits").json()["balance"]["reserved"]

    refused = auth_api.post("/api/v1/generations", GENERATE, format="json")

    tomorrow = datetime.combine((timezone.now() + timedelta(days=1)).date(), datetime.min.time(), tzinfo=UTC)
    error = refused.json()["error"]
    assert (refused.status_code, error["code"], error["limit"]) == (429, "daily_quota_reached", 2)
    assert datetime.fromisoformat(error["resets_at"]) == tomorrow
    assert 0 < int(refused["Retry-After"]) <= 86400
    assert GenerationJob.objects.filter(user=auth_api.user).count() == 2
    assert auth_api.get("/api/v1/billing/credits").json()["balance"]["reserved"] == reserved
    quota = auth_api.get("/api/v1/billing/subscription").json()["daily_quota"]
    assert (quota["limit"], quota["used"], quota["remaining"]) == (2, 2, 0)


def test_a_refused_submission_does_not_use_the_quota(auth_api, generation_settings):
    generation_settings.GENERATION_FREE_DAILY_QUOTA = 5
    generation_settings.CREDITS_SIGNUP_GRANT = 1

    response = auth_api.post("/api/v1/generations", GENERATE, format="json")

    assert response.status_code == 402
    assert not DailyUsage.objects.filter(user=auth_api.user, used__gt=0).exists()


def test_a_paid_plan_has_its_own_daily_quota(auth_api, app_store, store_plans, generation_settings):
    generation_settings.GENERATION_FREE_DAILY_QUOTA = 1
    store_plans.pro.daily_generations = 3
    store_plans.pro.save()
    _apple_pro(auth_api, app_store)

    statuses = [auth_api.post("/api/v1/generations", GENERATE, format="json").status_code for _ in range(4)]

    assert statuses == [201, 201, 201, 429]


def test_the_quota_resets_at_the_next_quota_day(user, settings):
    now = datetime(2026, 3, 1, 23, 59, tzinfo=UTC)
    quota_consume(user=user, limit=1, now=now)
    with pytest.raises(DailyQuotaReached):
        quota_consume(user=user, limit=1, now=now)

    after = quota_consume(user=user, limit=1, now=now + timedelta(minutes=2))

    assert (after.used, after.resets_at) == (1, datetime(2026, 3, 3, tzinfo=UTC))
    # Counted in UTC until markets give the user a time zone (billing.quotas.quota_time_zone).
    assert quota_day_start(user, now=now) == datetime(2026, 3, 1, tzinfo=UTC)


def test_no_limit_is_zero(user):
    for _ in range(50):
        quota_consume(user=user, limit=0)
    assert DailyUsage.objects.get(user=user).used == 50


@pytest.mark.django_db(transaction=True)
def test_concurrent_submissions_never_pass_the_quota():
    from accounts.tests.factories import UserFactory

    user = UserFactory()

    def attempt() -> int:
        try:
            quota_consume(user=user, limit=4)
        except DailyQuotaReached:
            return 429
        return 200

    assert sorted(at_once([attempt for _ in range(10)])) == [200] * 4 + [429] * 6
    assert DailyUsage.objects.get(user=user).used == 4


def test_the_quota_day_is_the_users_market_day():
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from accounts.models import Market
    from accounts.tests.factories import UserFactory
    from billing.quotas import quota_day_end, quota_day_start

    tokyo = Market.objects.create(code="jp-test", name="Japan test", countries=[], languages=["ja"],
                                  time_zone="Asia/Tokyo")
    user = UserFactory(market=tokyo)
    now = datetime(2026, 12, 2, 16, 30, tzinfo=ZoneInfo("UTC"))  # 01:30 on the 3rd in Tokyo

    assert quota_day_start(user, now=now) == datetime(2026, 12, 3, tzinfo=ZoneInfo("Asia/Tokyo"))
    assert quota_day_end(user, now=now) == datetime(2026, 12, 4, tzinfo=ZoneInfo("Asia/Tokyo"))
    assert quota_day_start(UserFactory(), now=now) == datetime(2026, 12, 2, tzinfo=ZoneInfo("UTC"))
