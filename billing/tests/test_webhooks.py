"""Webhooks against the fake Stripe over HTTP: the purchase life cycle, duplicates (also
concurrent ones), events out of order, signatures, failures and retries."""

from __future__ import annotations

import json
import math
import time
from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient

from accounts.tests.factories import UserFactory
from billing import services
from billing.models import (
    BillingCustomer,
    CheckoutSession,
    CreditEntry,
    CreditLot,
    PlanChange,
    StripeEvent,
    Subscription,
    WebhookAttempt,
)
from billing.selectors import credit_balance, user_entitlements
from billing.services import ledger
from tests.concurrency import at_once
from tests.fakes.stripe_server import sign

from .conftest import WEBHOOK_URL

pytestmark = pytest.mark.django_db


def _checkout(client, **body) -> CheckoutSession:
    response = client.post("/api/v1/billing/checkout", body, format="json")
    assert response.status_code == 201, response.json()
    return CheckoutSession.objects.get(pk=response.json()["checkout_id"])


def _subscribe(client, stripe_fake, deliver_new, plan="basic") -> tuple[CheckoutSession, dict]:
    checkout = _checkout(client, plan=plan)
    session = stripe_fake.complete_checkout(checkout.stripe_session_id)
    assert {status for _, status in deliver_new()} == {200}
    return checkout, stripe_fake.get(session["subscription"])


def _ts(value: int) -> datetime:
    return datetime.fromtimestamp(value, tz=UTC)


def _grants(user) -> list[tuple[str, int]]:
    return list(CreditEntry.objects.filter(user=user, kind="grant").exclude(reference="signup").order_by("id")
                .values_list("reference", "available_delta"))


def _snapshot(user) -> tuple:
    """Everything a webhook could change for a user."""
    return (
        list(CreditEntry.objects.filter(user=user).order_by("id").values_list("kind", "available_delta")),
        list(Subscription.objects.filter(user=user).values_list("stripe_subscription_id", "status", "plan_id",
                                                                 "cancel_at_period_end")),
        list(CheckoutSession.objects.filter(user=user).values_list("status", flat=True)),
    )


# --- the life cycle ------------------------------------------------------------------------


def test_checkout_to_active_subscription_grants_the_plan_credits(auth_api, catalogue, stripe_fake, deliver_new):
    user = auth_api.user
    checkout, sub = _subscribe(auth_api, stripe_fake, deliver_new)

    mirror = Subscription.objects.get(user=user)
    item = sub["items"]["data"][0]
    assert (mirror.stripe_subscription_id, mirror.status, mirror.plan, mirror.currency) == (
        sub["id"], "active", catalogue.basic, "usd")
    assert (mirror.current_period_start, mirror.current_period_end) == (
        _ts(item["current_period_start"]), _ts(item["current_period_end"]))
    invoice_id = sub["latest_invoice"]
    assert _grants(user) == [(f"invoice:{invoice_id}", 500)]
    lot = CreditLot.objects.get(user=user, kind="plan")
    assert (lot.amount, lot.expires_at) == (500, _ts(item["current_period_end"]))
    assert credit_balance(user_id=user.pk).by_kind == {"plan": 500, "bonus": 100, "pack": 0}
    entitlements = user_entitlements(user_id=user.pk)
    assert (entitlements.plan_code, entitlements.source, entitlements.max_concurrent_jobs,
            entitlements.queue_priority, entitlements.watermark) == ("basic", "subscription", 2, 4, True)
    checkout.refresh_from_db()
    assert (checkout.status, checkout.stripe_subscription_id) == ("complete", sub["id"])
    assert BillingCustomer.objects.get(user=user).currency == "usd"
    # Every event the fake sent was stored once and handled (or ignored as not ours to handle).
    assert StripeEvent.objects.count() == len(stripe_fake.events)
    assert set(StripeEvent.objects.values_list("status", flat=True)) == {"processed", "ignored"}


def test_a_trial_is_paid_entitlements_with_the_plan_credits_until_the_trial_ends(auth_api, catalogue, stripe_fake,
                                                                                deliver_new):
    user = auth_api.user
    checkout = _checkout(auth_api, plan="pro")

    session = stripe_fake.complete_checkout(checkout.stripe_session_id, trial_days=7)
    deliver_new()

    sub = stripe_fake.get(session["subscription"])
    trial_end = _ts(sub["trial_end"])
    assert (sub["status"], stripe_fake.get(sub["latest_invoice"])["amount_paid"]) == ("trialing", 0)
    entitlements = user_entitlements(user_id=user.pk)
    assert (entitlements.plan_code, entitlements.valid_until) == ("pro", trial_end)
    assert entitlements.reason.startswith(f"Paid trial {sub['id']} on pro is trialing.")
    assert _grants(user) == [(f"invoice:{sub['latest_invoice']}", 2000)]
    assert CreditLot.objects.get(user=user, kind="plan").expires_at == trial_end


