"""Staff tools: plans with prices, Stripe events with replay, the ledger with reasoned adjustments,
and why a user has the entitlements they have."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.tests.factories import UserFactory
from billing import services
from billing.models import (
    CheckoutSession,
    CreditAccount,
    CreditEntry,
    Plan,
    PlanPrice,
    StoreProduct,
    StripeEvent,
    Subscription,
    WebhookAttempt,
)
from billing.selectors import credit_balance
from billing.tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(admin_user):
    return admin_user


def test_every_billing_admin_page_opens(admin_client, catalogue, stripe_fake, auth_api, deliver_new):
    checkout = CheckoutSession.objects.get(pk=auth_api.post("/api/v1/billing/checkout", {"plan": "basic"},
                                                            format="json").json()["checkout_id"])
    stripe_fake.complete_checkout(checkout.stripe_session_id)
    deliver_new()
    objects = {
        "plan": catalogue.basic, "creditpack": catalogue.pack, "subscription": Subscription.objects.get(),
        "stripeevent": StripeEvent.objects.first(), "webhookattempt": WebhookAttempt.objects.first(),
        "checkoutsession": checkout, "creditaccount": CreditAccount.objects.get(user=auth_api.user),
        "creditentry": CreditEntry.objects.filter(user=auth_api.user).first(),
    }
    for model, obj in objects.items():
        listing = admin_client.get(reverse(f"admin:billing_{model}_changelist"))
        page = admin_client.get(reverse(f"admin:billing_{model}_change", args=[obj.pk]))
        assert (listing.status_code, page.status_code) == (200, 200), model
    for model in ("planchange", "billingcustomer", "creditlot"):
        assert admin_client.get(reverse(f"admin:billing_{model}_changelist")).status_code == 200


def test_staff_create_a_plan_with_prices_per_currency(admin_client):
    response = admin_client.post(reverse("admin:billing_plan_add"), {
        "code": "max", "name": "Max", "rank": 3, "monthly_credits": 5000, "max_concurrent_jobs": 8,
        "max_queued_jobs": 40, "max_duration_seconds": 12, "max_short_side": 1080, "queue_priority": 9,
        "removes_watermark": "on", "daily_generations": 500, "is_active": "on",
        "store_products-TOTAL_FORMS": 2, "store_products-INITIAL_FORMS": 0, "store_products-MIN_NUM_FORMS": 0,
        "store_products-MAX_NUM_FORMS": 1000,
        "store_products-0-store": "apple", "store_products-0-product_id": "com.example.max.monthly",
        "store_products-1-store": "google", "store_products-1-product_id": "max_monthly",
        "prices-TOTAL_FORMS": 2, "prices-INITIAL_FORMS": 0, "prices-MIN_NUM_FORMS": 0, "prices-MAX_NUM_FORMS": 1000,
        "prices-0-currency": "usd", "prices-0-unit_amount": 4999, "prices-0-stripe_price_id": "price_max_usd",
        "prices-1-currency": "eur", "prices-1-unit_amount": 4499, "prices-1-stripe_price_id": "price_max_eur",
        "texts-TOTAL_FORMS": 1, "texts-INITIAL_FORMS": 0, "texts-MIN_NUM_FORMS": 0, "texts-MAX_NUM_FORMS": 1000,
        "texts-0-language": "pt-br", "texts-0-name": "Máximo", "texts-0-description": "Para quem cria todo dia.",
    })

    assert response.status_code == 302
    plan = Plan.objects.get(code="max")
    assert sorted(PlanPrice.objects.filter(plan=plan).values_list("currency", "unit_amount", "stripe_price_id")) == [
        ("eur", 4499, "price_max_eur"), ("usd", 4999, "price_max_usd")]
    assert list(plan.texts.values_list("language", "name", "description")) == [
        ("pt-br", "Máximo", "Para quem cria todo dia.")]
    assert sorted(StoreProduct.objects.filter(plan=plan).values_list("store", "product_id")) == [
        ("apple", "com.example.max.monthly"), ("google", "max_monthly")]
    assert plan.daily_generations == 500


def test_replay_of_a_failed_event_processes_it_once(admin_client, staff, catalogue, stripe_fake, auth_api, deliver):
    checkout = CheckoutSession.objects.get(pk=auth_api.post("/api/v1/billing/checkout", {"pack": "credits-300"},
                                                            format="json").json()["checkout_id"])
    stripe_fake.complete_checkout(checkout.stripe_session_id)
    completed = stripe_fake.events_of("checkout.session.completed")[0]
    stripe_fake.api_key = "sk_test_rotated"
    try:
        # charge.refunded needs Stripe: it fails while Stripe refuses our key.
        deliver(completed)
        stripe_fake.refund(stripe_fake.charge_of_session(checkout.stripe_session_id)["id"])
        assert deliver(stripe_fake.events_of("charge.refunded")[0]).status_code == 500
    finally:
        stripe_fake.api_key = stripe_fake.__class__.api_key
    event = StripeEvent.objects.get(type="charge.refunded")
    assert event.status == "failed"
    url = reverse("admin:billing_stripeevent_changelist")

    for _ in range(2):
        response = admin_client.post(url, {"action": "replay", "_selected_action": [event.pk]})
        assert response.status_code == 302

    event.refresh_from_db()
    assert (event.status, event.attempts, event.replayed_by_id) == ("processed", 3, staff.pk)
    assert list(CreditEntry.objects.filter(user=auth_api.user, kind="clawback").values_list("available_delta",
                                                                                            flat=True)) == [-300]
    assert credit_balance(user_id=auth_api.user.pk).by_kind["pack"] == 0


def test_the_account_page_says_why_a_user_has_their_entitlements(admin_client, catalogue):
    user = UserFactory()
    SubscriptionFactory(user=user, plan=catalogue.pro, stripe_subscription_id="sub_why")
    services.credits_expire_due(user_id=user.pk)  # opens the account

    page = admin_client.get(reverse("admin:billing_creditaccount_change", args=[user.pk])).content.decode()

    assert "Paid subscription sub_why on pro is active." in page
    assert "plan: 0, bonus: 100, pack: 0" in page
    assert "Add a reasoned adjustment" in page


def test_a_manual_adjustment_needs_a_reason_and_cannot_overdraw(admin_client, staff):
    user = UserFactory()
    services.credits_expire_due(user_id=user.pk)  # opens the account
    url = reverse("admin:billing_creditentry_add")

    no_reason = admin_client.post(url, {"user": user.pk, "amount": 50, "reason": "  "})
    overdraw = admin_client.post(url, {"user": user.pk, "amount": -101, "reason": "chargeback"})
    ok = admin_client.post(url, {"user": user.pk, "amount": -40, "reason": "chargeback #77"})

    assert (no_reason.status_code, overdraw.status_code, ok.status_code) == (200, 200, 302)
    assert "This field is required." in no_reason.content.decode()  # a blank reason is no reason
    assert "Only 100 credits are available to remove." in overdraw.content.decode()
    entry = CreditEntry.objects.get(kind="adjustment")
    assert (entry.user_id, entry.available_delta, entry.reason, entry.created_by_id) == (
        user.pk, -40, "chargeback #77", staff.pk)
    assert credit_balance(user_id=user.pk).available == 60
