"""Exactly-once rewards and a budget that is never overspent, against real PostgreSQL
transactions in parallel threads (each thread has its own connection)."""

import pytest
from django.db.models import Sum

from billing.models import CreditEntry
from creators import services
from creators.models import Campaign, Enrolment, Reward, Submission
from creators.services.notify import NOTIFY_CLOSED_TASK
from creators.services.rewards import GrantOutcome
from creators.tests.factories import CampaignFactory, CreatorProfileFactory, EnrolmentFactory, TaskFactory, publish_task
from feed.models import Like
from feed.tests.factories import PostFactory
from tests.concurrency import at_once

pytestmark = pytest.mark.django_db(transaction=True)

def test_evaluators_running_at_once_grant_one_reward(aged, sent_tasks):
    campaign = CampaignFactory()
    task = TaskFactory(campaign=campaign, threshold=3)
    creator = CreatorProfileFactory().user
    EnrolmentFactory(campaign=campaign, user=creator)
    post = PostFactory(author=creator)
    services.submission_create(user=creator, campaign_id=campaign.pk, post_id=post.pk)
    for fan in aged(3):
        Like.objects.create(user=fan, post=post)

    results = at_once([services.campaigns_evaluate for _ in range(4)], workers=4)

    assert sorted(r["granted"] for r in results) == [0, 0, 0, 1]
    reward = Reward.objects.get()
    assert reward.task_id == task.pk
    assert list(CreditEntry.objects.filter(idempotency_key__startswith="creator-reward:")
                .values_list("idempotency_key", "available_delta")) == [(f"creator-reward:{reward.pk}", 100)]
    campaign.refresh_from_db()
    assert campaign.budget_remaining == 9_900
    assert Enrolment.objects.get().earned == 100


def test_fifty_grants_at_once_never_overspend_the_budget(sent_tasks):
    campaign = CampaignFactory(budget_total=1_000, budget_remaining=1_000)
    task = publish_task(campaign, reward=100)
    submissions = []
    for _ in range(50):
        enrolment = EnrolmentFactory(campaign=campaign)
        post = PostFactory(author=enrolment.user)
        # Accepted, not yet paid: as if each evaluator reached its grant at the same moment.
        submissions.append(Submission.objects.create(campaign=campaign, enrolment=enrolment, user=enrolment.user,
                                                     post=post, status=Submission.Status.ACCEPTED))

    results = at_once([lambda s=s: services.reward_grant(submission_id=s.pk, task_id=task.pk)
                           for s in submissions])

    outcomes = [r.outcome for r in results]
    assert outcomes.count(GrantOutcome.GRANTED) == 10
    assert outcomes.count(GrantOutcome.NO_BUDGET) == 40
    campaign.refresh_from_db()
    assert (campaign.budget_remaining, campaign.status, campaign.closed_reason) == (0, "closed", "budget_exhausted")
    assert Reward.objects.count() == 10
    assert Reward.objects.aggregate(total=Sum("amount"))["total"] == 1_000
    assert CreditEntry.objects.filter(idempotency_key__startswith="creator-reward:").aggregate(
        total=Sum("available_delta"))["total"] == 1_000
    assert Enrolment.objects.aggregate(total=Sum("earned"))["total"] == 1_000
    # Closed by exactly one of them, so the creators are told once.
    assert [name for name, _ in sent_tasks].count(NOTIFY_CLOSED_TASK) == 1

    # Retried grants (a redelivered task) change nothing.
    again = at_once([lambda s=s: services.reward_grant(submission_id=s.pk, task_id=task.pk)
                         for s in submissions[:20]])
    assert {r.outcome for r in again} <= {GrantOutcome.ALREADY, GrantOutcome.NO_BUDGET}
    assert Reward.objects.count() == 10
    assert Campaign.objects.get().budget_remaining == 0
