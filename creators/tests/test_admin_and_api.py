"""The operations tool (campaign builder, burn-down, leaderboard, every page) and the creator's
read endpoints (progress, submissions, earnings, rewards, leaderboard)."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Block, Market
from creators import services
from creators.models import Campaign, CampaignTask, CampaignText, Enrolment, Payout, Reward, Submission
from creators.tests.factories import (
    CampaignFactory,
    CreatorProfileFactory,
    EnrolmentFactory,
    TaskFactory,
    publish_task,
)
from feed.models import Like
from feed.tests.factories import PostFactory

pytestmark = pytest.mark.django_db


def _builder_form(**overrides):
    now = timezone.now()
    form = {
        "name": "Paper boats MX", "default_language": "es", "hashtag": "#PaperBoat", "countries": ["MX"],
        "languages": ["es"], "min_tier": "starter", "min_followers": 0, "min_localized_markets": 2,
        "starts_at_0": (now - timedelta(hours=1)).strftime("%Y-%m-%d"), "starts_at_1": "00:00:00",
        "ends_at_0": (now + timedelta(days=20)).strftime("%Y-%m-%d"), "ends_at_1": "00:00:00",
        "budget_kind": "credits", "currency": "", "budget_total": 5000, "per_creator_cap": "", "review_mode": "auto",
        "texts-TOTAL_FORMS": 2, "texts-INITIAL_FORMS": 0, "texts-MIN_NUM_FORMS": 0, "texts-MAX_NUM_FORMS": 1000,
        "texts-0-language": "es", "texts-0-title": "Barcos de papel", "texts-0-brief": "Remezcla el barco.",
        "texts-1-language": "en", "texts-1-title": "Paper boats", "texts-1-brief": "Remix the boat.",
        "tasks-TOTAL_FORMS": 2, "tasks-INITIAL_FORMS": 0, "tasks-MIN_NUM_FORMS": 0, "tasks-MAX_NUM_FORMS": 1000,
        "tasks-0-position": 0, "tasks-0-kind": "publish", "tasks-0-threshold": 0, "tasks-0-window_days": "",
        "tasks-0-reward": 50,
        "tasks-1-position": 1, "tasks-1-kind": "likes", "tasks-1-threshold": 100, "tasks-1-window_days": 7,
        "tasks-1-reward": 500,
    }
    form.update(overrides)
    return form


def test_staff_build_a_campaign_with_its_rules_and_launch_it(admin_client, admin_user):
    mexico, _ = Market.objects.get_or_create(code="mx", defaults={"name": "Mexico", "countries": ["MX"],
                                                                   "languages": ["es"], "currency": "mxn"})
    response = admin_client.post(reverse("admin:creators_campaign_add"), _builder_form(markets=[mexico.pk]))

    assert response.status_code == 302
    campaign = Campaign.objects.get()
    assert (campaign.status, campaign.hashtag, campaign.countries, campaign.languages, campaign.budget_remaining,
            campaign.created_by_id) == ("draft", "paperboat", [], ["es"], 5000, admin_user.pk)
    assert [m.code for m in campaign.markets.all()] == ["mx"]
    assert campaign.min_localized_markets == 2
    assert list(campaign.tasks.values_list("kind", "threshold", "window_days", "reward")) == [
        ("publish", 0, None, 50), ("likes", 100, 7, 500)]
    assert sorted(CampaignText.objects.values_list("language", flat=True)) == ["en", "es"]

    admin_client.post(reverse("admin:creators_campaign_changelist"),
                      {"action": "activate", "_selected_action": [campaign.pk]})

    campaign.refresh_from_db()
    assert (campaign.status, campaign.budget_remaining) == ("active", 5000)
    assert campaign.activated_at is not None


def test_a_rule_that_does_not_make_sense_is_refused_and_nothing_saved(admin_client):
    response = admin_client.post(reverse("admin:creators_campaign_add"), _builder_form(**{
        "tasks-1-window_days": "", "budget_kind": "cash", "currency": ""}))

    assert response.status_code == 200  # the form again, with errors
    assert Campaign.objects.count() == 0
    assert CampaignTask.objects.count() == 0


def test_an_incomplete_campaign_cannot_be_launched(admin_client):
    campaign = CampaignFactory(status=Campaign.Status.DRAFT, activated_at=None, texts={"de": ("Boote", "...")})

    admin_client.post(reverse("admin:creators_campaign_changelist"),
                      {"action": "activate", "_selected_action": [campaign.pk]})

    campaign.refresh_from_db()
    assert campaign.status == "draft"
    assert campaign.activated_at is None


def test_add_budget_reopens_a_campaign_closed_for_budget(admin_client):
    campaign = CampaignFactory(budget_total=100, budget_remaining=0, status=Campaign.Status.CLOSED,
                               closed_reason=Campaign.CloseReason.BUDGET)
    publish_task(campaign, reward=100)
    EnrolmentFactory(campaign=campaign, closed_notified_at=timezone.now())

    admin_client.post(reverse("admin:creators_campaign_changelist"),
                      {"action": "add_budget", "_selected_action": [campaign.pk], "amount": 300})

    campaign.refresh_from_db()
    assert (campaign.status, campaign.budget_total, campaign.budget_remaining) == ("active", 400, 300)
    assert Enrolment.objects.get().closed_notified_at is None


def _played_campaign(aged):
    """A campaign where two creators earned rewards, one through likes."""
    campaign = CampaignFactory()
    publish = publish_task(campaign, reward=50)
    likes = TaskFactory(campaign=campaign, threshold=2, reward=200)
    creators = [CreatorProfileFactory().user for _ in range(3)]
    posts = []
    for creator in creators[:2]:
        EnrolmentFactory(campaign=campaign, user=creator)
        posts.append(PostFactory(author=creator))
        services.submission_create(user=creator, campaign_id=campaign.pk, post_id=posts[-1].pk)
    EnrolmentFactory(campaign=campaign, user=creators[2])  # enrolled, nothing earned
    for fan in aged(2):
        Like.objects.create(user=fan, post=posts[1])
    Like.objects.create(user=aged(1)[0], post=posts[0])
    services.campaigns_evaluate()
    return campaign, publish, likes, creators, posts


def test_progress_submissions_earnings_rewards_and_leaderboard(aged, client_for):
    campaign, publish, likes, creators, posts = _played_campaign(aged)
    first, second, idle = (client_for(c) for c in creators)

    assert first.get(f"/api/v1/campaigns/{campaign.pk}/progress").json() == [
        {"task_id": publish.pk, "kind": "publish", "threshold": 0, "value": 1, "state": "rewarded",
         "reward_id": Reward.objects.get(user=creators[0], task=publish).pk},
        {"task_id": likes.pk, "kind": "likes", "threshold": 2, "value": 1, "state": "in_progress", "reward_id": None},
    ]
    assert [t["state"] for t in idle.get(f"/api/v1/campaigns/{campaign.pk}/progress").json()] == ["open", "open"]
    [submission] = second.get(f"/api/v1/campaigns/{campaign.pk}/submissions").json()
    assert (submission["post_id"], submission["status"]) == (posts[1].pk, "accepted")
    assert [(p["task_id"], p["value"], p["reached"]) for p in submission["progress"]] == [
        (publish.pk, 1, True), (likes.pk, 2, True)]

    assert second.get("/api/v1/creators/me/earnings").json() == {
        "credits": {"earned": 250, "rewards": 2}, "cash": [], "payout_method": "credits", "connect_status": "none"}
    rewards = second.get("/api/v1/creators/me/rewards").json()["results"]
    assert [(r["task"]["kind"], r["amount"], r["status"], r["campaign"]["title"]) for r in rewards] == [
        ("likes", 200, "credited", "Paper boats"), ("publish", 50, "credited", "Paper boats")]

    board = idle.get(f"/api/v1/campaigns/{campaign.pk}/leaderboard").json()
    assert [(row["rank"], row["user"]["handle"], row["earned"], row["rewards"]) for row in board] == [
        (1, creators[1].handle, 250, 2), (2, creators[0].handle, 50, 1)]
    # Someone who blocked the viewer is not shown to them.
    Block.objects.create(blocker=creators[1], blocked=creators[2])
    assert [row["user"]["handle"] for row in idle.get(f"/api/v1/campaigns/{campaign.pk}/leaderboard").json()] == [
        creators[0].handle]


def test_every_creators_admin_page_opens_with_burn_down_and_leaderboard(admin_client, aged):
    campaign, *_ = _played_campaign(aged)
    profile = CreatorProfileFactory()
    Reward.objects.update(kind="cash", currency="usd")  # so a payout can exist for its pages
    payout = Payout.objects.create(user=Reward.objects.first().user, currency="usd", amount=50, method="manual",
                                   status="exported")

    page = admin_client.get(reverse("admin:creators_campaign_change", args=[campaign.pk]))
    assert page.status_code == 200
    content = page.content.decode()
    assert "<td>3</td><td>300</td><td>9700</td></tr>" in content  # burn-down: 3 rewards today, 300 spent
    assert "<td>250</td><td>2</td>" in content  # leaderboard: the top creator
    objects = {"campaign": campaign, "submission": Submission.objects.first(), "reward": Reward.objects.first(),
               "payout": payout, "creatorprofile": profile, "enrolment": Enrolment.objects.first()}
    for model, obj in objects.items():
        listing = admin_client.get(reverse(f"admin:creators_{model}_changelist"))
        detail = admin_client.get(reverse(f"admin:creators_{model}_change", args=[obj.pk]))
        assert (listing.status_code, detail.status_code) == (200, 200), model


def test_staff_set_a_tier_from_the_admin(admin_client):
    profile = CreatorProfileFactory()

    admin_client.post(reverse("admin:creators_creatorprofile_changelist"),
                      {"action": "set_tier", "_selected_action": [profile.pk], "tier": "elite"})
    profile.refresh_from_db()
    assert (profile.tier, profile.tier_source) == ("elite", "staff")

    admin_client.post(reverse("admin:creators_creatorprofile_changelist"),
                      {"action": "set_tier", "_selected_action": [profile.pk], "tier": ""})
    profile.refresh_from_db()
    assert (profile.tier, profile.tier_source) == ("starter", "rules")
