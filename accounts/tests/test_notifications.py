"""The notifications inbox: grouping, read marker, dismiss, per-type channels, silencing, and
push only per preference and only when no socket is open. Against real PostgreSQL."""

from __future__ import annotations

import pytest
from accounts import services as account_services
from accounts.models import Notification
from accounts.notifications.services import PUSH_TASK
from accounts.presence import presence_connected, presence_disconnected
from accounts.tasks import push_notification
from accounts.tests.factories import DeviceFactory, UserFactory
from feed import services as feed_services
from feed.tests.factories import PostFactory
from tests.concurrency import at_once

pytestmark = pytest.mark.django_db

URL = "/api/v1/notifications"


def _pushes(sent_tasks) -> list[int]:
    return [args[0] for name, args, _ in sent_tasks if name == PUSH_TASK]


def test_likes_group_into_one_entry_with_the_newest_actors_and_exact_counts(client_for):
    post = PostFactory()
    likers = [UserFactory(display_name=f"Liker {i}") for i in range(5)]
    for liker in likers:
        feed_services.like_create(user=liker, post_id=post.pk)

    body = client_for(post.author).get(URL).json()

    [group] = body["results"]
    assert (group["type"], group["group_key"], group["count"], group["actors_count"]) == (
        "post.liked", f"post.liked:{post.pk}", 5, 5)
    assert [a["display_name"] for a in group["sample_actors"]] == ["Liker 4", "Liker 3", "Liker 2"]
    assert group["body"] == "Liker 4 and 4 others liked your post."
    assert group["data"] == {"post_id": post.pk} and group["unread"] is True


def test_one_like_reads_in_the_singular_and_an_unlike_takes_it_back(client_for):
    post, liker = PostFactory(), UserFactory(display_name="", handle="ana")
    feed_services.like_create(user=liker, post_id=post.pk)
    feed_services.like_create(user=liker, post_id=post.pk)  # idempotent: still one

    [group] = client_for(post.author).get(URL).json()["results"]
    assert (group["count"], group["title"], group["body"]) == (1, "New like", "@ana liked your post.")

    feed_services.like_delete(user=liker, post_id=post.pk)
    assert client_for(post.author).get(URL).json()["results"] == []


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_likes_count_exactly():
    post = PostFactory()
    likers = [UserFactory() for _ in range(50)]

    at_once([lambda liker=liker: feed_services.like_create(user=liker, post_id=post.pk) for liker in likers])

    rows = Notification.objects.filter(user=post.author, type="post.liked")
    assert rows.count() == 50
    assert rows.values("actor").distinct().count() == 50
    from accounts.notifications.selectors import notification_groups

    [group] = notification_groups(user=post.author)
    assert (group["count"], group["actors_count"]) == (50, 50)
    assert group["body"].endswith("and 49 others liked your post.")


def test_the_texts_are_rendered_when_read_not_stored(client_for):
    post, liker = PostFactory(), UserFactory(display_name="Ana")
    feed_services.like_create(user=liker, post_id=post.pk)

    row = Notification.objects.get()
    assert row.data == {"post_id": post.pk}  # type + data, no sentence
    liker.display_name = "Ana Lima"
    liker.save()
    [group] = client_for(post.author).get(URL).json()["results"]
    assert group["body"] == "Ana Lima liked your post."


def test_comments_replies_and_mentions_each_reach_the_right_person(client_for):
    author, commenter, replier = UserFactory(), UserFactory(handle="carla"), UserFactory(handle="rui")
    named = UserFactory(handle="Dana.K")
    post = PostFactory(author=author, caption="a boat for @dana.k and @nobody_here")
    feed_services.notifications.caption_mentions_notify(post=post)
    comment = feed_services.comment_create(user=commenter, post_id=post.pk, body="Lovely! @dana.k look")
    feed_services.comment_create(user=replier, post_id=post.pk, body="agreed", parent_id=comment.pk)

    def types(user):
        return sorted(g["type"] for g in client_for(user).get(URL).json()["results"])

    # The post's author hears of both comments (one group); the commenter of the reply; the person
    # named in the caption and in the comment is told of each once.
    assert types(author) == ["post.commented"]
    assert client_for(author).get(URL).json()["results"][0]["count"] == 2
    assert types(commenter) == ["comment.replied"]
    assert types(named) == ["mention", "mention"]
    assert types(replier) == []


def test_a_mention_in_a_post_the_named_person_cannot_see_tells_nobody():
    named = UserFactory(handle="dana")
    post = PostFactory(caption="secret for @dana", visibility="private")

    feed_services.notifications.caption_mentions_notify(post=post)

    assert not Notification.objects.filter(user=named).exists()


