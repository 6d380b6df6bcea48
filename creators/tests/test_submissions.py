"""Submitting posts: the rule checks with their refusal codes, auto and manual review."""

import pytest
from django.urls import reverse

from billing.models import CreditEntry
from creators.models import Campaign, Enrolment, Reward, Submission
from accounts.models import Notification
from accounts.notifications.services import PUSH_TASK
from creators.tests.factories import CampaignFactory, CreatorProfileFactory, EnrolmentFactory, days_ago, publish_task
from feed.models import Visibility
from feed.tests.factories import PostFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(client_for):
    """A campaign whose template is someone's post and whose hashtag is #paperboat; a creator
    enrolled an hour ago; `remix(...)` makes a post of the creator remixing the template."""
    template = PostFactory(caption="the original boat")
    campaign = CampaignFactory(template_post=template, hashtag="paperboat")
    publish = publish_task(campaign, reward=50)
    profile = CreatorProfileFactory()
    enrolment = EnrolmentFactory(campaign=campaign, user=profile.user)

    def remix(author=profile.user, parent=template, tags=("paperboat",), **kw):
        lineage = [*parent.lineage, parent.pk]
        return PostFactory(author=author, parent=parent, root_id=parent.root_id or parent.pk, lineage=lineage,
                           hashtags=list(tags), caption=" ".join(f"#{t}" for t in tags), **kw)

    class Setup:
        pass

    s = Setup()
    s.template, s.campaign, s.publish, s.user, s.enrolment = template, campaign, publish, profile.user, enrolment
    s.client, s.remix = client_for(profile.user), remix
    s.url = f"/api/v1/campaigns/{campaign.pk}/submissions"
    return s


def _credits_rewards():
    return list(CreditEntry.objects.filter(idempotency_key__startswith="creator-reward:")
                .values_list("user_id", "available_delta"))


def test_an_accepted_submission_pays_the_publish_task_once(setup, committed, sent_tasks, events_of):
    post = setup.remix()
    events = events_of(setup.user)

    response = committed(lambda: setup.client.post(setup.url, {"post_id": post.pk}, format="json"))

    assert response.status_code == 201
    body = response.json()
    reward = Reward.objects.get()
    assert body == {"id": body["id"], "campaign_id": setup.campaign.pk, "post_id": post.pk, "status": "accepted",
                    "submitted_at": body["submitted_at"], "review_reason": "",
                    "progress": [{"task_id": setup.publish.pk, "value": 1, "reached": True, "expired": False,
                                  "reward_id": reward.pk}]}
    assert (reward.user_id, reward.task_id, reward.amount, reward.kind) == (setup.user.pk, setup.publish.pk, 50,
                                                                          "credits")
    entry = CreditEntry.objects.get(idempotency_key=f"creator-reward:{reward.pk}")
    assert (entry.kind, entry.available_delta, entry.lot.kind, reward.credit_entry_id) == ("grant", 50, "bonus",
                                                                                          entry.pk)
    setup.campaign.refresh_from_db()
    assert setup.campaign.budget_remaining == 10_000 - 50
    assert [e["type"] for e in events()] == ["creator.reward", "notification.created", "creator.submission"]
    notification = Notification.objects.get(type="creator.reward")
    assert notification.data["reward_id"] == reward.pk
    assert sent_tasks == [(PUSH_TASK, [notification.pk])]


def test_a_remix_of_a_remix_of_the_template_counts(setup):
    middle = setup.remix(author=PostFactory().author)
    post = setup.remix(parent=middle)

    response = setup.client.post(setup.url, {"post_id": post.pk}, format="json")

    assert response.status_code == 201


@pytest.mark.parametrize(("case", "status", "code"), [
    ("someone_elses", 403, "post_not_own"),
    ("someone_elses_private", 404, "post_not_found"),
    ("private", 400, "post_not_public"),
    ("followers_only", 400, "post_not_public"),
    ("before_enrolling", 400, "post_before_enrolment"),
    ("not_a_remix", 400, "post_not_remix_of_template"),
    ("remix_of_something_else", 400, "post_not_remix_of_template"),
    ("no_hashtag", 400, "post_missing_hashtag"),
    ("missing", 404, "post_not_found"),
])
def test_posts_breaking_a_rule_are_refused_with_a_code_and_nothing_changes(setup, case, status, code,
                                                                           django_capture_on_commit_callbacks):
    other = CreatorProfileFactory().user
    post_id = {
        "someone_elses": lambda: setup.remix(author=other).pk,
        "someone_elses_private": lambda: setup.remix(author=other, visibility=Visibility.PRIVATE).pk,
        "private": lambda: setup.remix(visibility=Visibility.PRIVATE).pk,
        "followers_only": lambda: setup.remix(visibility=Visibility.FOLLOWERS).pk,
        "before_enrolling": lambda: setup.remix(created_at=days_ago(1)).pk,
        "not_a_remix": lambda: PostFactory(author=setup.user, hashtags=["paperboat"]).pk,
        "remix_of_something_else": lambda: setup.remix(parent=PostFactory()).pk,
        "no_hashtag": lambda: setup.remix(tags=("boats",)).pk,
        "missing": lambda: 999_999,
    }[case]()

    with django_capture_on_commit_callbacks() as callbacks:
        response = setup.client.post(setup.url, {"post_id": post_id}, format="json")

    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert Submission.objects.count() == 0
    assert Reward.objects.count() == 0
    assert _credits_rewards() == []
    assert callbacks == []
    setup.campaign.refresh_from_db()
    assert setup.campaign.budget_remaining == 10_000


