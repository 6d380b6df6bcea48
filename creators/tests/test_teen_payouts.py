"""No cash payouts for teens (accounts.selectors.user_is_teen): their cash rewards wait, unpaid,
until they come of age; credit rewards reach them as for anyone."""

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.selectors import credit_balance
from config.errors import ApplicationError
from creators import services
from creators.models import Campaign, CreatorProfile, Payout, Reward
from creators.tests.factories import CampaignFactory, CreatorProfileFactory, EnrolmentFactory, publish_task
from feed.tests.factories import PostFactory

pytestmark = pytest.mark.django_db

THIS_YEAR = timezone.now().year


def _campaign(kind, reward):
    campaign = CampaignFactory(budget_kind=kind, currency="usd" if kind == Campaign.BudgetKind.CASH else "",
                               budget_total=100_000, budget_remaining=100_000)
    publish_task(campaign, reward=reward)
    return campaign


def _earn(profile, campaign):
    EnrolmentFactory(campaign=campaign, user=profile.user)
    post = PostFactory(author=profile.user)
    services.submission_create(user=profile.user, campaign_id=campaign.pk, post_id=post.pk)


@pytest.fixture
def teen_creator(stripe_fake):
    profile = CreatorProfileFactory(payout_method=CreatorProfile.PayoutMethod.CASH, user__birth_year=THIS_YEAR - 16,
                                    connect_status=CreatorProfile.ConnectStatus.ENABLED, stripe_account_id="acct_1")
    _earn(profile, _campaign(Campaign.BudgetKind.CASH, 1_500))
    return profile


def test_a_teens_payout_is_refused_and_the_cash_stays_in_the_balance(teen_creator, sent_tasks):
    with pytest.raises(ApplicationError) as refused:
        services.payout_create(user_id=teen_creator.user_id, currency="usd", method=Payout.Method.STRIPE)

    assert (refused.value.code, refused.value.status_code) == ("teen_payouts_unavailable", 403)
    assert Payout.objects.count() == 0
    reward = Reward.objects.get()
    assert (reward.amount, reward.payout_id) == (1_500, None)
    assert sent_tasks == []


def test_the_payout_run_and_the_manual_export_pass_teens_by(teen_creator, admin_client, sent_tasks):
    assert services.payouts_run_due() == {"created": 0, "resent": 0}
    manual = CreatorProfileFactory(payout_method=CreatorProfile.PayoutMethod.CASH, user__birth_year=THIS_YEAR - 16)
    _earn(manual, _campaign(Campaign.BudgetKind.CASH, 1_200))

    exported = admin_client.post(reverse("admin:creators_payout_export_manual"))

    assert exported.status_code == 200
    assert exported.content.decode().count("\n") == 1  # the CSV's header alone
    assert Payout.objects.count() == 0
    assert set(Reward.objects.values_list("payout_id", flat=True)) == {None}


def test_the_cash_is_paid_once_the_teen_comes_of_age(teen_creator, monkeypatch):
    from datetime import datetime, timezone as dt_timezone

    monkeypatch.setattr("django.utils.timezone.now", lambda: datetime(THIS_YEAR + 2, 1, 2, tzinfo=dt_timezone.utc))

    payout = services.payout_create(user_id=teen_creator.user_id, currency="usd", method=Payout.Method.MANUAL)

    assert (payout.amount, payout.status) == (1_500, "exported")


def test_credit_rewards_still_reach_teens():
    profile = CreatorProfileFactory(user__birth_year=THIS_YEAR - 16)
    before = credit_balance(user_id=profile.user_id).available

    _earn(profile, _campaign(Campaign.BudgetKind.CREDITS, 40))

    assert credit_balance(user_id=profile.user_id).available == before + 40