def test_renewal_grants_again_and_the_old_period_credits_expire(auth_api, catalogue, stripe_fake, deliver_new,
                                                                 monkeypatch):
    user = auth_api.user
    _, sub = _subscribe(auth_api, stripe_fake, deliver_new)
    first_invoice = sub["latest_invoice"]
    first_end = _ts(sub["items"]["data"][0]["current_period_end"])
    services.credits_reserve(user_id=user.pk, amount=120, reference="generation:a")
    services.credits_capture(user_id=user.pk, reference="generation:a")  # 120 plan credits spent

    renewal = stripe_fake.renew(sub["id"])
    assert {status for _, status in deliver_new()} == {200}
    # The period end passes.
    monkeypatch.setattr(ledger, "_now", lambda: first_end + timedelta(seconds=1))
    services.credits_expire_due(user_id=user.pk)  # as the credits endpoint does before it reads
    balance = credit_balance(user_id=user.pk)

    assert _grants(user) == [(f"invoice:{first_invoice}", 500), (f"invoice:{renewal['id']}", 500)]
    assert list(CreditEntry.objects.filter(user=user, kind="expire").values_list("available_delta", "reference")) == [
        (-380, f"invoice:{first_invoice}")]
    assert balance.by_kind == {"plan": 500, "bonus": 100, "pack": 0}
    mirror = Subscription.objects.get(user=user)
    assert (mirror.current_period_start, mirror.paid_through) == (first_end, first_end + timedelta(days=30))


def test_upgrade_changes_the_plan_in_place_and_tops_credits_up(auth_api, catalogue, stripe_fake, deliver_new):
    user = auth_api.user
    _, sub = _subscribe(auth_api, stripe_fake, deliver_new)
    first_invoice = sub["latest_invoice"]

    response = auth_api.post("/api/v1/billing/checkout", {"plan": "pro"}, format="json")
    results = deliver_new()

    assert response.status_code == 200, response.json()
    body = response.json()
    change = PlanChange.objects.get()
    assert body["plan_change"]["direction"] == "upgrade"
    assert (body["subscription"]["id"], body["subscription"]["plan"]) == (sub["id"], "pro")
    update = stripe_fake.posts(f"/v1/subscriptions/{sub['id']}")
    assert len(update) == 1
    assert update[0].idempotency_key == f"plan-change-{change.pk}"
    assert update[0].params["items"] == [{"id": sub["items"]["data"][0]["id"], "price": catalogue.prices["pro-usd"]}]
    assert (update[0].params["proration_behavior"], update[0].params["payment_behavior"]) == (
        "always_invoice", "error_if_incomplete")
    # In place: one subscription in Stripe and here, and no second checkout.
    assert len(stripe_fake.posts("/v1/checkout/sessions")) == 1
    assert Subscription.objects.filter(user=user).count() == 1
    assert {status for _, status in results} == {200}
    upgrade_invoice = stripe_fake.get(sub["id"])["latest_invoice"]
    assert upgrade_invoice != first_invoice
    assert _grants(user) == [(f"invoice:{first_invoice}", 500), (f"invoice:{upgrade_invoice}", 1500)]
    assert user_entitlements(user_id=user.pk).plan_code == "pro"
    assert credit_balance(user_id=user.pk).by_kind["plan"] == 2000


def test_an_upgrade_with_a_declined_card_is_402_and_changes_nothing(auth_api, catalogue, stripe_fake, deliver_new):
    user = auth_api.user
    _, sub = _subscribe(auth_api, stripe_fake, deliver_new)
    before = _snapshot(user)
    events_before = len(stripe_fake.events)
    stripe_fake.decline_cards(sub["customer"])

    response = auth_api.post("/api/v1/billing/checkout", {"plan": "pro"}, format="json")

    assert response.status_code == 402
    assert response.json()["error"]["code"] == "payment_failed"
    assert _snapshot(user) == before
    assert stripe_fake.get(sub["id"])["items"]["data"][0]["price"]["id"] == catalogue.prices["basic-usd"]
    assert len(stripe_fake.events) == events_before
    assert list(PlanChange.objects.values_list("status", "direction")) == [("failed", "upgrade")]
    assert user_entitlements(user_id=user.pk).plan_code == "basic"


