"""A refunded subscription invoice claws back that period's unspent plan credits (Stripe)."""

from __future__ import annotations

import math

import pytest

from billing import services
from billing.models import CheckoutSession, CreditEntry
from billing.selectors import credit_balance

pytestmark = pytest.mark.django_db


def _subscribe(client, stripe_fake, deliver_new) -> dict:
    response = client.post("/api/v1/billing/checkout", {"plan": "basic"}, format="json")
    checkout = CheckoutSession.objects.get(pk=response.json()["checkout_id"])
    session = stripe_fake.complete_checkout(checkout.stripe_session_id)
    assert {status for _, status in deliver_new()} == {200}
    return stripe_fake.get(session["subscription"])


def _charge_of_invoice(stripe_fake, invoice_id: str) -> dict:
    invoice = stripe_fake.get(invoice_id)
    intent = stripe_fake.get(invoice["payments"]["data"][0]["payment"]["payment_intent"])
    return stripe_fake.get(intent["latest_charge"])


def test_a_refunded_invoice_takes_back_the_refunded_share_of_what_is_unspent(auth_api, catalogue, stripe_fake,
                                                                             deliver_new):
    user = auth_api.user
    sub = _subscribe(auth_api, stripe_fake, deliver_new)
    invoice_id = sub["latest_invoice"]
    source = f"invoice:{invoice_id}"
    services.credits_reserve(user_id=user.pk, amount=100, reference="generation:a")  # plan credits first
    services.credits_capture(user_id=user.pk, reference="generation:a")
    charge = _charge_of_invoice(stripe_fake, invoice_id)

    stripe_fake.refund(charge["id"], amount=333)  # a third of 999 cents
    deliver_new()
    stripe_fake.refund(charge["id"])  # the rest
    deliver_new()
    deliver_new()  # nothing new

    first = math.ceil(500 * 333 / 999)
    assert list(CreditEntry.objects.filter(user=user, kind="clawback").order_by("id")
                .values_list("available_delta", "reference")) == [(-first, source), (-(400 - first), source)]
    assert credit_balance(user_id=user.pk).by_kind["plan"] == 0


def test_a_refund_of_an_invoice_whose_credits_were_spent_takes_nothing(auth_api, catalogue, stripe_fake,
                                                                        deliver_new):
    user = auth_api.user
    sub = _subscribe(auth_api, stripe_fake, deliver_new)
    services.credits_reserve(user_id=user.pk, amount=550, reference="generation:a")
    services.credits_capture(user_id=user.pk, reference="generation:a")
    before = credit_balance(user_id=user.pk)

    stripe_fake.refund(_charge_of_invoice(stripe_fake, sub["latest_invoice"])["id"])
    deliver_new()

    assert credit_balance(user_id=user.pk) == before
    assert not CreditEntry.objects.filter(user=user, kind="clawback").exists()
