"""Milestones: eligible engagement, rewards exactly once, windows, spikes, caps, closing."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Block
from accounts.tests.factories import DeviceFactory, UserFactory
from billing.models import CreditEntry
from creators import selectors, services
from creators.models import Campaign, CampaignTask, Enrolment, Reward, Submission, TaskProgress
from accounts.models import Notification
from accounts.notifications.services import PUSH_TASK
from creators.services.notify import NOTIFY_CLOSED_TASK
from creators.tests.factories import (
    CampaignFactory,
    CreatorFactory,
    CreatorProfileFactory,
    EnrolmentFactory,
    TaskFactory,
    days_ago,
)
from feed.models import Like, Post, Share, ShareClick
from feed.tests.factories import PostFactory

pytestmark = pytest.mark.django_db


class World:
    """A campaign with one engagement task, a creator enrolled, and an accepted submission."""

    def __init__(self, kind=CampaignTask.Kind.LIKES, threshold=3, window_days=7, reward=100, submit=True,
                 **campaign):
        self.campaign = CampaignFactory(**campaign)
        self.task = TaskFactory(campaign=self.campaign, kind=kind, threshold=threshold, window_days=window_days,
                                reward=reward)
        self.creator = CreatorProfileFactory().user
        self.enrolment = EnrolmentFactory(campaign=self.campaign, user=self.creator, enrolled_at=days_ago(3))
        self.post = PostFactory(author=self.creator, created_at=days_ago(2))
        if submit:
            self.submit()

    def submit(self):
        self.submission = services.submission_create(user=self.creator, campaign_id=self.campaign.pk,
                                                     post_id=self.post.pk)

    def like(self, users, at=None):
        for user in users:
            Like.objects.create(user=user, post=self.post, created_at=at or timezone.now())

    def count(self, kind=None, until=None):
        return selectors.eligible_count(post=self.post, creator_id=self.creator.pk, kind=kind or self.task.kind,
                                        until=until or timezone.now())


def _ledger(user):
    return list(CreditEntry.objects.filter(user=user, idempotency_key__startswith="creator-reward:")
                .values_list("idempotency_key", "available_delta"))


def test_milestone_reached_pays_once_even_when_the_evaluator_runs_again(aged, committed, sent_tasks, events_of):
    world = World()
    world.like(aged(2))
    events = events_of(world.creator)

    assert committed(services.campaigns_evaluate) == {"closed": 0, "granted": 0}
    progress = TaskProgress.objects.get()
    assert (progress.value, progress.reached_at) == (2, None)
    assert Reward.objects.count() == 0

    world.like(aged(1))
    first = committed(services.campaigns_evaluate)
    second = committed(services.campaigns_evaluate)

    assert (first, second) == ({"closed": 0, "granted": 1}, {"closed": 0, "granted": 0})
    reward = Reward.objects.get()
    assert (reward.user_id, reward.task_id, reward.amount, reward.submission_id) == (
        world.creator.pk, world.task.pk, 100, world.submission.pk)
    assert _ledger(world.creator) == [(f"creator-reward:{reward.pk}", 100)]
    world.campaign.refresh_from_db()
    world.enrolment.refresh_from_db()
    assert (world.campaign.budget_remaining, world.enrolment.earned, world.enrolment.rewards_count) == (9_900, 100, 1)
    assert [(e["type"], e.get("tasks")) for e in events()] == [
        ("creator.progress", [{"task_id": world.task.pk, "value": 2, "threshold": 3, "reached": False,
                               "expired": False}]),
        ("creator.progress", [{"task_id": world.task.pk, "value": 3, "threshold": 3, "reached": True,
                               "expired": False}]),
        ("creator.reward", None),
        ("notification.created", None),
    ]
    # The reward is a notification too; its push goes out from accounts' task, after commit.
    notification = Notification.objects.get(user=world.creator, type="creator.reward")
    assert notification.data["reward_id"] == reward.pk
    assert sent_tasks == [(PUSH_TASK, [notification.pk])]


def test_reward_push_goes_to_the_creators_devices(aged, committed, run_tasks, fcm):
    world = World(texts={"en": ("Paper boats", "b"), "es": ("Barcos", "b")})
    world.creator.locale = "es-MX"
    world.creator.save()
    DeviceFactory(user=world.creator, fcm_token="creator-phone")
    world.like(aged(3))
    committed(services.campaigns_evaluate)

    assert run_tasks(PUSH_TASK) == [1]

    reward = Reward.objects.get()
    [request] = fcm.requests
    assert request.token == "creator-phone"
    from django.utils import translation

    with translation.override("es"):  # the creator's language (es-MX)
        title = translation.gettext("You earned a reward")
        body = translation.gettext("%(amount)s from %(campaign)s.") % {
            "amount": translation.gettext("%(amount)d credits") % {"amount": 100}, "campaign": "Barcos"}
    assert request.message["notification"] == {"title": title, "body": body}
    notification = Notification.objects.get(type="creator.reward")
    assert request.message["data"] == {"type": "creator.reward", "reward_id": str(reward.pk),
                                       "campaign_id": str(world.campaign.pk), "notification_id": str(notification.pk),
                                       "group_key": notification.group_key}


def test_engagement_that_does_not_count(aged, settings):
    world = World()
    young = UserFactory(created_at=days_ago(1))
    # Old now, but only two days old when it liked: made for the purpose, it never counts.
    aged_since = UserFactory(created_at=days_ago(10))
    blocked_by_creator, blocking_creator = aged(2)
    Block.objects.create(blocker=world.creator, blocked=blocked_by_creator)
    Block.objects.create(blocker=blocking_creator, blocked=world.creator)
    suspended = CreatorFactory(is_active=False)
    world.like([world.creator, young, blocked_by_creator, blocking_creator, suspended])
    world.like([aged_since], at=days_ago(8))

    assert world.count() == 0
    services.campaigns_evaluate()
    assert Reward.objects.count() == 0
    assert TaskProgress.objects.get().value == 0

    world.like(aged(3))
    services.campaigns_evaluate()
    assert world.count() == 3
    assert Reward.objects.count() == 1
    # A lower age limit lets the young account count too.
    settings.CREATORS_MIN_ACCOUNT_AGE_DAYS = 0
    assert world.count() == 5  # young and aged_since; never the creator, the blocked or the suspended


def test_remixes_count_only_eligible_authors_and_live_posts(aged):
    world = World(kind=CampaignTask.Kind.REMIXES, threshold=2)
    fan, other, young_fan = *aged(2), UserFactory(created_at=days_ago(1))
    for author in (world.creator, young_fan, fan):
        PostFactory(author=author, parent=world.post, root=world.post, lineage=[world.post.pk])
    PostFactory(author=other, parent=world.post, root=world.post, lineage=[world.post.pk], status="removed")
    PostFactory(author=other)  # not a remix

    assert world.count() == 1
    services.campaigns_evaluate()
    assert Reward.objects.count() == 0

    PostFactory(author=other, parent=world.post, root=world.post, lineage=[world.post.pk])
    services.campaigns_evaluate()
    assert (world.count(), Reward.objects.count()) == (2, 1)


def test_share_clicks_are_distinct_visitors_of_the_creators_own_links(aged):
    world = World(kind=CampaignTask.Kind.SHARE_CLICKS, threshold=3)
    tiktok = Share.objects.create(post=world.post, user=world.creator, channel="tiktok")
    instagram = Share.objects.create(post=world.post, user=world.creator, channel="instagram")
    someone_elses = Share.objects.create(post=world.post, user=aged(1)[0], channel="link")
    for share, visitor in [(tiktok, "a"), (tiktok, "b"), (instagram, "b"), (someone_elses, "c")]:
        ShareClick.objects.create(share=share, visitor=visitor)

    assert world.count() == 2
    services.campaigns_evaluate()
    assert Reward.objects.count() == 0

    ShareClick.objects.create(share=instagram, visitor="d")
    services.campaigns_evaluate()
    assert (world.count(), Reward.objects.count()) == (3, 1)


def test_views_are_the_counter_less_the_creators_own_views(committed):
    world = World(kind=CampaignTask.Kind.VIEWS, threshold=100)
    # Posted two days ago: the creator can have added one view a day, three days in all.
    Post.objects.filter(pk=world.post.pk).update(views_count=102)

    assert world.count() == 99
    services.campaigns_evaluate()
    assert Reward.objects.count() == 0

    Post.objects.filter(pk=world.post.pk).update(views_count=103)
    services.campaigns_evaluate()
    assert (world.count(), Reward.objects.count()) == (100, 1)


def test_engagement_after_the_window_does_not_count_and_the_task_expires(aged):
    world = World(window_days=1, submit=False)  # the post is two days old: its window closed a day ago
    world.like(aged(2), at=days_ago(1.5))
    world.like(aged(5))  # today: too late

    world.submit()
    services.campaigns_evaluate()

    progress = TaskProgress.objects.get()
    assert (progress.value, progress.expired, progress.reached_at) == (2, True, None)
    assert Reward.objects.count() == 0
    services.campaigns_evaluate()
    assert Reward.objects.count() == 0


def test_a_sudden_spike_flags_the_submission_instead_of_paying(aged, settings, committed, admin_user, events_of):
    settings.CREATORS_SPIKE_MIN_GAIN = {**settings.CREATORS_SPIKE_MIN_GAIN, "likes": 5}
    world = World(threshold=8)
    now = timezone.now()
    fans = aged(14)
    world.like(fans[:4], at=now - timedelta(hours=10))
    services.campaigns_evaluate(now=now - timedelta(hours=9))  # 4 likes in a day: below the minimum gain
    events = events_of(world.creator)

    world.like(fans[4:], at=now - timedelta(minutes=5))  # ten more at once
    committed(lambda: services.campaigns_evaluate(now=now))

    submission = Submission.objects.get()
    assert submission.status == Submission.Status.FLAGGED
    assert submission.flag_reason == "likes +10 in 540 min (rate before 0.1/h)"
    assert Reward.objects.count() == 0
    assert _ledger(world.creator) == []
    assert [e["submission"]["status"] for e in events()] == ["flagged"]
    assert list(selectors.review_queue()) == [submission]

    # Staff look and approve: what it has now is the new baseline; the reached task pays.
    committed(lambda: services.submission_review(staff=admin_user, submission_id=submission.pk, approve=True))
    services.campaigns_evaluate()
    assert Submission.objects.get().status == Submission.Status.ACCEPTED
    assert Reward.objects.count() == 1


def test_steady_growth_is_not_a_spike(aged, settings):
    settings.CREATORS_SPIKE_MIN_GAIN = {**settings.CREATORS_SPIKE_MIN_GAIN, "likes": 5}
    world = World(threshold=10)
    Post.objects.filter(pk=world.post.pk).update(created_at=timezone.now() - timedelta(hours=2))
    world.post.refresh_from_db()
    fans = aged(10)
    world.like(fans[:4], at=timezone.now() - timedelta(minutes=90))
    services.campaigns_evaluate(now=timezone.now() - timedelta(hours=1))  # 4 likes an hour

    world.like(fans[4:])  # 6 in the next hour: the same pace
    services.campaigns_evaluate()

    assert Submission.objects.get().status == Submission.Status.ACCEPTED
    assert Reward.objects.count() == 1


def test_per_creator_cap_stops_rewards_past_it(aged):
    world = World(per_creator_cap=150)
    TaskFactory(campaign=world.campaign, kind=CampaignTask.Kind.LIKES, threshold=1, window_days=7, reward=100)
    world.like(aged(3))

    services.campaigns_evaluate()
    services.campaigns_evaluate()

    assert Reward.objects.count() == 1
    assert [amount for _, amount in _ledger(world.creator)] == [100]
    world.campaign.refresh_from_db()
    assert world.campaign.budget_remaining == 9_900


def test_leaving_stops_rewards(aged, client_for):
    world = World()
    client_for(world.creator).post(f"/api/v1/campaigns/{world.campaign.pk}/leave")
    world.like(aged(3))

    services.campaigns_evaluate()

    assert Reward.objects.count() == 0
    assert Enrolment.objects.get().status == Enrolment.Status.LEFT


def test_budget_running_out_closes_the_campaign_and_tells_enrolled_creators(aged, committed, sent_tasks, run_tasks,
                                                                           events_of, fcm,
                                                                           django_capture_on_commit_callbacks):
    world = World(budget_total=150, budget_remaining=150)
    bystander = EnrolmentFactory(campaign=world.campaign).user
    DeviceFactory(user=bystander, fcm_token="bystander-phone")
    events = events_of(bystander)
    world.like(aged(3))

    committed(services.campaigns_evaluate)

    world.campaign.refresh_from_db()
    assert (world.campaign.status, world.campaign.closed_reason, world.campaign.budget_remaining) == (
        "closed", "budget_exhausted", 50)
    assert [name for name, _ in sent_tasks].count(NOTIFY_CLOSED_TASK) == 1
    with django_capture_on_commit_callbacks(execute=True):  # events go out after their commit
        assert run_tasks(NOTIFY_CLOSED_TASK) == [2]
    assert [e["type"] for e in events()] == ["creator.campaign_closed", "notification.created"]
    closed = Notification.objects.filter(type="creator.campaign_closed")
    assert sorted(closed.values_list("user_id", flat=True)) == sorted([world.creator.pk, bystander.pk])
    # One push task per notification (its retries then cover that creator alone): the reward and
    # the two closing notices; only the bystander has a phone.
    assert sorted(run_tasks(PUSH_TASK)) == [0, 0, 1]
    assert fcm.by_token()["bystander-phone"].message["notification"] == {
        "title": "Paper boats is closed", "body": "Its budget is used up: no more rewards."}
    # Told once: running the notice again sends nothing.
    assert services.notify.campaign_closed_notify(campaign_id=world.campaign.pk) == 0
    assert events() == []


def test_a_campaign_past_its_end_closes(committed, sent_tasks):
    world = World()
    Campaign.objects.filter(pk=world.campaign.pk).update(ends_at=timezone.now() - timedelta(minutes=1))

    result = committed(services.campaigns_evaluate)

    world.campaign.refresh_from_db()
    assert result == {"closed": 1, "granted": 0}
    assert (world.campaign.status, world.campaign.closed_reason) == ("closed", "ended")
    assert sent_tasks == [(NOTIFY_CLOSED_TASK, [world.campaign.pk])]


def test_the_beat_task_fans_out_one_evaluation_per_live_campaign(sent_tasks, run_tasks):
    from config.celery import app
    from creators.services.notify import EVALUATE_CAMPAIGN_TASK
    from creators.tasks import EVALUATE_TASK, PAYOUTS_TASK, evaluate_campaigns

    live = [CampaignFactory(), CampaignFactory()]
    CampaignFactory(status=Campaign.Status.DRAFT)
    ended = CampaignFactory()
    Campaign.objects.filter(pk=ended.pk).update(ends_at=timezone.now() - timedelta(seconds=1))

    assert evaluate_campaigns.run() == 2

    assert sorted(args[0] for name, args in sent_tasks if name == EVALUATE_CAMPAIGN_TASK) == sorted(c.pk for c in live)
    assert Campaign.objects.get(pk=ended.pk).status == "closed"
    assert run_tasks(EVALUATE_CAMPAIGN_TASK) == [0, 0]
    schedule = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert {EVALUATE_TASK, PAYOUTS_TASK} <= schedule


def test_review_outcomes_go_out_as_push(committed, run_tasks, fcm, admin_user):
    world = World(review_mode=Campaign.ReviewMode.MANUAL)
    DeviceFactory(user=world.creator, fcm_token="creator-phone")
    committed(lambda: services.submission_review(staff=admin_user, submission_id=world.submission.pk,
                                                 approve=False, reason="The boat is not visible."))

    assert run_tasks(PUSH_TASK) == [1]

    assert fcm.requests[0].message["notification"] == {"title": "Submission not accepted",
                                                       "body": "Paper boats: The boat is not visible."}
    notification = Notification.objects.get(type="creator.submission")
    assert fcm.requests[0].message["data"] == {"type": "creator.submission", "submission_id": str(world.submission.pk),
                                               "campaign_id": str(world.campaign.pk), "status": "rejected",
                                               "notification_id": str(notification.pk),
                                               "group_key": notification.group_key}
