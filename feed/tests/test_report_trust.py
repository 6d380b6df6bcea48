"""Reports weighed by their reporters' trust: a burst of new accounts cannot hide a post, it
only puts it in the review queue; established reporters still hide it; and a creator's
campaign submission survives a post hidden by reports alone."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import User
from accounts.tests.factories import BlockFactory, UserFactory
from creators.models import Reward, Submission
from creators.services.rewards import campaign_evaluate
from creators.tests.factories import CampaignFactory, CreatorProfileFactory, EnrolmentFactory, publish_task
from feed import services
from feed.models import ModerationAction, PostStatus, Report
from feed.tests.factories import EstablishedUserFactory, PostFactory, ReportFactory

pytestmark = pytest.mark.django_db

QUEUE = "/admin/feed/post/"


@pytest.fixture(autouse=True)
def _defaults(settings):
    # The shipped defaults, pinned so an environment variable cannot change what is tested.
    settings.FEED_REPORT_HIDE_THRESHOLD = 5.0
    settings.FEED_REPORT_REVIEW_THRESHOLD = 3
    settings.FEED_REPORT_MIN_ACCOUNT_AGE_DAYS = 7
    settings.FEED_REPORT_FULL_TRUST_DAYS = 30
    settings.FEED_REPORT_VERIFIED_BONUS = 0.25
    settings.FEED_REPORT_UPHELD_BONUS = 0.25
    settings.FEED_REPORT_REJECTED_PENALTY = 0.25
    settings.FEED_REPORT_BLOCKS_HALVING = 10
    settings.FEED_REPORT_MAX_WEIGHT = 2.0


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def aged(days: float):
    return UserFactory(created_at=timezone.now() - timedelta(days=days))


def report(client, post, reason="spam"):
    return client.post(f"/api/v1/posts/{post.pk}/reports", {"reason": reason})


def queue(staff_client) -> list[int]:
    response = staff_client.get(QUEUE, {"review": "queue"})
    assert response.status_code == 200
    return sorted(p.pk for p in response.context["cl"].result_list)


def test_five_brand_new_accounts_leave_the_post_visible_but_queued_for_review(client_for, staff_client):
    post, lightly_reported, _unreported = PostFactory(), PostFactory(), PostFactory()
    viewer = client_for(UserFactory())
    ReportFactory.create_batch(2, post=lightly_reported)

    responses = [report(client_for(UserFactory()), post) for _ in range(5)]

    assert [r.status_code for r in responses] == [201] * 5
    post.refresh_from_db()
    assert (post.status, post.reports_count) == (PostStatus.ACTIVE, 5)
    assert list(Report.objects.filter(post=post).values_list("weight", flat=True)) == [0.0] * 5
    assert ModerationAction.objects.count() == 0
    assert viewer.get(f"/api/v1/posts/{post.pk}").status_code == 200
    assert queue(staff_client) == [post.pk]  # not the one with two reports, nor the unreported one


def test_a_burst_of_new_accounts_never_hides_a_post_however_large(client_for):
    post = PostFactory()

    for _ in range(25):
        assert report(client_for(UserFactory()), post).status_code == 201

    post.refresh_from_db()
    assert (post.status, post.reports_count) == (PostStatus.ACTIVE, 25)
    assert ModerationAction.objects.count() == 0


def test_established_accounts_still_hide_it_and_a_new_one_does_not_make_up_the_count(client_for, staff_client):
    post = PostFactory()
    for _ in range(4):
        assert report(client_for(EstablishedUserFactory()), post).status_code == 201
    assert report(client_for(UserFactory()), post).status_code == 201

    post.refresh_from_db()
    assert post.status == PostStatus.ACTIVE  # five reporters, but trust 4
    assert ModerationAction.objects.count() == 0

    assert report(client_for(EstablishedUserFactory()), post, "hate").status_code == 201

    post.refresh_from_db()
    assert (post.status, post.reports_count) == (PostStatus.HIDDEN, 6)
    assert list(ModerationAction.objects.values_list("action", "staff", "reason")) == \
        [("auto_hide", None, "6 reports, trust 5")]
    assert queue(staff_client) == [post.pk]


def test_a_reporters_weight_grows_with_age_and_a_verified_email_and_shrinks_with_blocks():
    post = PostFactory()
    week_old, fortnight, month, blocked, blocked_by_new = aged(6.9), aged(15), aged(45), aged(365), aged(365)
    verified, new_verified = aged(45), aged(1)
    User.objects.filter(pk__in=[verified.pk, new_verified.pk]).update(email_verified=True)
    verified.refresh_from_db()
    new_verified.refresh_from_db()
    for _ in range(10):
        BlockFactory(blocker=aged(365), blocked=blocked)
        BlockFactory(blocker=aged(1), blocked=blocked_by_new)

    for user in (week_old, fortnight, month, blocked, blocked_by_new, verified, new_verified):
        services.report_create(user=user, post_id=post.pk, reason="spam")

    weights = dict(Report.objects.values_list("reporter", "weight"))
    assert weights == {week_old.pk: 0.0, fortnight.pk: 0.5, month.pk: 1.0, blocked.pk: 0.5, blocked_by_new.pk: 1.0,
                       verified.pk: 1.25, new_verified.pk: 0.0}


def test_staff_verdicts_weigh_the_reporters_next_reports(client_for, staff_client):
    good, bad = EstablishedUserFactory(), EstablishedUserFactory()
    removed, restored = PostFactory(), PostFactory()
    services.report_create(user=good, post_id=removed.pk, reason="violence")
    services.report_create(user=bad, post_id=restored.pk, reason="spam")
    staff = UserFactory(is_staff=True)

    services.post_moderate(staff=staff, post_id=removed.pk, action="remove", reason="gore")
    services.post_moderate(staff=staff, post_id=restored.pk, action="restore", reason="fine")

    assert list(Report.objects.order_by("pk").values_list("resolved", "upheld")) == [(True, True), (True, False)]
    later = PostFactory()
    services.report_create(user=good, post_id=later.pk, reason="spam")
    services.report_create(user=bad, post_id=later.pk, reason="spam")
    assert dict(Report.objects.filter(post=later).values_list("reporter", "weight")) == {good.pk: 1.25,
                                                                                        bad.pk: 0.75}


# --- creators' campaign submissions ---------------------------------------------------------


@pytest.fixture
def creator(client_for):
    campaign = CampaignFactory()
    publish = publish_task(campaign, reward=50)
    profile = CreatorProfileFactory()
    EnrolmentFactory(campaign=campaign, user=profile.user)
    return campaign, publish, profile.user, client_for(profile.user)


def test_a_submission_of_a_post_hidden_by_reports_alone_is_not_rejected(creator, client_for):
    campaign, publish, user, client = creator
    url = f"/api/v1/campaigns/{campaign.pk}/submissions"
    by_reports, by_staff = PostFactory(author=user), PostFactory(author=user)
    for post in (by_reports, by_staff):
        for _ in range(5):
            assert report(client_for(EstablishedUserFactory()), post).status_code == 201
        post.refresh_from_db()
        assert post.status == PostStatus.HIDDEN
    # Staff looked at this one and kept it hidden: that decision does keep it out.
    services.post_moderate(staff=UserFactory(is_staff=True), post_id=by_staff.pk, action="hide", reason="checking")

    refused = client.post(url, {"post_id": by_staff.pk}, format="json")
    response = client.post(url, {"post_id": by_reports.pk}, format="json")

    assert (refused.status_code, refused.json()["error"]["code"]) == (400, "post_not_active")
    assert response.status_code == 201
    submission = Submission.objects.get()
    assert (submission.post_id, submission.status) == (by_reports.pk, Submission.Status.ACCEPTED)
    # Nothing is paid while the post waits for staff...
    assert Reward.objects.count() == 0
    assert campaign_evaluate(campaign_id=campaign.pk) == 0

    services.post_moderate(staff=UserFactory(is_staff=True), post_id=by_reports.pk, action="restore", reason="fine")

    # ... and once staff restore it, the publish task pays.
    assert campaign_evaluate(campaign_id=campaign.pk) == 1
    assert list(Reward.objects.values_list("task", "user", "amount")) == [(publish.pk, user.pk, 50)]
    submission.refresh_from_db()
    assert submission.status == Submission.Status.ACCEPTED
