from datetime import timedelta

import factory
from django.utils import timezone

from accounts.tests.factories import UserFactory
from creators.models import Campaign, CampaignTask, CampaignText, CreatorProfile, Enrolment


def days_ago(n: float):
    return timezone.now() - timedelta(days=n)


class CreatorFactory(UserFactory):
    """A user old enough for their engagement to count, in the US, speaking English."""

    created_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=60))


class CreatorProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CreatorProfile

    user = factory.SubFactory(CreatorFactory)
    country = "US"
    languages = factory.LazyFunction(lambda: ["en"])


class CampaignFactory(factory.django.DjangoModelFactory):
    """A running campaign (launched, budget untouched) with an English text."""

    class Meta:
        model = Campaign
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Campaign {n}")
    starts_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=1))
    ends_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=30))
    budget_kind = Campaign.BudgetKind.CREDITS
    budget_total = 10_000
    budget_remaining = factory.SelfAttribute("budget_total")
    status = Campaign.Status.ACTIVE
    activated_at = factory.LazyFunction(timezone.now)

    @factory.post_generation
    def texts(obj, create, extracted, **kwargs):
        if create:
            for language, (title, brief) in (extracted or {"en": ("Paper boats", "Remix the boat.")}).items():
                CampaignText.objects.create(campaign=obj, language=language, title=title, brief=brief)


class TaskFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CampaignTask

    campaign = factory.SubFactory(CampaignFactory)
    kind = CampaignTask.Kind.LIKES
    threshold = 3
    window_days = 7
    reward = 100


def publish_task(campaign, reward=50) -> CampaignTask:
    return TaskFactory(campaign=campaign, kind=CampaignTask.Kind.PUBLISH, threshold=0, window_days=None,
                       reward=reward)


class EnrolmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Enrolment

    campaign = factory.SubFactory(CampaignFactory)
    user = factory.SubFactory(CreatorFactory)
    enrolled_at = factory.LazyFunction(lambda: timezone.now() - timedelta(hours=1))
