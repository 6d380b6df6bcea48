"""Billing endpoints: plans and prices by market, checkout, portal, subscription, credits."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.tests.factories import UserFactory
from billing import services
from billing.models import BillingCustomer, CheckoutSession, CreditEntry, CreditLot, PlanChange, Subscription
from tests.concurrency import at_once
from billing.tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db


def _nothing_bought(stripe_fake) -> None:
    assert not CheckoutSession.objects.exists()
    assert not PlanChange.objects.exists()
    assert [r for r in stripe_fake.requests if r.method == "POST"] == []


# --- plans ---------------------------------------------------------------------------------


def test_plans_in_the_users_currency(client_for, catalogue, settings):
    settings.GENERATION_FREE_CONCURRENT_JOBS = 1
    settings.GENERATION_FREE_MAX_DURATION = 8
    settings.GENERATION_FREE_MAX_SHORT_SIDE = 720
    settings.GENERATION_FREE_DAILY_QUOTA = 30

    response = client_for(UserFactory(country="DE")).get("/api/v1/billing/plans")

    assert response.status_code == 200
    assert response.json() == {
        "currency": "eur",
        "current_plan": "free",
        "billing_offered": True,  # DE is in no market: billing everywhere, every store
        "stores": ["stripe", "app_store", "google_play"],
        "plans": [
            {"code": "free", "name": "Free", "description": "Generate with the free tier's limits.",
             "monthly_credits": 0, "max_concurrent_jobs": 1,
             "max_duration_seconds": 8, "max_short_side": 720, "queue_priority": 0, "watermark": True,
             "daily_generations": 30, "max_queued_jobs": 5, "price": None},
            {"code": "basic", "name": "Basic", "description": "", "monthly_credits": 500, "max_concurrent_jobs": 2,
             "max_duration_seconds": 12, "max_short_side": 1080, "queue_priority": 4, "watermark": True,
             "daily_generations": 100, "max_queued_jobs": 20,
             "price": {"currency": "eur", "unit_amount": 899, "display": "€8.99", "interval": "month"}},
            {"code": "pro", "name": "Pro", "description": "", "monthly_credits": 2000, "max_concurrent_jobs": 4,
             "max_duration_seconds": 12, "max_short_side": 1080, "queue_priority": 8, "watermark": False,
             "daily_generations": 100, "max_queued_jobs": 20,
             "price": {"currency": "eur", "unit_amount": 2699, "display": "€26.99", "interval": "month"}},
        ],
        "packs": [{"code": "credits-300", "name": "300 credits", "description": "", "credits": 300,
                   "price": {"currency": "eur", "unit_amount": 449, "display": "€4.49"}}],
    }


@pytest.mark.parametrize(("country", "currency", "basic_amount"), [
    ("US", "usd", 999),
    ("FR", "eur", 899),
    ("JP", "jpy", 999),  # a market with no yen price yet: the USD price is shown
    ("", "usd", 999),
])
def test_each_market_sees_its_price_or_the_usd_fallback(country, currency, basic_amount, client_for, catalogue):
    body = client_for(UserFactory(country=country)).get("/api/v1/billing/plans").json()

    assert body["currency"] == currency
    basic = next(p for p in body["plans"] if p["code"] == "basic")
    assert basic["price"]["unit_amount"] == basic_amount
    assert basic["price"]["currency"] == ("eur" if currency == "eur" else "usd")


def test_a_customer_keeps_the_currency_they_first_paid_in(client_for, catalogue):
    user = UserFactory(country="US")
    BillingCustomer.objects.create(user=user, stripe_customer_id="cus_eu", currency="eur")

    assert client_for(user).get("/api/v1/billing/plans").json()["currency"] == "eur"


def test_signed_out_visitors_pick_their_market(api, catalogue):
    body = api.get("/api/v1/billing/plans?country=es").json()

    assert (body["currency"], body["current_plan"]) == ("eur", None)


def test_inactive_plans_are_not_listed(client_for, catalogue):
    catalogue.pro.is_active = False
    catalogue.pro.save()

    codes = [p["code"] for p in client_for(UserFactory()).get("/api/v1/billing/plans").json()["plans"]]

    assert codes == ["free", "basic"]


# --- without Stripe -------------------------------------------------------------------------


def test_without_a_stripe_key_purchases_are_503_and_reads_still_work(auth_api, settings, db):
    settings.STRIPE_SECRET_KEY = ""

    for method, path in (("get", "plans"), ("post", "checkout"), ("post", "portal")):
        response = getattr(auth_api, method)(f"/api/v1/billing/{path}", {"plan": "basic"}, format="json")
        assert response.status_code == 503, path
        assert response.json()["error"]["code"] == "billing_not_configured"
    subscription = auth_api.get("/api/v1/billing/subscription")
    credits = auth_api.get("/api/v1/billing/credits")

    assert subscription.status_code == 200
    assert subscription.json()["entitlements"]["plan"] == "free"
    assert credits.json()["balance"]["available"] == 100
    assert not CheckoutSession.objects.exists()
    assert not BillingCustomer.objects.exists()


# --- checkout -------------------------------------------------------------------------------


def test_checkout_of_a_plan_creates_a_stripe_session_with_keys_from_our_rows(auth_api, catalogue, stripe_fake,
                                                                           settings):
    user = auth_api.user

    response = auth_api.post("/api/v1/billing/checkout", {"plan": "basic"}, format="json")

    assert response.status_code == 201
    checkout = CheckoutSession.objects.get()
    customer = BillingCustomer.objects.get(user=user)
    body = response.json()
    assert body == {"checkout_id": str(checkout.pk), "kind": "plan", "plan": "basic", "pack": None,
                    "url": f"https://checkout.stripe.com/c/pay/{checkout.stripe_session_id}", "status": "open",
                    "currency": "usd", "unit_amount": 999, "expires_at": body["expires_at"]}
    create_customer, = stripe_fake.posts("/v1/customers")
    assert create_customer.idempotency_key == f"customer-{user.pk}"
    assert create_customer.params["metadata"] == {"user_id": str(user.pk), "handle": user.handle}
    create_session, = stripe_fake.posts("/v1/checkout/sessions")
    assert create_session.idempotency_key == f"checkout-{checkout.pk}"
    params = create_session.params
    assert (params["mode"], params["customer"], params["client_reference_id"]) == (
        "subscription", customer.stripe_customer_id, str(checkout.pk))
    assert params["line_items"] == [{"price": catalogue.prices["basic-usd"], "quantity": "1"}]
    assert (params["success_url"], params["cancel_url"]) == (settings.BILLING_CHECKOUT_SUCCESS_URL,
                                                             settings.BILLING_CHECKOUT_CANCEL_URL)
    assert params["subscription_data"]["metadata"] == {"checkout_id": str(checkout.pk), "user_id": str(user.pk),
                                                       "plan": "basic"}


def test_checkout_of_a_pack_is_a_one_time_payment_in_the_users_currency(client_for, catalogue, stripe_fake):
    user = UserFactory(country="IT")

    response = client_for(user).post("/api/v1/billing/checkout", {"pack": "credits-300"}, format="json")

    assert response.status_code == 201
    checkout = CheckoutSession.objects.get()
    assert (checkout.kind, checkout.credits, checkout.currency, checkout.unit_amount) == ("pack", 300, "eur", 449)
    params = stripe_fake.posts("/v1/checkout/sessions")[0].params
    assert (params["mode"], params["line_items"][0]["price"]) == ("payment", catalogue.prices["pack-eur"])
    assert params["payment_intent_data"]["metadata"]["pack"] == "credits-300"


def test_an_idempotency_key_returns_the_same_checkout(auth_api, catalogue, stripe_fake):
    first = auth_api.post("/api/v1/billing/checkout", {"pack": "credits-300"}, format="json",
                          HTTP_IDEMPOTENCY_KEY="buy-1")
    again = auth_api.post("/api/v1/billing/checkout", {"pack": "credits-300"}, format="json",
                          HTTP_IDEMPOTENCY_KEY="buy-1")
    other = auth_api.post("/api/v1/billing/checkout", {"plan": "basic"}, format="json", HTTP_IDEMPOTENCY_KEY="buy-1")

    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == again.json()
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert CheckoutSession.objects.count() == 1
    assert len(stripe_fake.posts("/v1/checkout/sessions")) == 1


@pytest.mark.django_db(transaction=True)
def test_the_same_checkout_sent_five_times_at_once_makes_one_session(catalogue, stripe_fake, client_for):
    user = UserFactory()

    def buy() -> tuple[int, str]:
        response = client_for(user).post("/api/v1/billing/checkout", {"plan": "basic"}, format="json",
                                         HTTP_IDEMPOTENCY_KEY="tap-1")
        return response.status_code, response.json()["checkout_id"]

    results = at_once([buy] * 5)

    checkout = CheckoutSession.objects.get()
    assert sorted(results) == [(200, str(checkout.pk))] * 4 + [(201, str(checkout.pk))]
    assert len(stripe_fake.posts("/v1/checkout/sessions")) == 1
    assert BillingCustomer.objects.filter(user=user).count() == 1
    assert [o["id"] for o in stripe_fake.objects.values() if o["object"] == "customer"] == [
        BillingCustomer.objects.get(user=user).stripe_customer_id]


def test_one_open_plan_checkout_per_user(auth_api, catalogue, stripe_fake):
    first = auth_api.post("/api/v1/billing/checkout", {"plan": "basic"}, format="json").json()
    same = auth_api.post("/api/v1/billing/checkout", {"plan": "basic"}, format="json")
    other = auth_api.post("/api/v1/billing/checkout", {"plan": "pro"}, format="json")

    assert same.status_code == 200
    assert same.json()["checkout_id"] == first["checkout_id"]
    assert other.status_code == 201
    old = CheckoutSession.objects.get(pk=first["checkout_id"])
    assert old.status == "expired"
    assert stripe_fake.get(old.stripe_session_id)["status"] == "expired"
    assert list(CheckoutSession.objects.filter(status="open").values_list("plan__code", flat=True)) == ["pro"]


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"plan": "gold"}, 404, "plan_not_found"),
    ({"pack": "credits-9000"}, 404, "pack_not_found"),
    ({"plan": "basic", "pack": "credits-300"}, 400, "plan_or_pack_required"),
    ({}, 400, "plan_or_pack_required"),
])
def test_bad_checkout_requests_buy_nothing(body, status, code, auth_api, catalogue, stripe_fake):
    response = auth_api.post("/api/v1/billing/checkout", body, format="json")

    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    _nothing_bought(stripe_fake)


def test_checkout_needs_a_signed_in_user(api, catalogue, stripe_fake):
    response = api.post("/api/v1/billing/checkout", {"plan": "basic"}, format="json")

    assert response.status_code == 401
    _nothing_bought(stripe_fake)


def test_a_subscriber_choosing_their_own_plan_is_refused(auth_api, catalogue, stripe_fake):
    SubscriptionFactory(user=auth_api.user, plan=catalogue.basic)

    response = auth_api.post("/api/v1/billing/checkout", {"plan": "basic"}, format="json")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "already_subscribed"
    assert not PlanChange.objects.exists()
    assert stripe_fake.requests == []


def test_a_subscriber_with_an_unpaid_invoice_is_sent_to_the_portal(auth_api, catalogue, stripe_fake):
    SubscriptionFactory(user=auth_api.user, plan=catalogue.basic, status="past_due")

    response = auth_api.post("/api/v1/billing/checkout", {"plan": "pro"}, format="json")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "subscription_payment_due"
    _nothing_bought(stripe_fake)
    assert Subscription.objects.get().plan == catalogue.basic


# --- portal ------------------------------------------------------------------------------------


def test_portal_returns_a_stripe_portal_url(auth_api, catalogue, stripe_fake, settings):
    auth_api.post("/api/v1/billing/checkout", {"pack": "credits-300"}, format="json")
    customer = BillingCustomer.objects.get(user=auth_api.user)

    response = auth_api.post("/api/v1/billing/portal")

    assert response.status_code == 201
    request, = stripe_fake.posts("/v1/billing_portal/sessions")
    assert response.json() == {"url": stripe_fake.get(next(
        o["id"] for o in stripe_fake.objects.values() if o["object"] == "billing_portal.session"))["url"]}
    assert request.params == {"customer": customer.stripe_customer_id, "return_url": settings.BILLING_PORTAL_RETURN_URL}
    assert request.idempotency_key.startswith(f"portal-{customer.stripe_customer_id}-")


def test_portal_without_a_purchase_is_409(auth_api, stripe_fake):
    response = auth_api.post("/api/v1/billing/portal")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "no_billing_account"
    assert stripe_fake.requests == []


# --- subscription and credits -----------------------------------------------------------------


def test_subscription_of_a_free_user(auth_api, settings):
    settings.GENERATION_FREE_CONCURRENT_JOBS = 1
    settings.GENERATION_FREE_MAX_DURATION = 12
    settings.GENERATION_FREE_MAX_SHORT_SIDE = 720
    settings.GENERATION_FREE_DAILY_QUOTA = 30

    response = auth_api.get("/api/v1/billing/subscription")

    tomorrow = (timezone.now() + timedelta(days=1)).date()
    assert response.json() == {"subscription": None, "entitlements": {
        "plan": "free", "plan_name": "Free", "source": "free", "reason": "No subscription.", "valid_until": None,
        "store": "", "active_subscriptions": [],
        "monthly_credits": 0, "max_concurrent_jobs": 1, "max_duration_seconds": 12, "max_short_side": 720,
        "queue_priority": 0, "watermark": True, "daily_generations": 30, "max_queued_jobs": 5},
        "daily_quota": {"limit": 30, "used": 0, "remaining": 30, "resets_at": f"{tomorrow}T00:00:00Z"}}


def test_subscription_of_a_subscriber(auth_api, catalogue):
    sub = SubscriptionFactory(user=auth_api.user, plan=catalogue.pro, stripe_subscription_id="sub_123")

    body = auth_api.get("/api/v1/billing/subscription").json()

    assert body["subscription"]["id"] == "sub_123"
    assert (body["subscription"]["plan"], body["subscription"]["status"]) == ("pro", "active")
    assert (body["entitlements"]["plan"], body["entitlements"]["source"], body["entitlements"]["watermark"]) == (
        "pro", "subscription", False)
    assert body["entitlements"]["valid_until"] == sub.current_period_end.isoformat().replace("+00:00", "Z")


def test_credits_balance_by_kind_and_history_in_cursor_pages(auth_api, settings):
    user = auth_api.user
    services.credits_grant(user_id=user.pk, amount=300, kind="pack", key="pack:a", reference="pack:a")
    for i in range(3):
        services.credits_reserve(user_id=user.pk, amount=10, reference=f"generation:{i}")
    services.credits_capture(user_id=user.pk, reference="generation:0")
    services.credits_grant(user_id=UserFactory().pk, amount=5, key="other")  # someone else's: not shown

    first = auth_api.get("/api/v1/billing/credits?page_size=4").json()
    second = auth_api.get(first["next"]).json()

    assert first["balance"] == {"available": 370, "reserved": 20, "by_kind": {"plan": 0, "bonus": 70, "pack": 300},
                                "expiring": []}
    kinds = [e["kind"] for e in first["results"] + second["results"]]
    assert kinds == ["capture", "reserve", "reserve", "reserve", "grant", "grant"]
    assert second["next"] is None
    reserve = first["results"][1]
    assert (reserve["available_delta"], reserve["by_kind"]) == (-10, {"bonus": -10})
    ids = [e["id"] for e in first["results"] + second["results"]]
    assert ids == sorted(CreditEntry.objects.filter(user=user).values_list("id", flat=True), reverse=True)


def test_the_credits_ledger_shows_the_signup_grant_and_expiry_written_down_by_the_read(client_for, settings):
    settings.CREDITS_SIGNUP_GRANT = 100
    user = UserFactory()
    fresh = client_for(user).get("/api/v1/billing/credits").json()
    services.credits_grant(user_id=user.pk, amount=50, kind="plan", key="invoice:1", reference="invoice:1",
                           expires_at=timezone.now() + timedelta(days=1))
    CreditLot.objects.filter(user=user, kind="plan").update(expires_at=timezone.now() - timedelta(seconds=1))

    expired = client_for(user).get("/api/v1/billing/credits").json()

    assert [(e["kind"], e["available_delta"]) for e in fresh["results"]] == [("grant", 100)]
    assert expired["balance"] == {"available": 100, "reserved": 0, "by_kind": {"plan": 0, "bonus": 100, "pack": 0},
                                  "expiring": []}
    assert [(e["kind"], e["available_delta"]) for e in expired["results"]] == [
        ("expire", -50), ("grant", 50), ("grant", 100)]
    assert CreditLot.objects.get(user=user, kind="plan").closed_reason == "expired"


def test_prices_are_formatted_for_the_language_and_plans_read_in_it(client_for, catalogue):
    from accounts.models import Market
    from billing.models import PackPrice, PlanPrice, PlanText

    brazil, _ = Market.objects.update_or_create(code="br", defaults={
        "name": "Brazil", "countries": ["BR"], "languages": ["pt-br"], "currency": "brl"})
    PlanPrice.objects.create(plan=catalogue.basic, currency="brl", unit_amount=4990, stripe_price_id="price_basic_brl")
    PackPrice.objects.create(pack=catalogue.pack, currency="brl", unit_amount=1990, stripe_price_id="price_pack_brl")
    PlanText.objects.create(plan=catalogue.basic, language="pt-br", name="Básico", description="Para começar.")

    body = client_for(UserFactory(country="BR", market=brazil, locale="pt-BR")).get("/api/v1/billing/plans").json()

    basic = next(p for p in body["plans"] if p["code"] == "basic")
    assert (body["currency"], basic["name"], basic["description"]) == ("brl", "Básico", "Para começar.")
    assert basic["price"]["display"] == "R$\xa049,90"
    assert body["packs"][0]["price"]["display"] == "R$\xa019,90"
    assert body["plans"][0]["name"] == "Grátis"
    japanese = client_for(UserFactory(country="BR", market=brazil, locale="ja")).get("/api/v1/billing/plans").json()
    assert next(p for p in japanese["plans"] if p["code"] == "basic")["price"]["display"] == "R$49.90"


def test_a_market_without_billing_shows_the_free_tier_and_refuses_checkout(client_for, catalogue):
    from accounts.models import Market
    from billing.models import CheckoutSession

    market, _ = Market.objects.update_or_create(code="nobill", defaults={
        "name": "No billing", "countries": ["VA"], "billing_offered": False})
    client = client_for(UserFactory(country="VA", market=market))

    plans = client.get("/api/v1/billing/plans").json()
    checkout = client.post("/api/v1/billing/checkout", {"plan": "basic"}, format="json",
                           HTTP_IDEMPOTENCY_KEY="k-nobill")

    assert ([p["code"] for p in plans["plans"]], plans["packs"], plans["billing_offered"], plans["stores"]) == (
        ["free"], [], False, [])
    assert checkout.status_code == 403
    assert checkout.json()["error"]["code"] == "billing_not_offered"
    assert not CheckoutSession.objects.exists()