def test_a_deleted_post_takes_its_notifications_with_it(client_for):
    post = PostFactory()
    feed_services.like_create(user=UserFactory(), post_id=post.pk)
    comment = feed_services.comment_create(user=UserFactory(), post_id=post.pk, body="hi")
    other = PostFactory(author=post.author)
    feed_services.like_create(user=UserFactory(), post_id=other.pk)
    assert Notification.objects.filter(user=post.author).count() == 3

    feed_services.comment_delete(user=comment.author, comment_id=comment.pk)
    assert Notification.objects.filter(user=post.author).count() == 2
    feed_services.post_delete(user=post.author, post_id=post.pk)

    [group] = client_for(post.author).get(URL).json()["results"]
    assert group["data"] == {"post_id": other.pk}


def test_blocked_or_muted_people_cause_no_notification_and_lose_the_ones_they_caused():
    author = UserFactory()
    post = PostFactory(author=author)
    blocked, muted, blocker = UserFactory(), UserFactory(), UserFactory()
    feed_services.like_create(user=blocked, post_id=post.pk)
    account_services.follow_create(follower=muted, followee=author)
    assert Notification.objects.filter(user=author).count() == 2

    account_services.block_create(blocker=author, blocked=blocked)
    feed_services.author_mute(user=author, author=muted, muted=True)
    assert not Notification.objects.filter(user=author).exists()

    account_services.follow_delete(follower=muted, followee=author)
    account_services.follow_create(follower=muted, followee=author)  # muted: silent
    feed_services.comment_create(user=muted, post_id=post.pk, body="hello")
    account_services.block_create(blocker=blocker, blocked=author)
    from accounts.notifications import notify

    assert notify(user_id=author.pk, type="post.liked", actor_id=blocker.pk, group_key="x") is None
    assert not Notification.objects.filter(user=author).exists()


def test_follows_group_by_day_and_an_unfollow_takes_it_back(client_for):
    star = UserFactory()
    fans = [UserFactory(display_name=f"Fan {i}") for i in range(3)]
    for fan in fans:
        account_services.follow_create(follower=fan, followee=star)
    account_services.follow_delete(follower=fans[0], followee=star)

    [group] = client_for(star).get(URL).json()["results"]
    assert group["type"] == "user.followed" and group["group_key"].startswith("user.followed:")
    assert (group["count"], group["body"]) == (2, "Fan 2 and 1 other followed you.")


def test_unread_count_mark_read_and_dismiss(client_for):
    author = UserFactory()
    first, second = PostFactory(author=author), PostFactory(author=author)
    for post in (first, second):
        feed_services.like_create(user=UserFactory(), post_id=post.pk)
    api = client_for(author)

    assert api.get(f"{URL}/unread_count").json() == {"count": 2, "notifications": 2, "last_read_id": 0}
    newest = api.get(URL).json()["results"][1]["latest_id"]  # the older group's newest id
    assert api.post(f"{URL}/read", {"up_to_id": newest}, format="json").json()["count"] == 1
    # The marker never moves back, nor past the newest notification.
    api.post(f"{URL}/read", {"up_to_id": 1}, format="json")
    assert api.post(f"{URL}/read", {"up_to_id": 10**12}, format="json").json()["count"] == 0
    last = Notification.objects.filter(user=author).order_by("-id").first()
    assert api.get(f"{URL}/unread_count").json()["last_read_id"] == last.pk
    assert [g["unread"] for g in api.get(URL).json()["results"]] == [False, False]

    assert api.post(f"{URL}/post.liked:{first.pk}/dismiss").status_code == 204
    assert [g["group_key"] for g in api.get(URL).json()["results"]] == [f"post.liked:{second.pk}"]
    response = api.post(f"{URL}/post.liked:{first.pk}/dismiss")
    assert (response.status_code, response.json()["error"]["code"]) == (404, "notification_group_not_found")


def test_pages_and_type_filter(client_for):
    author = UserFactory()
    posts = [PostFactory(author=author) for _ in range(5)]
    for post in posts:
        feed_services.like_create(user=UserFactory(), post_id=post.pk)
    account_services.follow_create(follower=UserFactory(), followee=author)
    api = client_for(author)

    page = api.get(URL, {"page_size": 2}).json()
    seen = [g["group_key"] for g in page["results"]]
    while page["next"]:
        page = api.get(page["next"]).json()
        seen += [g["group_key"] for g in page["results"]]
    assert len(seen) == len(set(seen)) == 6
    assert seen[0].startswith("user.followed:")
    liked = api.get(URL, {"types": "post.liked"}).json()["results"]
    assert {g["type"] for g in liked} == {"post.liked"} and len(liked) == 5


@pytest.mark.parametrize(("query", "field", "code"), [
    ({"types": "post.liked,bogus"}, "types", "notification_type_unknown"),
    ({"before": "abc"}, "before", "invalid"),
    ({"before": "0"}, "before", "min_value"),
    ({"page_size": "0"}, "page_size", "page_size_invalid"),
])
def test_bad_queries_are_a_400_with_a_stable_code(auth_api, query, field, code):
    response = auth_api.get(URL, query)

    assert response.status_code == 400
    assert response.json()["error"]["fields"][field][0]["code"] == code


