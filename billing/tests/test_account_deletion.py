"""Billing's part of account deletion against the Stripe fake: the subscription is set to end
at the period's end when the deletion is asked for, and renews again when it is canceled."""

from __future__ import annotations

import pytest

from accounts.models import AccountDeletion
from accounts.tests.factories import DEFAULT_PASSWORD
from billing.models import CheckoutSession, Subscription

pytestmark = pytest.mark.django_db


def _subscribe(client, stripe_fake, deliver_new) -> Subscription:
    response = client.post("/api/v1/billing/checkout", {"plan": "basic"}, format="json")
    assert response.status_code == 201, response.json()
    checkout = CheckoutSession.objects.get(pk=response.json()["checkout_id"])
    session = stripe_fake.complete_checkout(checkout.stripe_session_id)
    assert {status for _, status in deliver_new()} == {200}
    return Subscription.objects.get(stripe_subscription_id=session["subscription"])


def test_the_subscription_ends_at_the_period_end_and_renews_again_on_cancel(api, auth_api, catalogue, stripe_fake,
                                                                             deliver_new):
    sub = _subscribe(auth_api, stripe_fake, deliver_new)

    assert auth_api.post("/api/v1/me/delete", {"password": DEFAULT_PASSWORD}, format="json").status_code == 202

    sub.refresh_from_db()
    assert stripe_fake.get(sub.stripe_subscription_id)["cancel_at_period_end"] is True
    assert (sub.cancel_at_period_end, sub.status) == (True, "active")
    assert AccountDeletion.objects.get(user=auth_api.user).state == {
        "billing": {"stripe_canceled": [sub.stripe_subscription_id]}}

    restored = api.post("/api/v1/me/delete/cancel", {"email": auth_api.user.email, "password": DEFAULT_PASSWORD},
                        format="json")

    assert restored.status_code == 200, restored.json()
    sub.refresh_from_db()
    assert stripe_fake.get(sub.stripe_subscription_id)["cancel_at_period_end"] is False
    assert sub.cancel_at_period_end is False


def test_when_stripe_is_down_the_request_still_deactivates_and_the_purge_waits(api, auth_api, catalogue, stripe_fake,
                                                                                deliver_new, settings):
    from django.utils import timezone

    from accounts.deletion.services import account_purge

    sub = _subscribe(auth_api, stripe_fake, deliver_new)
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # nothing listens there

    assert auth_api.post("/api/v1/me/delete", {"password": DEFAULT_PASSWORD}, format="json").status_code == 202

    deletion = AccountDeletion.objects.get(user=auth_api.user)
    assert deletion.state == {}
    sub.refresh_from_db()
    assert sub.cancel_at_period_end is False
    AccountDeletion.objects.filter(pk=deletion.pk).update(purge_after=timezone.now())
    assert account_purge(deletion_id=deletion.pk) == "held"
    assert AccountDeletion.objects.get(pk=deletion.pk).hold_reason == "stripe_cancel_pending"
    # Stripe is back: the next beat run cancels, sees it confirmed, and purges.
    settings.STRIPE_API_BASE = stripe_fake.url
    assert account_purge(deletion_id=deletion.pk) == "purged"
    assert stripe_fake.get(sub.stripe_subscription_id)["cancel_at_period_end"] is True
    assert Subscription.objects.get(pk=sub.pk).user_id == AccountDeletion.objects.get(pk=deletion.pk).placeholder_id
