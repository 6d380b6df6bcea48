"""Billing fixtures: a catalogue whose prices exist in the fake Stripe, and webhook delivery
signed exactly as Stripe signs it."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from billing.models import CreditPack, PackPrice, Plan, PlanPrice
from tests.fakes.stripe_server import FakeStripe, sign

WEBHOOK_URL = "/api/v1/billing/stripe/webhook"


@dataclass
class Catalogue:
    basic: Plan
    pro: Plan
    pack: CreditPack
    prices: dict[str, str]  # "basic-usd" -> Stripe price id


@pytest.fixture
def catalogue(stripe_fake: FakeStripe, db) -> Catalogue:
    basic = Plan.objects.create(code="basic", name="Basic", rank=1, monthly_credits=500, max_concurrent_jobs=2,
                                max_duration_seconds=12, max_short_side=1080, queue_priority=4,
                                removes_watermark=False)
    pro = Plan.objects.create(code="pro", name="Pro", rank=2, monthly_credits=2000, max_concurrent_jobs=4,
                              max_duration_seconds=12, max_short_side=1080, queue_priority=8, removes_watermark=True)
    pack = CreditPack.objects.create(code="credits-300", name="300 credits", credits=300)
    prices = {}
    for plan, amounts in ((basic, {"usd": 999, "eur": 899}), (pro, {"usd": 2999, "eur": 2699})):
        for currency, amount in amounts.items():
            pid = stripe_fake.create_price(currency=currency, unit_amount=amount, name=plan.name)
            PlanPrice.objects.create(plan=plan, currency=currency, unit_amount=amount, stripe_price_id=pid)
            prices[f"{plan.code}-{currency}"] = pid
    for currency, amount in {"usd": 499, "eur": 449}.items():
        pid = stripe_fake.create_price(currency=currency, unit_amount=amount, recurring=False, name=pack.name)
        PackPrice.objects.create(pack=pack, currency=currency, unit_amount=amount, stripe_price_id=pid)
        prices[f"pack-{currency}"] = pid
    return Catalogue(basic=basic, pro=pro, pack=pack, prices=prices)


@pytest.fixture
def deliver(api, stripe_fake: FakeStripe):
    """POST one event to the webhook, signed like Stripe (or with the signature given)."""

    def send(event: dict, *, signature: str | None = None, timestamp: int | None = None, secret: str | None = None,
             client=None):
        payload = json.dumps(event, indent=2)
        header = signature if signature is not None else sign(payload, secret or stripe_fake.webhook_secret,
                                                              timestamp)
        extra = {"HTTP_STRIPE_SIGNATURE": header} if header else {}
        return (client or api).post(WEBHOOK_URL, data=payload, content_type="application/json", **extra)

    return send


@pytest.fixture
def deliver_new(deliver, stripe_fake: FakeStripe):
    """Deliver, in order, every event the fake produced since the last call (optionally only
    some types). Returns the responses' status codes by event type."""
    sent = {"upto": 0}

    def send(*types: str) -> list[tuple[str, int]]:
        events = stripe_fake.events[sent["upto"]:]
        sent["upto"] = len(stripe_fake.events)
        out = []
        for event in events:
            if not types or event["type"] in types:
                out.append((event["type"], deliver(event).status_code))
        return out

    return send