def test_settings_default_per_type_and_patch_changes_only_what_is_sent(auth_api):
    body = auth_api.get("/api/v1/me/notification-settings").json()["settings"]
    assert body["generation.succeeded"] == "both" and body["post.liked"] == "in_app"
    assert body["post.commented"] == "both" and body["creator.reward"] == "both"

    response = auth_api.patch("/api/v1/me/notification-settings", {"settings": {"post.liked": "push"}},
                              format="json")
    assert response.status_code == 200
    assert response.json()["settings"]["post.liked"] == "push"
    assert response.json()["settings"]["generation.succeeded"] == "both"


@pytest.mark.parametrize(("body", "code"), [
    ({"settings": {"bogus": "push"}}, "notification_type_unknown"),
    ({"settings": {"post.liked": "loud"}}, "invalid_choice"),
    ({"settings": "all"}, "not_a_dict"),
])
def test_bad_settings_are_refused_and_change_nothing(auth_api, body, code):
    response = auth_api.patch("/api/v1/me/notification-settings", body, format="json")

    assert response.status_code == 400
    assert code in str(response.json()["error"]["fields"])
    assert auth_api.get("/api/v1/me/notification-settings").json()["settings"]["post.liked"] == "in_app"


def test_channels_decide_inbox_and_push(client_for, sent_tasks, django_capture_on_commit_callbacks):
    author = UserFactory()
    api = client_for(author)
    post = PostFactory(author=author)

    def like():
        with django_capture_on_commit_callbacks(execute=True):
            feed_services.like_create(user=UserFactory(), post_id=post.pk)

    like()  # default in_app: the inbox, no push
    assert _pushes(sent_tasks) == [] and Notification.objects.filter(inbox=True).count() == 1
    api.patch("/api/v1/me/notification-settings", {"settings": {"post.liked": "off"}}, format="json")
    like()  # off: nothing at all
    assert Notification.objects.count() == 1
    api.patch("/api/v1/me/notification-settings", {"settings": {"post.commented": "push"}}, format="json")
    with django_capture_on_commit_callbacks(execute=True):
        feed_services.comment_create(user=UserFactory(), post_id=post.pk, body="hi")
    pushed = Notification.objects.get(type="post.commented")
    assert pushed.inbox is False and _pushes(sent_tasks) == [pushed.pk]
    assert [g["type"] for g in api.get(URL).json()["results"]] == ["post.liked"]


def test_push_goes_out_only_while_no_socket_is_open(fcm):
    user = UserFactory()
    DeviceFactory(user=user, fcm_token="phone-1")
    note = Notification.objects.create(user=user, type="generation.succeeded", group_key="generation:1",
                                       data={"job_id": "1"})

    presence_connected(user.pk)
    assert push_notification.run(note.pk) == 0
    assert fcm.requests == []  # the socket got notification.created; no push

    presence_disconnected(user.pk)
    assert push_notification.run(note.pk) == 1
    [sent] = fcm.requests
    assert sent.message["notification"] == {"title": "Your video is ready", "body": "Tap to watch and post it."}
    assert sent.message["data"] == {"type": "generation.succeeded", "job_id": "1", "notification_id": str(note.pk),
                                    "group_key": "generation:1"}
    note.delete()
    assert push_notification.run(note.pk) == 0  # dismissed meanwhile: nothing to say


def test_busy_groups_tell_the_socket_once_per_window(events_of, django_capture_on_commit_callbacks):
    post = PostFactory()
    events = events_of(post.author)
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            feed_services.like_create(user=UserFactory(), post_id=post.pk)

    told = [e for e in events() if e["type"] == "notification.created"]
    assert len(told) == 1 and told[0]["group_key"] == f"post.liked:{post.pk}"
    assert Notification.objects.filter(user=post.author).count() == 3


def test_a_push_to_a_japanese_user_from_a_spanish_users_like_is_japanese(fcm, client_for):
    from django.utils import translation

    author = UserFactory(locale="ja-JP")
    fan = UserFactory(locale="es-ES", display_name="Lucía")
    DeviceFactory(user=author, fcm_token="phone-ja")
    client_for(author).patch("/api/v1/me/notification-settings", {"settings": {"post.liked": "both"}}, format="json")
    post = PostFactory(author=author)
    with translation.override("es"):  # the request that liked was the Spanish user's
        feed_services.like_create(user=fan, post_id=post.pk)
    note = Notification.objects.get(user=author)

    assert push_notification.run(note.pk) == 1

    [sent] = fcm.requests
    with translation.override("ja"):
        expected = translation.gettext("%(name)s liked your post.") % {"name": "Lucía"}
    assert sent.message["notification"]["body"] == expected
    assert expected != "Lucía liked your post."  # a real Japanese text, not the English fallback
    # The inbox reads in the reader's language too.
    [group] = client_for(author).get(URL).json()["results"]
    assert group["body"] == expected
