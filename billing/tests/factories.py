import factory
from django.utils import timezone

from accounts.tests.factories import UserFactory
from billing.models import Plan, Subscription


class PlanFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Plan
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"plan{n}")
    name = factory.LazyAttribute(lambda o: o.code.title())
    rank = 1
    monthly_credits = 500
    max_concurrent_jobs = 2
    max_duration_seconds = 12
    max_short_side = 1080
    queue_priority = 5
    removes_watermark = True


class SubscriptionFactory(factory.django.DjangoModelFactory):
    """A mirrored subscription, for entitlement tests that need no Stripe."""

    class Meta:
        model = Subscription

    user = factory.SubFactory(UserFactory)
    stripe_subscription_id = factory.Sequence(lambda n: f"sub_factory{n}")
    stripe_customer_id = factory.Sequence(lambda n: f"cus_sub{n}")
    plan = factory.SubFactory(PlanFactory)
    stripe_price_id = "price_factory"
    currency = "usd"
    status = Subscription.Status.ACTIVE
    current_period_start = factory.LazyFunction(lambda: timezone.now() - timezone.timedelta(days=3))
    current_period_end = factory.LazyFunction(lambda: timezone.now() + timezone.timedelta(days=27))