def test_a_downgrade_keeps_the_paid_plan_until_the_period_ends(auth_api, catalogue, stripe_fake, deliver_new):
    user = auth_api.user
    _, sub = _subscribe(auth_api, stripe_fake, deliver_new, plan="pro")
    period_end = _ts(sub["items"]["data"][0]["current_period_end"])

    response = auth_api.post("/api/v1/billing/checkout", {"plan": "basic"}, format="json")
    deliver_new()

    assert response.status_code == 200
    assert response.json()["plan_change"]["direction"] == "downgrade"
    update = stripe_fake.posts(f"/v1/subscriptions/{sub['id']}")[0]
    assert update.params["proration_behavior"] == "none"
    assert Subscription.objects.get(user=user).plan == catalogue.basic
    now = user_entitlements(user_id=user.pk)
    assert (now.plan_code, now.source) == ("pro", "subscription")
    assert "Keeps pro, paid for until" in now.reason
    assert user_entitlements(user_id=user.pk, now=period_end + timedelta(seconds=1)).plan_code == "basic"
    assert len(_grants(user)) == 1  # no credits for a downgrade

    renewal = stripe_fake.renew(sub["id"])
    deliver_new()

    assert renewal["lines"]["data"][0]["amount"] == 999
    assert _grants(user)[-1] == (f"invoice:{renewal['id']}", 500)
    assert user_entitlements(user_id=user.pk).plan_code == "basic"


def test_payment_failed_gives_a_grace_period_then_free(auth_api, catalogue, stripe_fake, deliver_new, settings):
    user = auth_api.user
    checkout = _checkout(auth_api, plan="basic")
    stripe_fake.clock = int(time.time()) - 32 * 86400  # the first period began 32 days ago
    sub = stripe_fake.get(stripe_fake.complete_checkout(checkout.stripe_session_id)["subscription"])
    stripe_fake.clock = None
    first_invoice = sub["latest_invoice"]
    deliver_new()

    failed = stripe_fake.renew(sub["id"], pay=False)  # renewed 2 days ago; the card is declined
    deliver_new()

    mirror = Subscription.objects.get(user=user)
    assert (mirror.status, failed["status"]) == ("past_due", "open")
    settings.BILLING_GRACE_DAYS = 7
    grace = user_entitlements(user_id=user.pk)
    assert (grace.plan_code, grace.source, grace.valid_until) == (
        "basic", "grace", mirror.current_period_start + timedelta(days=7))
    settings.BILLING_GRACE_DAYS = 1
    after = user_entitlements(user_id=user.pk)
    assert (after.plan_code, after.source) == ("free", "free")
    assert "grace period ended" in after.reason
    # Nothing granted for the unpaid invoice; the first period's credits expired with it.
    assert _grants(user) == [(f"invoice:{first_invoice}", 500)]
    assert credit_balance(user_id=user.pk).by_kind["plan"] == 0

    stripe_fake.pay_invoice(failed["id"])  # the retry succeeds
    deliver_new()

    assert Subscription.objects.get(user=user).status == "active"
    assert user_entitlements(user_id=user.pk).plan_code == "basic"
    assert _grants(user)[-1] == (f"invoice:{failed['id']}", 500)

    stripe_fake.renew(sub["id"], pay=False)
    stripe_fake.cancel(sub["id"])  # Stripe gives up after its retries
    deliver_new()

    assert Subscription.objects.get(user=user).status == "canceled"
    assert user_entitlements(user_id=user.pk).reason == f"Subscription {sub['id']} is canceled."


def test_cancel_at_period_end_keeps_the_plan_until_the_end_then_free(auth_api, catalogue, stripe_fake,
                                                                      deliver_new):
    user = auth_api.user
    _, sub = _subscribe(auth_api, stripe_fake, deliver_new)

    stripe_fake.schedule_cancel(sub["id"])  # in the portal
    deliver_new()

    mirror = Subscription.objects.get(user=user)
    assert (mirror.status, mirror.cancel_at_period_end, mirror.cancel_at) == (
        "active", True, mirror.current_period_end)
    entitlements = user_entitlements(user_id=user.pk)
    assert entitlements.plan_code == "basic"
    assert "cancels at the period end" in entitlements.reason

    assert stripe_fake.renew(sub["id"]) is None  # the period ends
    deliver_new()

    response = auth_api.get("/api/v1/billing/subscription")
    assert response.json()["subscription"]["status"] == "canceled"
    assert response.json()["entitlements"]["plan"] == "free"
    assert len(_grants(user)) == 1


