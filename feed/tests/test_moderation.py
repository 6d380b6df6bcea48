"""Reports, automatic hiding, the admin review queue and its audit trail."""

import pytest

from accounts.models import User
from accounts.tests.factories import FollowFactory, UserFactory
from feed import services
from feed.models import ModerationAction, PostStatus, Report
from feed.tests.factories import EstablishedUserFactory, PostFactory, ReportFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/feed/post/"


@pytest.fixture
def staff_client(client):
    staff = UserFactory(handle="moderator", is_staff=True, is_superuser=True)
    client.force_login(staff)
    client.staff = staff
    return client


@pytest.fixture(autouse=True)
def _threshold(settings):
    settings.FEED_REPORT_HIDE_THRESHOLD = 3


def report(client, post, reason="spam", **extra):
    return client.post(f"/api/v1/posts/{post.pk}/reports", {"reason": reason, **extra})


def admin_action(client, action, posts, reason=""):
    return client.post(CHANGELIST, {"action": action, "_selected_action": [p.pk for p in posts], "index": 0,
                                    "reason": reason})


def status_of(post) -> str:
    post.refresh_from_db()
    return post.status


def feeds_show(viewer_client, post) -> dict[str, bool]:
    """Where a post shows up for a viewer who follows its author."""
    def listed(url):
        response = viewer_client.get(url)
        return response.status_code == 200 and post.pk in [p["id"] for p in response.json()["results"]]

    return {
        "detail": viewer_client.get(f"/api/v1/posts/{post.pk}").status_code == 200,
        "following": listed("/api/v1/feed/following"),
        "profile": listed(f"/api/v1/users/{post.author.handle}/posts"),
        "hashtag": listed("/api/v1/hashtags/moderated/posts"),
        "remixes": listed(f"/api/v1/posts/{post.parent_id}/remixes"),
        "for_you": listed("/api/v1/feed/for-you"),
        "trending": listed("/api/v1/feed/trending"),
    }


@pytest.fixture
def watched_post():
    """A remix with a hashtag, so every kind of list can show it."""
    parent = PostFactory()
    post = PostFactory(parent=parent, root=parent, lineage=[parent.pk], caption="#moderated")
    services._set_hashtags(post, ["moderated"])
    post.save()
    return post


def test_report_reasons_and_refusals(client_for):
    post = PostFactory()
    reporter = client_for(UserFactory())

    ok = report(reporter, post, "impersonation", note="that is my face")
    twice = report(reporter, post, "spam")
    unknown = report(client_for(UserFactory()), post, "boring")
    own = report(client_for(post.author), post, "spam")

    assert (ok.status_code, ok.json()) == (201, {"status": "received"})
    assert (twice.status_code, twice.json()["error"]["code"]) == (409, "already_reported")
    assert (unknown.status_code, unknown.json()["error"]["fields"]["reason"][0]["code"]) == \
        (400, "invalid_choice")
    assert (own.status_code, own.json()["error"]["code"]) == (400, "report_own_post")
    assert list(Report.objects.values_list("reporter", "reason", "note", "resolved")) == \
        [(reporter.user.pk, "impersonation", "that is my face", False)]
    post.refresh_from_db()
    assert (post.reports_count, post.status) == (1, PostStatus.ACTIVE)


def test_report_hide_review_restore(client_for, staff_client, watched_post):
    post = watched_post
    viewer = client_for(UserFactory())
    FollowFactory(follower=viewer.user, followee=post.author)
    everywhere = dict.fromkeys(["detail", "following", "profile", "hashtag", "remixes", "for_you", "trending"], True)
    assert feeds_show(viewer, post) == everywhere

    for _ in range(2):
        assert report(client_for(EstablishedUserFactory()), post).status_code == 201
    assert status_of(post) == PostStatus.ACTIVE
    assert ModerationAction.objects.count() == 0

    assert report(client_for(EstablishedUserFactory()), post, "violence").status_code == 201

    assert status_of(post) == PostStatus.HIDDEN
    assert list(ModerationAction.objects.values_list("action", "staff", "reason")) == \
        [("auto_hide", None, "3 reports, trust 3")]
    assert feeds_show(viewer, post) == dict.fromkeys(everywhere, False)
    # Hidden posts cannot be reported, liked or shared any more.
    assert report(client_for(UserFactory()), post).status_code == 404
    assert Report.objects.count() == 3

    queue = staff_client.get(CHANGELIST, {"status__exact": "hidden"})
    assert queue.status_code == 200
    assert [p.pk for p in queue.context["cl"].result_list] == [post.pk]

    response = admin_action(staff_client, "restore", [post], reason="satire, allowed")

    assert response.status_code == 302
    assert status_of(post) == PostStatus.ACTIVE
    assert list(ModerationAction.objects.order_by("pk").values_list("action", "staff", "reason")) == \
        [("auto_hide", None, "3 reports, trust 3"), ("restore", staff_client.staff.pk, "satire, allowed")]
    assert Report.objects.filter(resolved=False).count() == 0
    assert list(Report.objects.values_list("upheld", flat=True)) == [False, False, False]
    assert feeds_show(viewer, post) == everywhere

    # One new report after a review does not hide it again: the reviewed ones are resolved.
    assert report(client_for(UserFactory()), post).status_code == 201
    assert status_of(post) == PostStatus.ACTIVE
    post.refresh_from_db()
    assert post.reports_count == 4
    assert ModerationAction.objects.count() == 2


