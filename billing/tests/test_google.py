"""Google Play: Pub/Sub pushes with OIDC tokens, the Play Developer API over real HTTP
against a local fake (tests/fakes/google_play.py), the purchase token posted by the app."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient

from accounts.services import tokens_for_user
from accounts.tests.factories import UserFactory
from billing.models import CreditEntry, CreditLot, StoreSubscription, StripeEvent, WebhookAttempt
from billing.selectors import credit_balance, user_entitlements
from billing.services import ledger
from tests.concurrency import at_once
from tests.fakes.google_play import FakeGooglePlay, SigningKey

from .store_fixtures import GOOGLE_PURCHASE_URL, GOOGLE_URL, account_token, grants, post_json, snapshot
from .store_fixtures import store_plans  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db

# RTDN notificationType values.
PURCHASED, RENEWED, CANCELED, IN_GRACE, ON_HOLD, PAUSED, EXPIRED, RECOVERED, REVOKED = 4, 2, 3, 6, 5, 10, 13, 1, 12


def _push(play: FakeGooglePlay, data: dict, *, token: str | None = None, message_id: str | None = None,
          client=None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token if token is not None else play.push_token()}"}
    return post_json(client or APIClient(), GOOGLE_URL, play.push(data, message_id=message_id), **headers)


def _notify(play, purchase_token, kind, **kwargs):
    return _push(play, play.subscription_message(purchase_token, kind), **kwargs)


def _bought(auth_api, play, product="basic_monthly", **kwargs) -> str:
    token = play.buy(product_id=product, account_id=account_token(auth_api), **kwargs)
    assert _notify(play, token, PURCHASED).status_code == 200
    return token


def test_purchase_gives_the_plan_its_credits_and_is_acknowledged(auth_api, google_play, store_plans):
    user = auth_api.user
    token = _bought(auth_api, google_play)

    sub = StoreSubscription.objects.get(user=user)
    assert (sub.store, sub.store_key, sub.plan, sub.status, sub.acknowledged) == (
        "google", token, store_plans.basic, "active", True)
    assert google_play.acknowledged == [token]
    ent = user_entitlements(user_id=user.pk)
    assert (ent.plan_code, ent.store, ent.source) == ("basic", "google", "subscription")
    order = google_play.order_of(token)
    assert grants(user) == [(f"google:tx:{order}", 500)]
    assert CreditLot.objects.get(source=f"google:tx:{order}").expires_at == sub.expires_at


def test_renewal_grants_the_new_order_once(auth_api, google_play, store_plans):
    user = auth_api.user
    token = _bought(auth_api, google_play)
    order = google_play.renew(token)
    assert _notify(google_play, token, RENEWED, message_id="m-renew").status_code == 200
    assert _notify(google_play, token, RENEWED, message_id="m-renew").json()["outcome"] == "duplicate"
    # Another message about the same state (Pub/Sub may send one again under a new id).
    assert _notify(google_play, token, RENEWED).status_code == 200

    assert [ref for ref, _ in grants(user)][1:] == [f"google:tx:{order}"]
    assert google_play.acknowledged == [token]


def test_upgrade_replaces_the_purchase_and_tops_the_period_up(auth_api, google_play, store_plans):
    user = auth_api.user
    old = _bought(auth_api, google_play)
    # The replacing purchase links the old token; the app did not set the account id again.
    new = google_play.buy(product_id="pro_monthly", linked=old)
    google_play.set_state(old, "EXPIRED", expiry=datetime.now(UTC))
    assert _notify(google_play, new, PURCHASED).status_code == 200
    assert _notify(google_play, old, EXPIRED).status_code == 200

    ent = user_entitlements(user_id=user.pk)
    assert (ent.plan_code, ent.subscription_id) == ("pro", new)
    assert [amount for _, amount in grants(user)] == [500, 1500]


def test_downgrade_by_replacement_gives_the_lower_plan_without_credits_in_this_period(auth_api, google_play,
                                                                                    store_plans):
    user = auth_api.user
    old = _bought(auth_api, google_play, product="pro_monthly")
    new = google_play.buy(product_id="basic_monthly", linked=old, account_id=account_token(auth_api))
    google_play.set_state(old, "EXPIRED", expiry=datetime.now(UTC))
    assert _notify(google_play, old, EXPIRED).status_code == 200
    assert _notify(google_play, new, PURCHASED).status_code == 200

    assert user_entitlements(user_id=user.pk).plan_code == "basic"
    assert [amount for _, amount in grants(user)] == [2000]


@pytest.mark.parametrize(("state", "kind", "entitled", "source"), [
    ("IN_GRACE_PERIOD", IN_GRACE, "basic", "grace"),
    ("ON_HOLD", ON_HOLD, "free", "free"),
    ("PAUSED", PAUSED, "free", "free"),
    ("CANCELED", CANCELED, "basic", "subscription"),  # still paid for until the expiry
    ("EXPIRED", EXPIRED, "free", "free"),
])
def test_each_play_state_reaches_the_entitlements(state, kind, entitled, source, auth_api, google_play,
                                                   store_plans):
    user = auth_api.user
    token = _bought(auth_api, google_play)
    expiry = datetime.now(UTC) + (timedelta(days=-1) if state == "EXPIRED" else timedelta(days=3))
    google_play.set_state(token, state, expiry=expiry, auto_renew=state not in ("CANCELED", "EXPIRED"))

    assert _notify(google_play, token, kind).status_code == 200

    ent = user_entitlements(user_id=user.pk)
    assert (ent.plan_code, ent.source) == (entitled, source)
    assert StoreSubscription.objects.get(user=user).status == {"IN_GRACE_PERIOD": "grace"}.get(state, state.lower())


def test_canceled_lapses_at_the_expiry(auth_api, google_play, store_plans):
    user = auth_api.user
    token = _bought(auth_api, google_play)
    google_play.set_state(token, "CANCELED", auto_renew=False)
    assert _notify(google_play, token, CANCELED).status_code == 200

    sub = StoreSubscription.objects.get(user=user)
    assert user_entitlements(user_id=user.pk, now=sub.expires_at - timedelta(seconds=1)).plan_code == "basic"
    assert user_entitlements(user_id=user.pk, now=sub.expires_at + timedelta(seconds=1)).plan_code == "free"


def test_voided_purchase_claws_back_what_is_unspent(auth_api, google_play, store_plans):
    user = auth_api.user
    token = _bought(auth_api, google_play)
    order = google_play.order_of(token)
    signup = credit_balance(user_id=user.pk).by_kind["bonus"]
    ledger.credits_reserve(user_id=user.pk, amount=200, reference="job-1")
    ledger.credits_capture(user_id=user.pk, reference="job-1")
    google_play.set_state(token, "EXPIRED", expiry=datetime.now(UTC))

    for _ in range(2):
        assert _push(google_play, google_play.voided_message(token, order)).status_code == 200

    balance = credit_balance(user_id=user.pk)
    assert (balance.by_kind["plan"], balance.by_kind["bonus"]) == (0, signup)
    assert list(CreditEntry.objects.filter(user=user, kind="clawback").values_list("available_delta", flat=True)) == [
        -300]
    assert user_entitlements(user_id=user.pk).plan_code == "free"


@pytest.mark.django_db(transaction=True)
def test_the_same_push_ten_times_at_once_grants_once(google_play, store_plans):
    user = UserFactory()
    from billing.services.stores import store_account_token

    token = google_play.buy(product_id="pro_monthly", account_id=store_account_token(user_id=user.pk))
    data = google_play.subscription_message(token, PURCHASED)
    auth = google_play.push_token()

    statuses = at_once([lambda: _push(google_play, data, token=auth, message_id="m-1").status_code
                        for _ in range(10)])

    assert statuses == [200] * 10
    assert grants(user) == [(f"google:tx:{google_play.order_of(token)}", 2000)]
    assert StripeEvent.objects.filter(source="google").count() == 1
    assert sorted(WebhookAttempt.objects.values_list("outcome", flat=True)) == ["duplicate"] * 9 + ["processed"]
    assert google_play.acknowledged == [token]


def test_notifications_out_of_order_end_in_the_stores_state(auth_api, google_play, store_plans):
    user = auth_api.user
    token = google_play.buy(product_id="basic_monthly", account_id=account_token(auth_api))
    google_play.renew(token)
    google_play.set_state(token, "CANCELED", auto_renew=False)
    # The cancel is heard first, the purchase and renewal after: each fetch reads today's truth.
    for kind in (CANCELED, RENEWED, PURCHASED):
        assert _notify(google_play, token, kind).status_code == 200

    sub = StoreSubscription.objects.get(user=user)
    assert (sub.status, sub.auto_renew) == ("canceled", False)
    assert len(grants(user)) == 1  # the latest order; the first one was never seen as current


# --- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize("forgery", ["missing", "wrong_key", "wrong_audience", "wrong_account", "expired",
                                     "not_bearer"])
def test_a_push_without_a_valid_oidc_token_is_refused_and_changes_nothing(forgery, auth_api, google_play,
                                                                         store_plans):
    token = google_play.buy(product_id="pro_monthly", account_id=account_token(auth_api))
    auth = {"missing": None, "not_bearer": "Basic abc",
            "wrong_key": f"Bearer {google_play.push_token(key=SigningKey())}",
            "wrong_audience": f"Bearer {google_play.push_token(audience='https://evil.example.com/')}",
            "wrong_account": f"Bearer {google_play.push_token(email='someone@evil.example.com')}",
            "expired": f"Bearer {google_play.push_token(expires_in=-3600)}"}[forgery]
    headers = {"HTTP_AUTHORIZATION": auth} if auth else {}
    before = snapshot()

    response = post_json(APIClient(), GOOGLE_URL, google_play.push(google_play.subscription_message(token, PURCHASED)),
                         **headers)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == ("signature_missing" if forgery == "missing" else "signature_invalid")
    assert snapshot() == before
    assert google_play.acknowledged == []


def test_a_push_for_another_app_changes_nothing(auth_api, google_play, store_plans):
    token = google_play.buy(product_id="pro_monthly", account_id=account_token(auth_api))
    before = snapshot()

    response = _push(google_play, google_play.subscription_message(token, PURCHASED, package="com.other.app"))

    assert response.status_code == 200
    assert snapshot()[:3] == before[:3]


def test_a_malformed_push_is_refused(google_play, store_plans):
    response = post_json(APIClient(), GOOGLE_URL, {"message": {"data": "%%%", "messageId": "1"}},
                         HTTP_AUTHORIZATION=f"Bearer {google_play.push_token()}")

    assert (response.status_code, response.json()["error"]["code"]) == (400, "payload_invalid")
    assert StripeEvent.objects.count() == 0


# --- the app posts its purchase token -----------------------------------------------------------


def _client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_for_user(user)['access']}")
    return client


def test_the_app_posts_its_purchase_token(auth_api, google_play, store_plans):
    token = google_play.buy(product_id="pro_monthly", account_id=account_token(auth_api))

    response = post_json(auth_api, GOOGLE_PURCHASE_URL, {"purchase_token": token})

    assert response.status_code == 200, response.json()
    assert (response.json()["subscription"]["plan"], response.json()["entitlements"]["plan"]) == ("pro", "pro")
    assert google_play.acknowledged == [token]
    assert _notify(google_play, token, PURCHASED).status_code == 200
    assert len(grants(auth_api.user)) == 1


def test_a_purchase_linked_to_another_account_is_refused(auth_api, google_play, store_plans):
    token = google_play.buy(product_id="pro_monthly", account_id=account_token(auth_api))
    intruder = UserFactory()
    before = snapshot()

    response = post_json(_client(intruder), GOOGLE_PURCHASE_URL, {"purchase_token": token})

    assert (response.status_code, response.json()["error"]["code"]) == (409, "purchase_linked_to_another_account")
    assert snapshot() == before
    assert google_play.acknowledged == []


def test_an_unknown_purchase_token_is_refused(auth_api, google_play, store_plans):
    before = snapshot()
    response = post_json(auth_api, GOOGLE_PURCHASE_URL, {"purchase_token": "tok-unknown"})

    assert (response.status_code, response.json()["error"]["code"]) == (400, "purchase_invalid")
    assert snapshot() == before


def test_without_google_play_configured_the_endpoints_say_so(auth_api, settings):
    settings.GOOGLE_PLAY_PACKAGE_NAME = ""
    assert post_json(auth_api, GOOGLE_PURCHASE_URL, {"purchase_token": "t"}).json()["error"]["code"] == (
        "billing_not_configured")
    assert post_json(APIClient(), GOOGLE_URL, {}).status_code == 503


def test_a_push_nested_too_deep_is_refused(google_play):
    response = APIClient().post(GOOGLE_URL, data="[" * 5000 + "]" * 5000, content_type="application/json",
                                HTTP_AUTHORIZATION=f"Bearer {google_play.push_token()}")

    assert (response.status_code, response.json()["error"]["code"]) == (400, "payload_invalid")
    assert StripeEvent.objects.count() == 0