def test_a_refunded_pack_loses_only_its_unspent_credits(auth_api, catalogue, stripe_fake, deliver_new):
    user = auth_api.user
    checkout = _checkout(auth_api, pack="credits-300")
    stripe_fake.complete_checkout(checkout.stripe_session_id)
    deliver_new()
    assert _grants(user) == [(f"pack:{checkout.pk}", 300)]
    assert credit_balance(user_id=user.pk).by_kind == {"plan": 0, "bonus": 100, "pack": 300}
    services.credits_reserve(user_id=user.pk, amount=160, reference="generation:a")  # 100 bonus, 60 pack
    services.credits_capture(user_id=user.pk, reference="generation:a")
    charge = stripe_fake.charge_of_session(checkout.stripe_session_id)

    stripe_fake.refund(charge["id"], amount=200)  # 200 of 499 cents
    deliver_new()
    stripe_fake.refund(charge["id"])  # the rest
    deliver_new()
    deliver_new()  # nothing new: no change

    first = math.ceil(300 * 200 / 499)  # the refunded share of the pack's credits
    source = f"pack:{checkout.pk}"
    assert list(CreditEntry.objects.filter(user=user, kind="clawback").order_by("id")
                .values_list("available_delta", "reference")) == [(-first, source), (-(240 - first), source)]
    assert credit_balance(user_id=user.pk).by_kind == {"plan": 0, "bonus": 0, "pack": 0}
    assert CreditLot.objects.get(source=f"pack:{checkout.pk}").closed_reason == "refunded"


def test_an_abandoned_checkout_expires_and_grants_nothing(auth_api, catalogue, stripe_fake, deliver_new):
    checkout = _checkout(auth_api, pack="credits-300")

    stripe_fake.expire_session(checkout.stripe_session_id)
    assert deliver_new() == [("customer.created", 200), ("checkout.session.expired", 200)]

    checkout.refresh_from_db()
    assert checkout.status == "expired"
    assert _grants(auth_api.user) == []


# --- duplicates, order ----------------------------------------------------------------------


def test_a_repeated_event_returns_200_and_does_nothing(auth_api, catalogue, stripe_fake, deliver, deliver_new):
    user = auth_api.user
    _, sub = _subscribe(auth_api, stripe_fake, deliver_new)
    paid = stripe_fake.events_of("invoice.paid")[0]
    before = _snapshot(user)

    again = deliver(paid)

    assert again.status_code == 200
    assert again.json() == {"received": True, "outcome": "duplicate"}
    assert _snapshot(user) == before
    assert StripeEvent.objects.get(event_id=paid["id"]).attempts == 1
    assert list(WebhookAttempt.objects.filter(event_id=paid["id"]).order_by("id").values_list("outcome", flat=True)
                ) == ["processed", "duplicate"]


@pytest.mark.django_db(transaction=True)
def test_ten_concurrent_copies_of_an_event_are_processed_once(catalogue, stripe_fake, deliver, client_for):
    user = UserFactory()
    checkout = _checkout(client_for(user), plan="basic")
    stripe_fake.complete_checkout(checkout.stripe_session_id)
    paid = stripe_fake.events_of("invoice.paid")[0]

    def send() -> tuple[int, str]:
        response = deliver(paid, client=APIClient())
        return response.status_code, response.json()["outcome"]

    statuses = at_once([send] * 10)

    assert sorted(statuses) == [(200, "duplicate")] * 9 + [(200, "processed")]
    assert _grants(user) == [(f"invoice:{paid['data']['object']['id']}", 500)]
    assert StripeEvent.objects.filter(event_id=paid["id"]).count() == 1
    assert StripeEvent.objects.get(event_id=paid["id"]).attempts == 1
    assert WebhookAttempt.objects.filter(event_id=paid["id"]).count() == 10
    assert credit_balance(user_id=user.pk).available == 600


