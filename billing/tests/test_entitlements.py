"""What a user is entitled to, from the mirrored subscription, and generation reading it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.tests.factories import UserFactory
from billing.selectors import user_entitlements
from billing.tests.factories import PlanFactory, SubscriptionFactory
from generation.models import GenerationJob

pytestmark = pytest.mark.django_db

NOW = timezone.now()


@pytest.fixture(autouse=True)
def _free_tier(settings):
    settings.GENERATION_FREE_CONCURRENT_JOBS = 1
    settings.GENERATION_FREE_MAX_DURATION = 8
    settings.GENERATION_FREE_MAX_SHORT_SIDE = 720
    settings.BILLING_GRACE_DAYS = 7


@pytest.fixture
def pro(db):
    return PlanFactory(code="pro", name="Pro", rank=2, monthly_credits=2000, max_concurrent_jobs=4,
                       max_duration_seconds=12, max_short_side=1080, queue_priority=8, removes_watermark=True)


def _limits(e):
    return (e.tier, e.max_concurrent_jobs, e.queue_priority, e.max_duration_seconds, e.max_short_side, e.watermark)


def test_no_subscription_is_the_free_tier_from_settings():
    e = user_entitlements(user_id=UserFactory().pk)

    assert _limits(e) == ("free", 1, 0, 8, 720, True)
    assert (e.source, e.reason, e.valid_until) == ("free", "No subscription.", None)


@pytest.mark.parametrize("status", ["active", "trialing"])
def test_active_or_trialing_is_the_paid_plan(status, pro):
    sub = SubscriptionFactory(plan=pro, status=status, stripe_subscription_id="sub_1")

    e = user_entitlements(user_id=sub.user_id, now=NOW)

    assert _limits(e) == ("pro", 4, 8, 12, 1080, False)
    assert (e.source, e.valid_until, e.subscription_id) == ("subscription", sub.current_period_end, "sub_1")
    assert e.reason.startswith(f"Paid {'trial' if status == 'trialing' else 'subscription'} sub_1 on pro is {status}.")


@pytest.mark.parametrize(("days_since_renewal", "expected"), [(6, "pro"), (8, "free")])
def test_past_due_keeps_the_plan_during_the_grace_period_only(days_since_renewal, expected, pro):
    start = NOW - timedelta(days=days_since_renewal)
    sub = SubscriptionFactory(plan=pro, status="past_due", current_period_start=start,
                              current_period_end=start + timedelta(days=30))

    e = user_entitlements(user_id=sub.user_id, now=NOW)

    assert e.tier == expected
    assert e.source == ("grace" if expected == "pro" else "free")
    if expected == "pro":
        assert e.valid_until == start + timedelta(days=7)
    else:
        assert "grace period ended" in e.reason


@pytest.mark.parametrize("status", ["canceled", "unpaid", "incomplete", "incomplete_expired", "paused"])
def test_other_statuses_are_free(status, pro):
    sub = SubscriptionFactory(plan=pro, status=status, stripe_subscription_id="sub_x")

    e = user_entitlements(user_id=sub.user_id, now=NOW)

    assert _limits(e) == ("free", 1, 0, 8, 720, True)
    assert (e.reason, e.subscription_id) == (f"Subscription sub_x is {status}.", "sub_x")


def test_a_live_subscription_wins_over_an_older_ended_one(pro):
    user = UserFactory()
    SubscriptionFactory(user=user, plan=pro, status="active", created_at=NOW - timedelta(days=90))
    SubscriptionFactory(user=user, plan=pro, status="canceled", created_at=NOW - timedelta(days=1))

    assert user_entitlements(user_id=user.pk, now=NOW).tier == "pro"


def test_an_active_subscription_not_heard_of_long_after_its_period_is_not_trusted(pro):
    sub = SubscriptionFactory(plan=pro, current_period_start=NOW - timedelta(days=40),
                              current_period_end=NOW - timedelta(days=10))

    e = user_entitlements(user_id=sub.user_id, now=NOW)

    assert e.tier == "free"
    assert "nothing newer was heard from Stripe" in e.reason


def test_a_price_that_is_no_plan_of_ours_is_free(db):
    sub = SubscriptionFactory(plan=None, stripe_price_id="price_elsewhere")

    assert user_entitlements(user_id=sub.user_id, now=NOW).reason.endswith(
        "is on price price_elsewhere, which is no plan of ours.")


def test_after_a_downgrade_the_paid_plan_holds_until_the_period_end(pro):
    basic = PlanFactory(code="basic", rank=1, max_concurrent_jobs=2, queue_priority=4)
    end = NOW + timedelta(days=10)
    sub = SubscriptionFactory(plan=basic, paid_plan=pro, paid_through=end, current_period_end=end)

    assert user_entitlements(user_id=sub.user_id, now=NOW).tier == "pro"
    assert user_entitlements(user_id=sub.user_id, now=end + timedelta(seconds=1)).tier == "basic"


# --- generation reads them -------------------------------------------------------------


def _submit(client, size="1080x1920", duration=8):
    return client.post("/api/v1/generations", {"kind": "text_to_video", "prompt": "a lighthouse at dawn",
                                               "duration_seconds": duration, "size": size}, format="multipart")


def test_generation_limits_follow_the_subscription(client_for, pro, sent_tasks, settings, tmp_path,
                                                   django_capture_on_commit_callbacks):
    settings.MEDIA_ROOT = str(tmp_path)
    settings.CREDITS_SIGNUP_GRANT = 100
    free_user, subscriber = UserFactory(), UserFactory()
    SubscriptionFactory(user=subscriber, plan=pro)

    refused = _submit(client_for(free_user))
    with django_capture_on_commit_callbacks(execute=True):
        accepted = _submit(client_for(subscriber), duration=12, size="1080x1920")

    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "plan_limit"
    assert not GenerationJob.objects.filter(user=free_user).exists()
    assert accepted.status_code == 201, accepted.json()
    job = GenerationJob.objects.get(user=subscriber)
    assert (job.priority, job.watermark, job.cost) == (8, False, 48)
    # The render task's message priority comes from the plan tier (0 is the most urgent).
    render = [kw for name, _, kw in sent_tasks if name == "generation.tasks.render_generation"]
    assert [kw["priority"] for kw in render] == [1]
