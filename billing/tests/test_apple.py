"""App Store: Server Notifications V2 and StoreKit 2 transactions, verified with Apple's
SignedDataVerifier against a certificate chain the tests build (tests/fakes/app_store.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient

from accounts.services import tokens_for_user
from accounts.tests.factories import UserFactory
from billing.models import CreditEntry, CreditLot, StoreSubscription, StripeEvent, WebhookAttempt
from billing.selectors import credit_balance, user_entitlements
from billing.services import ledger, webhooks
from tests.concurrency import at_once
from tests.fakes.app_store import Chain

from .store_fixtures import APPLE_TX_URL, APPLE_URL, account_token, grants, post_json, snapshot
from .store_fixtures import store_plans  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _notify(client, app_store, kind, tx, **kwargs):
    return post_json(client, APPLE_URL, app_store.notification(kind, tx, **kwargs))


def _bought(auth_api, app_store, *, product="com.example.basic", days_left=30, **kwargs) -> dict:
    token = account_token(auth_api)
    tx = app_store.transaction(product_id=product, account_token=token, expires=_now() + timedelta(days=days_left),
                               purchased=_now() - timedelta(days=30 - days_left), **kwargs)
    assert _notify(APIClient(), app_store, "SUBSCRIBED", tx, subtype="INITIAL_BUY").status_code == 200
    return tx


# --- purchase, renewal, plan changes ---------------------------------------------------------


def test_purchase_notification_gives_the_plan_and_its_credits(auth_api, app_store, store_plans):
    user = auth_api.user
    tx = _bought(auth_api, app_store)

    sub = StoreSubscription.objects.get(user=user)
    assert (sub.store, sub.store_key, sub.plan, sub.status, sub.latest_transaction_id) == (
        "apple", tx["originalTransactionId"], store_plans.basic, "active", tx["transactionId"])
    ent = user_entitlements(user_id=user.pk)
    assert (ent.plan_code, ent.store, ent.source) == ("basic", "apple", "subscription")
    assert ent.valid_until == datetime.fromtimestamp(tx["expiresDate"] / 1000, tz=UTC)
    assert grants(user) == [(f"apple:tx:{tx['transactionId']}", 500)]
    lot = CreditLot.objects.get(source=f"apple:tx:{tx['transactionId']}")
    assert lot.expires_at == ent.valid_until
    body = auth_api.get("/api/v1/billing/subscription").json()
    assert (body["entitlements"]["plan"], body["entitlements"]["store"]) == ("basic", "apple")


def test_renewal_extends_the_plan_and_grants_the_new_period_once(auth_api, app_store, store_plans):
    user = auth_api.user
    first = _bought(auth_api, app_store, days_left=1)
    ends = _now() + timedelta(days=31)
    renewal = app_store.transaction(product_id="com.example.basic", original_id=first["originalTransactionId"],
                                    purchased=datetime.fromtimestamp(first["expiresDate"] / 1000, tz=UTC),
                                    expires=ends)
    body = app_store.notification("DID_RENEW", renewal)
    assert post_json(APIClient(), APPLE_URL, body).status_code == 200
    assert post_json(APIClient(), APPLE_URL, body).json()["outcome"] == "duplicate"

    assert grants(user) == [(f"apple:tx:{first['transactionId']}", 500), (f"apple:tx:{renewal['transactionId']}", 500)]
    assert user_entitlements(user_id=user.pk).valid_until == ends


def test_upgrade_takes_effect_at_once_and_tops_the_period_up(auth_api, app_store, store_plans):
    user = auth_api.user
    first = _bought(auth_api, app_store, days_left=20)
    upgraded = app_store.transaction(product_id="com.example.pro", original_id=first["originalTransactionId"],
                                     purchased=_now(), expires=_now() + timedelta(days=30))
    assert _notify(APIClient(), app_store, "DID_CHANGE_RENEWAL_PREF", upgraded, subtype="UPGRADE").status_code == 200

    assert user_entitlements(user_id=user.pk).plan_code == "pro"
    # 500 for basic, then pro's 2000 less what this period already gave.
    assert [amount for _, amount in grants(user)] == [500, 1500]


def test_downgrade_keeps_the_paid_plan_until_the_renewal(auth_api, app_store, store_plans):
    user = auth_api.user
    first = _bought(auth_api, app_store, product="com.example.pro", days_left=1)
    renewal_info = app_store.renewal(first, renews_to="com.example.basic")
    assert _notify(APIClient(), app_store, "DID_CHANGE_RENEWAL_PREF", first, subtype="DOWNGRADE",
                   renewal=renewal_info).status_code == 200

    sub = StoreSubscription.objects.get(user=user)
    assert (user_entitlements(user_id=user.pk).plan_code, sub.renews_to_product_id) == ("pro", "com.example.basic")

    renewed = app_store.transaction(product_id="com.example.basic", original_id=first["originalTransactionId"],
                                    purchased=datetime.fromtimestamp(first["expiresDate"] / 1000, tz=UTC),
                                    expires=_now() + timedelta(days=31))
    assert _notify(APIClient(), app_store, "DID_RENEW", renewed).status_code == 200
    assert user_entitlements(user_id=user.pk).plan_code == "basic"
    assert [amount for _, amount in grants(user)] == [2000, 500]


# --- grace, lapse, cancel ----------------------------------------------------------------------


def test_billing_grace_keeps_the_plan_until_it_expires(auth_api, app_store, store_plans):
    user = auth_api.user
    tx = _bought(auth_api, app_store, days_left=0)
    grace_end = _now() + timedelta(days=6)
    renewal = app_store.renewal(tx, grace_until=grace_end, billing_retry=True)
    assert _notify(APIClient(), app_store, "DID_FAIL_TO_RENEW", tx, subtype="GRACE_PERIOD", status=4,
                   renewal=renewal).status_code == 200

    ent = user_entitlements(user_id=user.pk)
    assert (ent.plan_code, ent.source, ent.valid_until) == ("basic", "grace", grace_end)

    assert _notify(APIClient(), app_store, "GRACE_PERIOD_EXPIRED", tx, status=2, renewal=renewal).status_code == 200
    assert user_entitlements(user_id=user.pk).plan_code == "free"


def test_failure_to_renew_without_grace_ends_the_plan(auth_api, app_store, store_plans):
    user = auth_api.user
    tx = _bought(auth_api, app_store, days_left=30)
    assert _notify(APIClient(), app_store, "DID_FAIL_TO_RENEW", tx, status=3,
                   renewal=app_store.renewal(tx, billing_retry=True)).status_code == 200

    assert StoreSubscription.objects.get(user=user).status == "billing_retry"
    assert user_entitlements(user_id=user.pk).plan_code == "free"


def test_turning_auto_renew_off_keeps_the_plan_to_the_end_then_it_lapses(auth_api, app_store, store_plans):
    user = auth_api.user
    tx = _bought(auth_api, app_store, days_left=30)
    assert _notify(APIClient(), app_store, "DID_CHANGE_RENEWAL_STATUS", tx, subtype="AUTO_RENEW_DISABLED",
                   renewal=app_store.renewal(tx, auto_renew=False)).status_code == 200

    sub = StoreSubscription.objects.get(user=user)
    assert (sub.status, sub.auto_renew, user_entitlements(user_id=user.pk).plan_code) == ("canceled", False, "basic")
    assert user_entitlements(user_id=user.pk, now=sub.expires_at + timedelta(seconds=1)).plan_code == "free"

    assert _notify(APIClient(), app_store, "EXPIRED", tx, subtype="VOLUNTARY", status=2,
                   renewal=app_store.renewal(tx, auto_renew=False)).status_code == 200
    assert (StoreSubscription.objects.get(user=user).status, user_entitlements(user_id=user.pk).plan_code) == (
        "expired", "free")


# --- refunds and revocation --------------------------------------------------------------------


def test_refund_after_the_credits_were_spent_takes_nothing_spent_back(auth_api, app_store, store_plans):
    user = auth_api.user
    tx = _bought(auth_api, app_store)
    ledger.credits_reserve(user_id=user.pk, amount=550, reference="job-1")  # 500 plan + 50 of the sign-up bonus
    ledger.credits_capture(user_id=user.pk, reference="job-1")
    before = credit_balance(user_id=user.pk).available

    refunded = {**tx, "revocationDate": int(_now().timestamp() * 1000), "revocationReason": 0}
    assert _notify(APIClient(), app_store, "REFUND", refunded, status=5).status_code == 200

    assert credit_balance(user_id=user.pk).available == before
    assert not CreditEntry.objects.filter(user=user, kind="clawback").exists()
    assert user_entitlements(user_id=user.pk).plan_code == "free"
    assert StoreSubscription.objects.get(user=user).status == "revoked"


def test_refund_takes_back_exactly_what_is_unspent(auth_api, app_store, store_plans):
    user = auth_api.user
    tx = _bought(auth_api, app_store)
    signup = credit_balance(user_id=user.pk).by_kind["bonus"]
    ledger.credits_reserve(user_id=user.pk, amount=120, reference="job-1")  # plan credits go first
    ledger.credits_capture(user_id=user.pk, reference="job-1")

    refunded = {**tx, "revocationDate": int(_now().timestamp() * 1000), "revocationReason": 1}
    assert _notify(APIClient(), app_store, "REFUND", refunded, status=5).status_code == 200
    assert _notify(APIClient(), app_store, "REFUND", refunded, status=5).status_code == 200  # another copy

    balance = credit_balance(user_id=user.pk)
    assert (balance.available, balance.by_kind["plan"], balance.by_kind["bonus"]) == (signup, 0, signup)
    lot = CreditLot.objects.get(source=f"apple:tx:{tx['transactionId']}")
    assert (lot.remaining, lot.closed_reason) == (0, "refunded")


def test_family_sharing_revoke_ends_the_plan(auth_api, app_store, store_plans):
    user = auth_api.user
    tx = _bought(auth_api, app_store)
    revoked = {**tx, "revocationDate": int(_now().timestamp() * 1000), "inAppOwnershipType": "FAMILY_SHARED"}
    assert _notify(APIClient(), app_store, "REVOKE", revoked, status=5).status_code == 200

    assert (StoreSubscription.objects.get(user=user).status, user_entitlements(user_id=user.pk).plan_code) == (
        "revoked", "free")


def test_consumption_request_is_logged_and_changes_nothing(auth_api, app_store, store_plans, caplog):
    tx = _bought(auth_api, app_store)
    before = snapshot()
    assert _notify(APIClient(), app_store, "CONSUMPTION_REQUEST", tx).status_code == 200
    assert snapshot()[:3] == before[:3]
    assert "billing.apple_consumption_request" in caplog.text


# --- order, duplicates, replay --------------------------------------------------------------


def test_renewal_before_the_purchase_ends_in_the_renewed_state(auth_api, app_store, store_plans):
    user = auth_api.user
    token = account_token(auth_api)
    first = app_store.transaction(product_id="com.example.basic", account_token=token,
                                  purchased=_now() - timedelta(days=29), expires=_now() + timedelta(days=1))
    ends = _now() + timedelta(days=31)
    renewal = app_store.transaction(product_id="com.example.basic", original_id=first["originalTransactionId"],
                                    account_token=token, expires=ends,
                                    purchased=datetime.fromtimestamp(first["expiresDate"] / 1000, tz=UTC))
    late_purchase = app_store.notification("SUBSCRIBED", first, signed=_now() - timedelta(minutes=5))
    assert _notify(APIClient(), app_store, "DID_RENEW", renewal).status_code == 200
    assert post_json(APIClient(), APPLE_URL, late_purchase).status_code == 200

    sub = StoreSubscription.objects.get(user=user)
    assert (sub.latest_transaction_id, sub.expires_at) == (renewal["transactionId"], ends)
    assert sorted(amount for _, amount in grants(user)) == [500, 500]


def test_restoring_an_old_period_does_not_replace_the_current_one(auth_api, app_store, store_plans):
    user = auth_api.user
    token = account_token(auth_api)
    old = app_store.transaction(product_id="com.example.basic", account_token=token,
                                purchased=_now() - timedelta(days=40), expires=_now() - timedelta(days=10))
    current = app_store.transaction(product_id="com.example.basic", original_id=old["originalTransactionId"],
                                    account_token=token,
                                    purchased=_now() - timedelta(days=10), expires=_now() + timedelta(days=20),
                                    signed=(current_signed := _now() - timedelta(minutes=5)))
    assert _notify(APIClient(), app_store, "DID_RENEW", current, signed=current_signed).status_code == 200

    # A restore posts every transaction, signed now, the old period's too.
    response = post_json(auth_api, APPLE_TX_URL, {"signed_transaction": app_store.sign(old)})

    assert response.status_code == 200
    sub = StoreSubscription.objects.get(user=user)
    assert (sub.latest_transaction_id, sub.status) == (current["transactionId"], "active")
    assert user_entitlements(user_id=user.pk).plan_code == "basic"


def test_refund_heard_before_the_purchase_grants_nothing(auth_api, app_store, store_plans):
    user = auth_api.user
    tx = app_store.transaction(product_id="com.example.basic", account_token=account_token(auth_api),
                               signed=_now() - timedelta(minutes=10))
    refunded = {**tx, "revocationDate": int(_now().timestamp() * 1000)}
    purchase = app_store.notification("SUBSCRIBED", tx, signed=_now() - timedelta(minutes=10))
    assert _notify(APIClient(), app_store, "REFUND", refunded, status=5).status_code == 200
    assert post_json(APIClient(), APPLE_URL, purchase).status_code == 200

    assert grants(user) == []
    assert user_entitlements(user_id=user.pk).plan_code == "free"


@pytest.mark.django_db(transaction=True)
def test_the_same_notification_ten_times_at_once_grants_once(app_store, store_plans):
    user = UserFactory()
    from billing.services.stores import store_account_token

    tx = app_store.transaction(product_id="com.example.pro", account_token=store_account_token(user_id=user.pk))
    body = app_store.notification("SUBSCRIBED", tx, subtype="INITIAL_BUY")

    statuses = at_once([lambda: post_json(APIClient(), APPLE_URL, body).status_code for _ in range(10)])

    assert statuses == [200] * 10
    assert grants(user) == [(f"apple:tx:{tx['transactionId']}", 2000)]
    assert StripeEvent.objects.filter(source="apple").count() == 1
    assert sorted(WebhookAttempt.objects.values_list("outcome", flat=True)) == ["duplicate"] * 9 + ["processed"]


def test_staff_replay_reprocesses_without_granting_twice(auth_api, app_store, store_plans, admin_user):
    staff = admin_user
    user = auth_api.user
    _bought(auth_api, app_store)
    event = StripeEvent.objects.get(source="apple")

    result = webhooks.stripe_event_replay(event_id=event.event_id, staff_id=staff.pk)

    assert result.http_status == 200
    assert len(grants(user)) == 1
    event.refresh_from_db()
    assert (event.attempts, event.replayed_by_id) == (2, staff.pk)


# --- refusals: nothing changes -----------------------------------------------------------------


@pytest.mark.parametrize("forgery", ["wrong_root", "wrong_bundle", "tampered", "not_jws", "no_payload"])
def test_a_notification_that_does_not_verify_is_refused_and_changes_nothing(forgery, auth_api, app_store,
                                                                           store_plans):
    tx = app_store.transaction(product_id="com.example.pro", account_token=account_token(auth_api))
    if forgery == "wrong_root":
        body = app_store.notification("SUBSCRIBED", tx, chain=Chain.build("Forger"))
    elif forgery == "wrong_bundle":
        body = app_store.notification("SUBSCRIBED", {**tx, "bundleId": "com.other.app"}, bundle_id="com.other.app")
    elif forgery == "tampered":
        header, claims, signature = app_store.notification("SUBSCRIBED", tx)["signedPayload"].split(".")
        other = app_store.notification("SUBSCRIBED", {**tx, "productId": "com.example.pro", "expiresDate": 9e12})
        body = {"signedPayload": ".".join([header, other["signedPayload"].split(".")[1], signature])}
    elif forgery == "not_jws":
        body = {"signedPayload": "not.a.jws"}
    else:
        body = {"something": "else"}
    before = snapshot()

    response = post_json(APIClient(), APPLE_URL, body)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == ("payload_invalid" if forgery == "no_payload" else "signature_invalid")
    assert snapshot() == before


def test_a_sandbox_notification_to_a_production_server_is_refused(auth_api, app_store, store_plans, settings):
    settings.APPLE_ENVIRONMENT = "Production"
    settings.APPLE_APP_APPLE_ID = 1234567890
    tx = app_store.transaction(product_id="com.example.pro", account_token=account_token(auth_api))
    before = snapshot()

    response = _notify(APIClient(), app_store, "SUBSCRIBED", tx)

    assert (response.status_code, response.json()["error"]["code"]) == (400, "signature_invalid")
    assert snapshot() == before


@pytest.mark.parametrize("environment", ["Xcode", "LocalTesting"])
def test_environments_that_skip_verification_are_never_accepted(environment, app_store, settings, auth_api):
    settings.APPLE_ENVIRONMENT = environment
    response = _notify(APIClient(), app_store, "SUBSCRIBED", app_store.transaction(product_id="com.example.pro"))

    assert (response.status_code, response.json()["error"]["code"]) == (503, "billing_not_configured")
    assert StripeEvent.objects.count() == 0


# --- the app posts its transaction --------------------------------------------------------------


def test_the_app_posts_its_transaction_and_gets_the_plan(auth_api, app_store, store_plans):
    tx = app_store.transaction(product_id="com.example.pro", account_token=account_token(auth_api))

    response = post_json(auth_api, APPLE_TX_URL, {"signed_transaction": app_store.sign(tx)})

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["subscription"]["plan"], body["subscription"]["status"], body["entitlements"]["plan"]) == (
        "pro", "active", "pro")
    assert grants(auth_api.user) == [(f"apple:tx:{tx['transactionId']}", 2000)]
    # The notification Apple sends about the same purchase adds nothing.
    assert _notify(APIClient(), app_store, "SUBSCRIBED", tx).status_code == 200
    assert len(grants(auth_api.user)) == 1


def _client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_for_user(user)['access']}")
    return client


def test_a_transaction_linked_to_another_account_is_refused(auth_api, app_store, store_plans):
    owner_token = account_token(auth_api)
    tx = app_store.transaction(product_id="com.example.pro", account_token=owner_token)
    intruder = UserFactory()
    before = snapshot()

    response = post_json(_client(intruder), APPLE_TX_URL, {"signed_transaction": app_store.sign(tx)})

    assert (response.status_code, response.json()["error"]["code"]) == (409, "purchase_linked_to_another_account")
    assert snapshot() == before
    # Once linked (by the owner), a restore on another account is refused too, even without a token.
    assert post_json(auth_api, APPLE_TX_URL, {"signed_transaction": app_store.sign(tx)}).status_code == 200
    untokened = {**tx, "transactionId": app_store.next_id()}
    untokened.pop("appAccountToken")
    response = post_json(_client(intruder), APPLE_TX_URL, {"signed_transaction": app_store.sign(untokened)})
    assert (response.status_code, response.json()["error"]["code"]) == (409, "purchase_linked_to_another_account")
    assert user_entitlements(user_id=intruder.pk).plan_code == "free"


@pytest.mark.parametrize("forgery", ["wrong_root", "wrong_bundle", "garbage"])
def test_a_posted_transaction_that_does_not_verify_is_refused(forgery, auth_api, app_store, store_plans):
    tx = app_store.transaction(product_id="com.example.pro", account_token=account_token(auth_api))
    signed = {"wrong_root": lambda: app_store.sign(tx, Chain.build("Forger")),
              "wrong_bundle": lambda: app_store.sign({**tx, "bundleId": "com.other.app"}),
              "garbage": lambda: "abc"}[forgery]()
    before = snapshot()

    response = post_json(auth_api, APPLE_TX_URL, {"signed_transaction": signed})

    assert (response.status_code, response.json()["error"]["code"]) == (400, "transaction_invalid")
    assert snapshot() == before


def test_a_body_nested_too_deep_is_refused(app_store):
    response = APIClient().post(APPLE_URL, data="[" * 5000 + "]" * 5000, content_type="application/json")

    assert (response.status_code, response.json()["error"]["code"]) == (400, "payload_invalid")
    assert StripeEvent.objects.count() == 0