def test_events_out_of_order_end_in_stripes_current_state(auth_api, catalogue, stripe_fake, deliver):
    user = auth_api.user
    checkout = _checkout(auth_api, plan="basic")
    session = stripe_fake.complete_checkout(checkout.stripe_session_id)
    sub_id = session["subscription"]
    failed = stripe_fake.renew(sub_id, pay=False)
    stripe_fake.pay_invoice(failed["id"])
    wanted = ("checkout.session.completed", "customer.subscription.created", "customer.subscription.updated",
              "invoice.paid", "invoice.payment_failed")
    events = [e for e in stripe_fake.events if e["type"] in wanted]

    # Newest first: the last word ("active") arrives before the "past_due" snapshot.
    statuses = [deliver(event).status_code for event in reversed(events)]

    assert set(statuses) == {200}
    past_due_snapshot = [e for e in events if e["type"] == "customer.subscription.updated"][0]
    assert past_due_snapshot["data"]["object"]["status"] == "past_due"
    mirror = Subscription.objects.get(user=user)
    assert (mirror.status, mirror.plan) == ("active", catalogue.basic)
    assert _grants(user) == [(f"invoice:{failed['id']}", 500), (f"invoice:{session['invoice']}", 500)]
    assert CheckoutSession.objects.get(pk=checkout.pk).status == "complete"


def test_a_deletion_arriving_before_the_creation_leaves_it_canceled(auth_api, catalogue, stripe_fake, deliver):
    checkout = _checkout(auth_api, plan="basic")
    session = stripe_fake.complete_checkout(checkout.stripe_session_id)
    stripe_fake.cancel(session["subscription"])

    deliver(stripe_fake.events_of("customer.subscription.deleted")[0])
    deliver(stripe_fake.events_of("customer.subscription.created")[0])

    assert Subscription.objects.get(user=auth_api.user).status == "canceled"
    assert user_entitlements(user_id=auth_api.user.pk).plan_code == "free"


def test_a_refund_processed_before_the_purchase_event_grants_once_and_claws_back(auth_api, catalogue, stripe_fake,
                                                                                  deliver):
    user = auth_api.user
    checkout = _checkout(auth_api, pack="credits-300")
    stripe_fake.complete_checkout(checkout.stripe_session_id)
    stripe_fake.refund(stripe_fake.charge_of_session(checkout.stripe_session_id)["id"])

    deliver(stripe_fake.events_of("charge.refunded")[0])
    deliver(stripe_fake.events_of("checkout.session.completed")[0])

    assert list(CreditEntry.objects.filter(user=user).exclude(reference="signup").order_by("id")
                .values_list("kind", "available_delta")) == [("grant", 300), ("clawback", -300)]
    assert credit_balance(user_id=user.pk).by_kind == {"plan": 0, "bonus": 100, "pack": 0}


# --- signatures --------------------------------------------------------------------------


@pytest.mark.parametrize(("case", "outcome", "code"), [
    ("missing", "missing_signature", "signature_missing"),
    ("wrong_secret", "bad_signature", "signature_invalid"),
    ("stale", "bad_signature", "signature_invalid"),
    ("tampered", "bad_signature", "signature_invalid"),
    ("garbage", "bad_signature", "signature_invalid"),
])
def test_a_bad_signature_is_400_changes_nothing_and_is_audited(case, outcome, code, auth_api, catalogue, stripe_fake,
                                                              api):
    user = auth_api.user
    checkout = _checkout(auth_api, pack="credits-300")
    stripe_fake.complete_checkout(checkout.stripe_session_id)
    event = stripe_fake.events_of("checkout.session.completed")[0]
    payload = json.dumps(event)
    header = {
        "missing": None,
        "wrong_secret": sign(payload, "whsec_not_ours"),
        "stale": sign(payload, timestamp=int(time.time()) - 301),
        "tampered": sign(payload),
        "garbage": "t=abc,v1=zzz",
    }[case]
    if case == "tampered":
        payload = payload.replace('"credits-300"', '"credits-9000"')
    before = _snapshot(user)

    extra = {"HTTP_STRIPE_SIGNATURE": header} if header else {}
    response = api.post(WEBHOOK_URL, data=payload, content_type="application/json", **extra)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert _snapshot(user) == before
    assert not StripeEvent.objects.exists()
    attempt = WebhookAttempt.objects.get()
    assert (attempt.outcome, attempt.http_status, attempt.event_id, attempt.body_bytes) == (
        outcome, 400, "", len(payload.encode()))


def test_a_signature_inside_the_tolerance_is_accepted(auth_api, catalogue, stripe_fake, deliver):
    checkout = _checkout(auth_api, pack="credits-300")
    stripe_fake.complete_checkout(checkout.stripe_session_id)

    response = deliver(stripe_fake.events_of("checkout.session.completed")[0], timestamp=int(time.time()) - 240)

    assert response.status_code == 200
    assert _grants(auth_api.user) == [(f"pack:{checkout.pk}", 300)]


