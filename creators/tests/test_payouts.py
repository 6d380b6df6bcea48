"""Cash rewards and payouts: Stripe Connect onboarding and transfers through the real stripe
library against the fake Stripe server, manual CSV export, idempotency."""

import csv
import io

import pytest
import stripe
from django.urls import reverse

from config.errors import Conflict
from creators import services
from creators.models import Campaign, CreatorProfile, Payout, Reward
from accounts.models import Notification
from accounts.notifications.services import PUSH_TASK
from creators.services.notify import SEND_PAYOUT_TASK
from creators.services.payouts import PayoutPending
from creators.tests.factories import CampaignFactory, CreatorProfileFactory, EnrolmentFactory, publish_task
from feed.tests.factories import PostFactory

pytestmark = pytest.mark.django_db


def _cash_campaign(reward=1_500):
    campaign = CampaignFactory(budget_kind=Campaign.BudgetKind.CASH, currency="usd", budget_total=100_000,
                               budget_remaining=100_000)
    return campaign, publish_task(campaign, reward=reward)


def _earn(profile, campaign):
    """The creator submits a post to the cash campaign: the publish task accrues to their balance."""
    EnrolmentFactory(campaign=campaign, user=profile.user)
    post = PostFactory(author=profile.user)
    services.submission_create(user=profile.user, campaign_id=campaign.pk, post_id=post.pk)


@pytest.fixture
def onboarded(stripe_fake, client_for):
    """A creator choosing cash, who went through Stripe's onboarding."""
    profile = CreatorProfileFactory(payout_method=CreatorProfile.PayoutMethod.CASH)
    client = client_for(profile.user)
    client.post("/api/v1/creators/me/connect")
    profile.refresh_from_db()
    stripe_fake.complete_onboarding(profile.stripe_account_id)
    assert client.get("/api/v1/creators/me/connect").json()["connect_status"] == "enabled"
    profile.refresh_from_db()
    return profile


def test_connect_onboarding_link_and_status(stripe_fake, client_for):
    profile = CreatorProfileFactory(payout_method=CreatorProfile.PayoutMethod.CASH, country="MX")
    client = client_for(profile.user)

    first = client.post("/api/v1/creators/me/connect")
    second = client.post("/api/v1/creators/me/connect")

    profile.refresh_from_db()
    account = stripe_fake.get(profile.stripe_account_id)
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["url"].startswith(f"https://connect.stripe.com/setup/e/{profile.stripe_account_id}/")
    assert first.json()["connect_status"] == "pending"
    assert (account["type"], account["country"], account["metadata"]) == ("express", "MX",
                                                                          {"user_id": str(profile.user_id)})
    # One account however often the link is asked for; each link is new.
    assert [o["id"] for o in stripe_fake.objects.values() if o["object"] == "account"] == [account["id"]]
    assert [r.idempotency_key for r in stripe_fake.posts("/v1/accounts")] == [f"creator-account-{profile.user_id}"]
    assert first.json()["url"] != second.json()["url"]
    link_request = stripe_fake.posts("/v1/account_links")[0].params
    assert link_request == {"account": account["id"], "type": "account_onboarding",
                            "refresh_url": "http://localhost:8000/creators/connect/refresh",
                            "return_url": "http://localhost:8000/creators/connect/return"}
    assert client.get("/api/v1/creators/me/connect").json()["connect_status"] == "pending"

    stripe_fake.complete_onboarding(account["id"])

    assert client.get("/api/v1/creators/me/connect").json()["connect_status"] == "enabled"
    assert CreatorProfile.objects.get().connect_status == "enabled"


def test_connect_needs_stripe_configured(settings, client_for):
    settings.STRIPE_SECRET_KEY = ""
    profile = CreatorProfileFactory()

    response = client_for(profile.user).post("/api/v1/creators/me/connect")

    assert (response.status_code, response.json()["error"]["code"]) == (503, "billing_not_configured")
    assert CreatorProfile.objects.get().stripe_account_id is None


