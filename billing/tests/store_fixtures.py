"""Plans sold in both stores, and helpers shared by the App Store and Google Play tests."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from billing.models import CreditEntry, CreditLot, Plan, StoreProduct, StoreSubscription, StripeEvent

APPLE_URL = "/api/v1/billing/apple/notifications"
APPLE_TX_URL = "/api/v1/billing/apple/transactions"
GOOGLE_URL = "/api/v1/billing/google/notifications"
GOOGLE_PURCHASE_URL = "/api/v1/billing/google/purchases"


@dataclass
class StorePlans:
    basic: Plan
    pro: Plan


@pytest.fixture
def store_plans(db) -> StorePlans:
    basic = Plan.objects.create(code="basic", name="Basic", rank=1, monthly_credits=500, max_concurrent_jobs=2,
                                max_duration_seconds=12, max_short_side=1080, queue_priority=4,
                                daily_generations=100)
    pro = Plan.objects.create(code="pro", name="Pro", rank=2, monthly_credits=2000, max_concurrent_jobs=4,
                              max_duration_seconds=12, max_short_side=1080, queue_priority=8, removes_watermark=True,
                              daily_generations=0)
    for plan, apple_id, google_id in ((basic, "com.example.basic", "basic_monthly"),
                                      (pro, "com.example.pro", "pro_monthly")):
        StoreProduct.objects.create(plan=plan, store="apple", product_id=apple_id)
        StoreProduct.objects.create(plan=plan, store="google", product_id=google_id)
    return StorePlans(basic=basic, pro=pro)


def account_token(client) -> str:
    response = client.get("/api/v1/billing/store-account-token")
    assert response.status_code == 200
    return response.json()["token"]


def grants(user) -> list[tuple[str, int]]:
    return list(CreditEntry.objects.filter(user=user, kind="grant").exclude(reference="signup").order_by("id")
                .values_list("reference", "available_delta"))


def snapshot(user=None) -> tuple:
    """Everything a store notification could change."""
    entries = CreditEntry.objects.all() if user is None else CreditEntry.objects.filter(user=user)
    return (
        list(entries.order_by("id").values_list("kind", "available_delta", "reference")),
        list(StoreSubscription.objects.order_by("id").values_list("store", "store_key", "user_id", "status",
                                                                  "plan_id", "expires_at")),
        list(CreditLot.objects.order_by("id").values_list("source", "remaining", "closed_at")),
        StripeEvent.objects.exclude(source="stripe").count(),
    )


def post_json(client, url: str, body: dict, **headers):
    return client.post(url, data=json.dumps(body), content_type="application/json", **headers)