def test_reports_from_distinct_users_only(client_for):
    post = PostFactory()
    reporter = client_for(UserFactory())

    for _ in range(3):
        report(reporter, post)

    assert status_of(post) == PostStatus.ACTIVE
    assert Report.objects.count() == 1


def test_admin_hide_and_remove_take_posts_out_of_every_feed(client_for, staff_client, watched_post):
    other = PostFactory(author=watched_post.author)
    viewer = client_for(UserFactory())
    FollowFactory(follower=viewer.user, followee=watched_post.author)
    ReportFactory(post=other)

    admin_action(staff_client, "hide", [watched_post], reason="checking")
    admin_action(staff_client, "remove", [other], reason="gore")

    assert (status_of(watched_post), status_of(other)) == (PostStatus.HIDDEN, PostStatus.REMOVED)
    assert list(ModerationAction.objects.order_by("pk").values_list("post", "action", "staff", "reason")) == [
        (watched_post.pk, "hide", staff_client.staff.pk, "checking"),
        (other.pk, "remove", staff_client.staff.pk, "gore"),
    ]
    assert Report.objects.get().resolved is True
    assert not any(feeds_show(viewer, watched_post).values())
    assert viewer.get(f"/api/v1/posts/{other.pk}").status_code == 404
    # The remix of a removed post shows its parent as removed.
    child = PostFactory(parent=other, root=other, lineage=[other.pk])
    assert viewer.get(f"/api/v1/posts/{child.pk}").json()["parent"] == {"id": other.pk, "author": None,
                                                                        "removed": True}


def test_suspending_the_author_removes_the_post_and_hides_all_their_posts(client_for, staff_client):
    post = PostFactory()
    another = PostFactory(author=post.author)
    viewer = client_for(UserFactory())

    admin_action(staff_client, "suspend_author", [post], reason="ban evasion")

    assert status_of(post) == PostStatus.REMOVED
    assert status_of(another) == PostStatus.ACTIVE
    assert User.objects.get(pk=post.author_id).is_active is False
    assert list(ModerationAction.objects.values_list("post", "action")) == [(post.pk, "suspend_author")]
    assert viewer.get(f"/api/v1/posts/{another.pk}").status_code == 404
    assert viewer.get(f"/api/v1/users/{post.author.handle}/posts").status_code == 404


def test_staff_cannot_resurrect_a_post_its_author_deleted_but_can_suspend_them(staff_client):
    tombstone = PostFactory(status=PostStatus.DELETED, caption="")

    restored = admin_action(staff_client, "restore", [tombstone])
    hidden = admin_action(staff_client, "hide", [tombstone])

    assert (restored.status_code, hidden.status_code) == (302, 302)
    assert status_of(tombstone) == PostStatus.DELETED
    assert ModerationAction.objects.count() == 0

    admin_action(staff_client, "suspend_author", [tombstone], reason="spam ring")

    assert status_of(tombstone) == PostStatus.DELETED
    assert User.objects.get(pk=tombstone.author_id).is_active is False
    assert list(ModerationAction.objects.values_list("action", "reason")) == [("suspend_author", "spam ring")]


def test_deleting_a_reported_post_keeps_its_audit_trail(client_for):
    post = PostFactory()
    for _ in range(3):
        report(client_for(EstablishedUserFactory()), post, "hate")
    assert status_of(post) == PostStatus.HIDDEN

    response = client_for(post.author).delete(f"/api/v1/posts/{post.pk}")

    assert response.status_code == 204
    assert status_of(post) == PostStatus.DELETED
    assert Report.objects.filter(post=post).count() == 3
    assert list(ModerationAction.objects.filter(post=post).values_list("action", flat=True)) == ["auto_hide"]


def test_admin_actions_need_staff(client, client_for):
    post = PostFactory(status=PostStatus.HIDDEN)
    client.force_login(UserFactory())

    response = admin_action(client, "restore", [post])

    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert status_of(post) == PostStatus.HIDDEN
    assert ModerationAction.objects.count() == 0


def test_post_moderate_service_writes_the_audit_trail():
    staff = UserFactory(is_staff=True)
    post = PostFactory(status=PostStatus.HIDDEN)
    ReportFactory.create_batch(2, post=post)

    services.post_moderate(staff=staff, post_id=post.pk, action="remove", reason="nudity")

    assert status_of(post) == PostStatus.REMOVED
    assert list(ModerationAction.objects.values_list("staff", "action", "reason")) == [(staff.pk, "remove", "nudity")]
    assert list(Report.objects.values_list("resolved", "upheld")) == [(True, True), (True, True)]


def test_the_change_form_cannot_set_the_status_around_the_audit_trail(staff_client):
    post = PostFactory(status=PostStatus.HIDDEN, caption="under review")
    url = f"/admin/feed/post/{post.pk}/change/"
    form = staff_client.get(url)
    assert form.status_code == 200
    assert 'name="status"' not in form.content.decode()

    staff_client.post(url, {
        "author": post.author_id, "generation": post.generation_id, "caption": "under review", "language": "en",
        "region": "US", "visibility": "public", "remix_policy": "everyone", "status": "active",
        "reports-TOTAL_FORMS": 0, "reports-INITIAL_FORMS": 0,
        "moderation_actions-TOTAL_FORMS": 0, "moderation_actions-INITIAL_FORMS": 0,
    })

    assert status_of(post) == PostStatus.HIDDEN
    assert ModerationAction.objects.count() == 0