def test_cash_rewards_are_paid_by_one_transfer_once(onboarded, stripe_fake, client_for, committed, sent_tasks,
                                                    run_tasks):
    campaign, _ = _cash_campaign(reward=1_500)
    committed(lambda: _earn(onboarded, campaign))
    client = client_for(onboarded.user)
    assert client.get("/api/v1/creators/me/earnings").json()["cash"] == [
        {"currency": "usd", "earned": 1_500, "paid": 0, "in_payout": 0, "balance": 1_500}]
    sent_tasks.clear()

    assert committed(services.payouts_run_due) == {"created": 1, "resent": 0}
    payout = Payout.objects.get()
    assert (payout.status, payout.amount, payout.method) == ("pending", 1_500, "stripe")
    assert sent_tasks == [(SEND_PAYOUT_TASK, [payout.pk])]
    assert client.get("/api/v1/creators/me/earnings").json()["cash"][0]["in_payout"] == 1_500

    committed(lambda: run_tasks(SEND_PAYOUT_TASK))

    payout.refresh_from_db()
    [transfer] = stripe_fake.transfers()
    assert (payout.status, payout.stripe_transfer_id) == ("paid", transfer["id"])
    assert (transfer["amount"], transfer["currency"], transfer["destination"], transfer["transfer_group"]) == (
        1_500, "usd", onboarded.stripe_account_id, f"creator-payout-{payout.pk}")
    assert [r.idempotency_key for r in stripe_fake.posts("/v1/transfers")] == [f"creator-payout-{payout.pk}"]
    notification = Notification.objects.get(user_id=payout.user_id, type="creator.payout")
    assert notification.data == {"payout_id": payout.pk, "status": payout.status, "amount": payout.amount,
                                 "currency": payout.currency}
    assert sent_tasks == [(PUSH_TASK, [notification.pk])]
    assert client.get("/api/v1/creators/me/earnings").json()["cash"] == [
        {"currency": "usd", "earned": 1_500, "paid": 1_500, "in_payout": 0, "balance": 0}]
    assert [p["status"] for p in client.get("/api/v1/creators/me/payouts").json()["results"]] == ["paid"]

    # Sending again, or another beat run, pays nothing more.
    services.payout_send(payout_id=payout.pk)
    assert services.payouts_run_due() == {"created": 0, "resent": 0}
    assert len(stripe_fake.transfers()) == 1
    assert len(stripe_fake.posts("/v1/transfers")) == 1


def test_a_lost_answer_is_retried_with_the_same_key_and_pays_once(onboarded, stripe_fake, monkeypatch):
    campaign, _ = _cash_campaign()
    _earn(onboarded, campaign)
    payout = services.payout_create(user_id=onboarded.user_id, currency="usd", method=Payout.Method.STRIPE)
    real_create = stripe.TransferService.create
    calls = []

    def answer_lost(self, *args, **kwargs):
        calls.append(real_create(self, *args, **kwargs))  # Stripe makes the transfer...
        if len(calls) == 1:
            raise stripe.APIConnectionError("connection reset")  # ...and we never hear back
        return calls[-1]

    monkeypatch.setattr(stripe.TransferService, "create", answer_lost)

    with pytest.raises(PayoutPending):
        services.payout_send(payout_id=payout.pk)
    assert Payout.objects.get().status == "pending"
    services.payout_send(payout_id=payout.pk)

    payout.refresh_from_db()
    [transfer] = stripe_fake.transfers()
    assert (payout.status, payout.stripe_transfer_id, payout.attempts) == ("paid", transfer["id"], 2)
    assert [r.idempotency_key for r in stripe_fake.posts("/v1/transfers")] == [f"creator-payout-{payout.pk}"] * 2
    assert calls[0]["id"] == calls[1]["id"]  # the second answer is the first one, replayed


def test_a_refused_transfer_fails_the_payout_and_the_money_is_back_in_the_balance(onboarded, stripe_fake,
                                                                                   client_for):
    campaign, _ = _cash_campaign()
    _earn(onboarded, campaign)
    # Stripe restricted the account since we last looked.
    stripe_fake.get(onboarded.stripe_account_id)["capabilities"]["transfers"] = "inactive"
    payout = services.payout_create(user_id=onboarded.user_id, currency="usd", method=Payout.Method.STRIPE)

    services.payout_send(payout_id=payout.pk)

    payout.refresh_from_db()
    assert payout.status == "failed"
    assert payout.error.startswith("Your destination account needs to have at least one of the following")
    assert stripe_fake.transfers() == []
    assert Reward.objects.get().payout_id is None
    assert client_for(onboarded.user).get("/api/v1/creators/me/earnings").json()["cash"] == [
        {"currency": "usd", "earned": 1_500, "paid": 0, "in_payout": 0, "balance": 1_500}]


def test_balances_below_the_minimum_wait(onboarded, stripe_fake):
    campaign, _ = _cash_campaign(reward=999)
    _earn(onboarded, campaign)

    assert services.payouts_run_due() == {"created": 0, "resent": 0}
    assert Payout.objects.count() == 0
    assert stripe_fake.posts("/v1/transfers") == []