def test_not_enrolled_left_or_already_submitted_are_refused(setup, client_for):
    post = setup.remix()
    assert setup.client.post(setup.url, {"post_id": post.pk}, format="json").status_code == 201

    again = setup.client.post(setup.url, {"post_id": post.pk}, format="json")
    stranger = CreatorProfileFactory().user
    not_enrolled = client_for(stranger).post(setup.url, {"post_id": setup.remix(author=stranger).pk}, format="json")
    setup.client.post(f"/api/v1/campaigns/{setup.campaign.pk}/leave")
    after_leaving = setup.client.post(setup.url, {"post_id": setup.remix().pk}, format="json")

    assert (again.status_code, again.json()["error"]["code"]) == (409, "already_submitted")
    assert (not_enrolled.status_code, not_enrolled.json()["error"]["code"]) == (403, "not_enrolled")
    assert (after_leaving.status_code, after_leaving.json()["error"]["code"]) == (403, "not_enrolled")
    assert Submission.objects.count() == 1
    assert Reward.objects.count() == 1


def test_re_enrolling_moves_the_enrolment_time(setup):
    made_while_away = setup.remix()
    setup.client.post(f"/api/v1/campaigns/{setup.campaign.pk}/leave")
    setup.client.post(f"/api/v1/campaigns/{setup.campaign.pk}/enrol")

    response = setup.client.post(setup.url, {"post_id": made_while_away.pk}, format="json")

    assert response.json()["error"]["code"] == "post_before_enrolment"
    assert Enrolment.objects.get().status == Enrolment.Status.ENROLLED


def test_submission_limit(setup, settings):
    settings.CREATORS_MAX_SUBMISSIONS = 1
    assert setup.client.post(setup.url, {"post_id": setup.remix().pk}, format="json").status_code == 201

    response = setup.client.post(setup.url, {"post_id": setup.remix().pk}, format="json")

    assert (response.status_code, response.json()["error"]["code"]) == (409, "submission_limit_reached")
    assert Submission.objects.count() == 1


def test_manual_review_waits_for_staff_then_bulk_approve_and_reject(setup, admin_client, admin_user, committed,
                                                                    sent_tasks, client_for):
    Campaign.objects.filter(pk=setup.campaign.pk).update(review_mode=Campaign.ReviewMode.MANUAL)
    mine = setup.client.post(setup.url, {"post_id": setup.remix().pk}, format="json").json()
    other = CreatorProfileFactory().user
    EnrolmentFactory(campaign=setup.campaign, user=other)
    theirs = client_for(other).post(setup.url, {"post_id": setup.remix(author=other).pk}, format="json").json()
    assert (mine["status"], theirs["status"]) == ("pending_review", "pending_review")
    assert Reward.objects.count() == 0
    changelist = reverse("admin:creators_submission_changelist")
    assert admin_client.get(changelist + "?in_review=1").status_code == 200

    # Rejecting without a reason is refused for each: nothing changes.
    admin_client.post(changelist, {"action": "reject", "_selected_action": [mine["id"], theirs["id"]],
                                   "reason": ""})
    assert set(Submission.objects.values_list("status", flat=True)) == {"pending_review"}

    committed(lambda: admin_client.post(changelist, {"action": "approve", "_selected_action": [mine["id"]],
                                                     "reason": ""}))
    committed(lambda: admin_client.post(changelist, {"action": "reject", "_selected_action": [theirs["id"]],
                                                     "reason": "The boat is not visible."}))

    approved, rejected = Submission.objects.get(pk=mine["id"]), Submission.objects.get(pk=theirs["id"])
    assert (approved.status, approved.reviewed_by_id) == ("accepted", admin_user.pk)
    assert (rejected.status, rejected.review_reason) == ("rejected", "The boat is not visible.")
    assert list(Reward.objects.values_list("user_id", "task_id")) == [(setup.user.pk, setup.publish.pk)]
    told = Notification.objects.filter(type="creator.submission")
    assert sorted(told.values_list("data__submission_id", flat=True)) == sorted([mine["id"], theirs["id"]])
    assert sorted(args[0] for name, args in sent_tasks if name == PUSH_TASK) == sorted(
        Notification.objects.filter(type__in=["creator.submission", "creator.reward"]).values_list("pk", flat=True))
    # A decided submission is not in the queue any more.
    committed(lambda: admin_client.post(changelist, {"action": "approve", "_selected_action": [theirs["id"]]}))
    assert Submission.objects.get(pk=theirs["id"]).status == "rejected"
    assert Reward.objects.count() == 1
