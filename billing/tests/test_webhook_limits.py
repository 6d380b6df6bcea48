"""The Stripe webhook against inputs that used to crash it or fill its audit table: events
nested thousands deep, NUL characters, oversized bodies, floods of unsigned calls."""

from __future__ import annotations

import json
import logging
import time

import pytest

from billing.models import StripeEvent, WebhookAttempt
from billing.services import webhooks
from tests.fakes.stripe_server import sign

from .conftest import WEBHOOK_URL

pytestmark = pytest.mark.django_db


def _event(obj: dict, event_id: str = "evt_limits") -> dict:
    return {"id": event_id, "object": "event", "type": "customer.created", "api_version": "2025-08-27.basil",
            "created": int(time.time()), "livemode": False, "data": {"object": obj}}


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.fixture
def one_minute(monkeypatch):
    """The rejected-call budget counts per clock minute: hold the clock on one."""
    minute = [29_000_000]
    monkeypatch.setattr(webhooks, "_minute", lambda: minute[0], raising=False)
    return minute


def test_a_signed_event_nested_5000_deep_is_refused_and_audited(stripe_fake, api):
    event = _event({"id": "cus_x", "object": "customer", "metadata": "__DEEP__"})
    payload = json.dumps(event).replace('"__DEEP__"', _deep(5000))

    response = api.post(WEBHOOK_URL, data=payload, content_type="application/json",
                        HTTP_STRIPE_SIGNATURE=sign(payload, stripe_fake.webhook_secret))

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "payload_invalid"
    assert not StripeEvent.objects.exists()
    attempt = WebhookAttempt.objects.get()
    assert (attempt.outcome, attempt.body_bytes) == ("malformed", len(payload))
    assert "JsonTooDeep" in attempt.detail


def test_a_signed_event_with_a_nul_character_is_refused(stripe_fake, deliver):
    response = deliver(_event({"id": "cus_x", "object": "customer", "name": "a\x00b"}))

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "payload_invalid"
    assert not StripeEvent.objects.exists()
    assert WebhookAttempt.objects.get().outcome == "malformed"


def test_a_nul_in_the_signature_header_is_a_400_and_its_row_is_written(stripe_fake, deliver):
    response = deliver(_event({"id": "cus_x", "object": "customer"}), signature="t=1,v1=\x00abc")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "signature_invalid"
    assert not StripeEvent.objects.exists()
    assert WebhookAttempt.objects.get().signature_header == "t=1,v1=\ufffdabc"


def test_a_body_over_the_webhook_limit_is_a_413_and_writes_nothing(stripe_fake, deliver):
    event = _event({"id": "cus_x", "object": "customer", "description": "x" * (1024 * 1024)})  # the 1 MiB default

    response = deliver(event)

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"
    assert not StripeEvent.objects.exists()
    assert not WebhookAttempt.objects.exists()


def test_a_large_signed_event_within_the_limit_is_processed(stripe_fake, deliver):
    event = _event({"id": "cus_x", "object": "customer", "description": "x" * (200 * 1024)})

    response = deliver(event)

    assert response.json() == {"received": True, "outcome": "ignored"}
    assert StripeEvent.objects.get().event_id == "evt_limits"


def test_unsigned_calls_write_a_bounded_number_of_rows_a_minute(stripe_fake, deliver, settings, one_minute,
                                                                caplog):
    settings.BILLING_WEBHOOK_REJECTED_AUDIT_PER_MINUTE = 5
    event = _event({"id": "cus_x", "object": "customer"})

    with caplog.at_level(logging.WARNING, logger="billing.services.webhooks"):
        statuses = [deliver(event, signature="t=1,v1=forged" if i % 2 else "").status_code for i in range(50)]

    assert statuses == [400] * 50
    assert WebhookAttempt.objects.count() == 5
    assert not StripeEvent.objects.exists()
    suppressed = [r for r in caplog.records if r.message == "billing.webhook_rejected"]
    assert len(suppressed) == 45
    assert suppressed[-1].rejected_this_minute == 50

    one_minute[0] += 1  # the next minute has its own budget
    deliver(event, signature="t=1,v1=forged")
    assert WebhookAttempt.objects.count() == 6


def test_signed_calls_are_audited_whatever_the_flood(stripe_fake, deliver, settings, one_minute):
    settings.BILLING_WEBHOOK_REJECTED_AUDIT_PER_MINUTE = 1
    for _ in range(3):
        deliver(_event({"id": "cus_x", "object": "customer"}), signature="t=1,v1=forged")

    response = deliver(_event({"id": "cus_x", "object": "customer"}))

    assert response.json() == {"received": True, "outcome": "ignored"}
    assert list(WebhookAttempt.objects.order_by("id").values_list("outcome", flat=True)) == [
        "bad_signature", "ignored"]