def test_a_stripe_payout_needs_an_enabled_account(stripe_fake):
    profile = CreatorProfileFactory(payout_method=CreatorProfile.PayoutMethod.CASH)
    campaign, _ = _cash_campaign()
    _earn(profile, campaign)

    with pytest.raises(Conflict) as refused:
        services.payout_create(user_id=profile.user_id, currency="usd", method=Payout.Method.STRIPE)

    assert refused.value.code == "connect_not_enabled"
    assert Payout.objects.count() == 0
    assert Reward.objects.get().payout_id is None


def test_manual_payouts_are_exported_once_as_csv_and_marked_paid(admin_client, admin_user, onboarded, committed):
    manual = CreatorProfileFactory(payout_method=CreatorProfile.PayoutMethod.CASH, user__handle="boat_maker",
                                   user__email="boat@example.com", country="MX")
    campaign, _ = _cash_campaign(reward=1_250)
    _earn(manual, campaign)
    _earn(onboarded, campaign)  # has Connect: paid by transfer, not in the CSV
    url = reverse("admin:creators_payout_export_manual")

    assert admin_client.get(url).status_code == 200
    first = admin_client.post(url)
    second = admin_client.post(url)

    payout = Payout.objects.get()
    assert (payout.user_id, payout.method, payout.status, payout.created_by_id) == (manual.user_id, "manual",
                                                                                     "exported", admin_user.pk)
    assert first["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(first.content.decode())))
    assert rows == [
        ["payout_id", "reference", "user_id", "handle", "email", "country", "currency", "amount_minor", "amount",
         "status", "created_at"],
        [str(payout.pk), f"creator-payout-{payout.pk}", str(manual.user_id), "boat_maker", "boat@example.com", "MX",
         "usd", "1250", "12.50", "exported", payout.created_at.isoformat()],
    ]
    assert list(csv.reader(io.StringIO(second.content.decode()))) == rows[:1]

    changelist = reverse("admin:creators_payout_changelist")
    committed(lambda: admin_client.post(changelist, {"action": "mark_paid", "_selected_action": [payout.pk]}))
    payout.refresh_from_db()
    assert payout.status == "paid"
    # A paid payout cannot be failed back into the balance.
    admin_client.post(changelist, {"action": "mark_failed", "_selected_action": [payout.pk], "reason": "bounced"})
    assert Payout.objects.get().status == "paid"
    assert Reward.objects.get(user=manual.user).payout_id == payout.pk


def test_a_failed_manual_payout_returns_the_money_to_the_balance(admin_client, committed):
    profile = CreatorProfileFactory(payout_method=CreatorProfile.PayoutMethod.CASH)
    campaign, _ = _cash_campaign()
    _earn(profile, campaign)
    admin_client.post(reverse("admin:creators_payout_export_manual"))
    payout = Payout.objects.get()
    changelist = reverse("admin:creators_payout_changelist")

    admin_client.post(changelist, {"action": "mark_failed", "_selected_action": [payout.pk], "reason": ""})
    assert Payout.objects.get().status == "exported"  # a reason is required
    committed(lambda: admin_client.post(changelist, {"action": "mark_failed", "_selected_action": [payout.pk],
                                                     "reason": "Bank account closed"}))

    payout.refresh_from_db()
    assert (payout.status, payout.error) == ("failed", "Bank account closed")
    assert Reward.objects.get().payout_id is None
    # The next export pays it again, as a new payout.
    admin_client.post(reverse("admin:creators_payout_export_manual"))
    assert Payout.objects.filter(status="exported").count() == 1


def test_the_payout_run_asks_stripe_about_accounts_with_money_waiting(stripe_fake, client_for, committed,
                                                                      run_tasks):
    profile = CreatorProfileFactory(payout_method=CreatorProfile.PayoutMethod.CASH)
    client_for(profile.user).post("/api/v1/creators/me/connect")
    profile.refresh_from_db()
    # Onboarding finished on Stripe's pages; the app never asked for the status since.
    stripe_fake.complete_onboarding(profile.stripe_account_id)
    campaign, _ = _cash_campaign()
    _earn(profile, campaign)
    assert CreatorProfile.objects.get().connect_status == "pending"

    assert committed(services.payouts_run_due) == {"created": 1, "resent": 0}
    committed(lambda: run_tasks(SEND_PAYOUT_TASK))

    assert CreatorProfile.objects.get().connect_status == "enabled"
    assert Payout.objects.get().status == "paid"
    assert len(stripe_fake.transfers()) == 1