def test_without_a_webhook_secret_it_is_503_and_changes_nothing(auth_api, catalogue, stripe_fake, deliver,
                                                                settings):
    checkout = _checkout(auth_api, pack="credits-300")
    stripe_fake.complete_checkout(checkout.stripe_session_id)
    settings.STRIPE_WEBHOOK_SECRET = ""

    response = deliver(stripe_fake.events_of("checkout.session.completed")[0])

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "billing_not_configured"
    assert not StripeEvent.objects.exists()
    assert _grants(auth_api.user) == []
    assert WebhookAttempt.objects.get().outcome == "not_configured"


def test_an_event_type_we_do_not_handle_is_stored_and_ignored(stripe_fake, deliver, db):
    event = {"id": "evt_other", "object": "event", "type": "customer.created", "api_version": "2025-08-27.basil",
             "created": int(time.time()), "livemode": False, "data": {"object": {"id": "cus_x", "object": "customer"}}}

    first, second = deliver(event), deliver(event)

    assert (first.json()["outcome"], second.json()["outcome"]) == ("ignored", "duplicate")
    assert StripeEvent.objects.get().status == "ignored"


# --- failures ---------------------------------------------------------------------------


def test_a_processing_failure_is_recorded_answered_500_and_retried(auth_api, catalogue, stripe_fake, deliver):
    user = auth_api.user
    checkout = _checkout(auth_api, plan="basic")
    stripe_fake.complete_checkout(checkout.stripe_session_id)
    paid = stripe_fake.events_of("invoice.paid")[0]
    stripe_fake.api_key = "sk_test_rotated"  # Stripe refuses our key for a while
    try:
        failed = deliver(paid)
    finally:
        stripe_fake.api_key = stripe_fake.__class__.api_key

    assert failed.status_code == 500
    assert failed.json()["error"]["code"] == "webhook_failed"
    event = StripeEvent.objects.get(event_id=paid["id"])
    assert (event.status, event.attempts) == ("failed", 1)
    assert event.last_error.startswith("AuthenticationError")
    assert "Traceback (most recent call last)" in event.traceback
    assert not Subscription.objects.exists()
    assert _grants(user) == []

    retried = deliver(paid)  # Stripe's retry

    assert retried.json() == {"received": True, "outcome": "processed"}
    event.refresh_from_db()
    assert (event.status, event.attempts, event.last_error) == ("processed", 2, "")
    assert _grants(user) == [(f"invoice:{paid['data']['object']['id']}", 500)]
    assert list(WebhookAttempt.objects.order_by("id").values_list("outcome", "http_status")) == [
        ("failed", 500), ("processed", 200)]


# --- buying for someone else ----------------------------------------------------------------


def test_a_checkout_cannot_name_another_user_or_customer(auth_api, catalogue, stripe_fake):
    victim = UserFactory()
    for body in ({"plan": "basic", "user_id": victim.pk}, {"pack": "credits-300", "customer": "cus_victim"}):
        response = auth_api.post("/api/v1/billing/checkout", body, format="json")

        assert response.status_code == 400
        assert response.json()["error"]["code"] == "validation_error"
    assert not CheckoutSession.objects.exists()
    assert not BillingCustomer.objects.exists()
    assert stripe_fake.requests == []


def test_a_session_paid_by_another_customer_grants_nothing_to_anyone(auth_api, catalogue, stripe_fake, deliver,
                                                                     client_for):
    """Our checkout row decides who a session is for; a session whose Stripe customer is not
    that user's is refused. (Subscription state itself always follows the Stripe customer.)"""
    buyer, other = auth_api.user, UserFactory()
    other_checkout = _checkout(client_for(other), pack="credits-300")
    other_customer = BillingCustomer.objects.get(user=other).stripe_customer_id
    checkouts = [_checkout(auth_api, plan="basic"), _checkout(auth_api, pack="credits-300")]
    for checkout in checkouts:
        stripe_fake.get(checkout.stripe_session_id)["customer"] = other_customer
        stripe_fake.complete_checkout(checkout.stripe_session_id)
    before = (_snapshot(buyer), _snapshot(other))

    responses = [deliver(event) for event in stripe_fake.events_of("checkout.session.completed")]

    assert [r.status_code for r in responses] == [200, 200]
    assert (_snapshot(buyer), _snapshot(other)) == before
    assert not Subscription.objects.exists()
    assert set(CheckoutSession.objects.values_list("status", flat=True)) == {"open"}
    assert CheckoutSession.objects.get(pk=other_checkout.pk).status == "open"
