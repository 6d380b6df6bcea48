"""Likes, comments, shares and their tracking links, views."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.tests.factories import BlockFactory, UserFactory
from feed import tasks
from feed.counters import PENDING_KEY
from feed.models import Comment, Like, Post, Share, ShareClick
from feed.tests.factories import CommentFactory, PostFactory
from config.redis import get_redis

pytestmark = pytest.mark.django_db


def counts(post) -> dict:
    post.refresh_from_db()
    return {"likes": post.likes_count, "comments": post.comments_count, "shares": post.shares_count,
            "views": post.views_count}


# --- likes ------------------------------------------------------------------------------------


def test_like_and_unlike_are_idempotent(auth_api):
    post = PostFactory()
    url = f"/api/v1/posts/{post.pk}/like"

    first, second = auth_api.post(url), auth_api.post(url)

    assert (first.status_code, second.status_code) == (200, 200)
    assert (second.json()["liked"], second.json()["counts"]["likes"]) == (True, 1)
    assert Like.objects.filter(post=post).count() == 1
    assert counts(post)["likes"] == 1

    unliked, again = auth_api.delete(url), auth_api.delete(url)

    assert (unliked.json()["liked"], again.json()["liked"], again.json()["counts"]["likes"]) == (False, False, 0)
    assert Like.objects.count() == 0
    assert counts(post)["likes"] == 0


def test_liked_flag_is_per_viewer(client_for):
    post = PostFactory()
    liker, other = UserFactory(), UserFactory()
    client_for(liker).post(f"/api/v1/posts/{post.pk}/like")

    assert client_for(liker).get(f"/api/v1/posts/{post.pk}").json()["liked"] is True
    assert client_for(other).get(f"/api/v1/posts/{post.pk}").json()["liked"] is False


@pytest.mark.parametrize("url", ["/api/v1/feed/for-you", "/api/v1/feed/following", "/api/v1/users/{author}/posts",
                                 "/api/v1/hashtags/tag/posts", "/api/v1/posts/{parent}/remixes"])
def test_liked_flag_is_right_on_every_list(client_for, url):
    from accounts.tests.factories import FollowFactory
    from feed import ranking, services

    author, liker = UserFactory(), UserFactory()
    FollowFactory(follower=liker, followee=author)
    parent = PostFactory(author=author)
    liked, other = (PostFactory(author=author, parent=parent, root=parent, lineage=[parent.pk], hashtags=["tag"])
                    for _ in range(2))
    for post in (liked, other):
        services._set_hashtags(post, ["tag"])
    Like.objects.create(user=liker, post=liked)
    ranking.scores_refresh()

    response = client_for(liker).get(url.format(author=author.handle, parent=parent.pk))

    flags = {p["id"]: p["liked"] for p in response.json()["results"]}
    assert flags[liked.pk] is True
    assert flags[other.pk] is False


def test_cannot_like_a_post_you_cannot_see(auth_api):
    blocked_me = PostFactory()
    BlockFactory(blocker=blocked_me.author, blocked=auth_api.user)
    private = PostFactory(visibility="private")

    for post in (blocked_me, private):
        response = auth_api.post(f"/api/v1/posts/{post.pk}/like")
        assert (response.status_code, response.json()["error"]["code"]) == (404, "post_not_found")
        assert counts(post)["likes"] == 0
    assert Like.objects.count() == 0


# --- comments ---------------------------------------------------------------------------------


def test_comment_and_reply_one_level_deep(client_for):
    post = PostFactory()
    a, b = client_for(UserFactory()), client_for(UserFactory())
    url = f"/api/v1/posts/{post.pk}/comments"

    top = a.post(url, {"body": "first!"})
    reply = b.post(url, {"body": "agreed", "parent_id": top.json()["id"]})
    too_deep = a.post(url, {"body": "deeper", "parent_id": reply.json()["id"]})

    assert top.status_code == 201 and reply.status_code == 201
    assert (top.json()["body"], top.json()["parent_id"], top.json()["author"]["handle"]) == \
        ("first!", None, a.user.handle)
    assert reply.json()["parent_id"] == top.json()["id"]
    assert (too_deep.status_code, too_deep.json()["error"]["code"]) == (400, "reply_depth")
    assert Comment.objects.count() == 2
    assert counts(post)["comments"] == 2
    assert Comment.objects.get(pk=top.json()["id"]).replies_count == 1

    listed = b.get(url).json()["results"]
    replies = b.get(f"/api/v1/comments/{top.json()['id']}/replies").json()["results"]
    assert [(c["id"], c["replies_count"]) for c in listed] == [(top.json()["id"], 1)]
    assert [c["id"] for c in replies] == [reply.json()["id"]]


def test_reply_to_a_comment_of_another_post_is_refused(auth_api):
    post, other = PostFactory(), PostFactory()
    foreign = CommentFactory(post=other)

    response = auth_api.post(f"/api/v1/posts/{post.pk}/comments", {"body": "hi", "parent_id": foreign.pk})

    assert (response.status_code, response.json()["error"]["code"]) == (404, "comment_not_found")
    assert Comment.objects.count() == 1
    assert counts(post)["comments"] == 0


def test_cannot_reply_to_someone_who_blocked_you_on_a_third_persons_post(client_for):
    post = PostFactory()
    blocker, blocked = UserFactory(), UserFactory()
    BlockFactory(blocker=blocker, blocked=blocked)
    top = CommentFactory(post=post, author=blocker)

    response = client_for(blocked).post(f"/api/v1/posts/{post.pk}/comments", {"body": "hey", "parent_id": top.pk})

    assert (response.status_code, response.json()["error"]["code"]) == (404, "comment_not_found")
    assert Comment.objects.count() == 1
    top.refresh_from_db()
    assert top.replies_count == 0
    assert counts(post)["comments"] == 0


def test_comment_author_and_post_author_can_delete_others_cannot(client_for):
    post = PostFactory()
    commenter, stranger = UserFactory(), UserFactory()
    by_commenter = client_for(commenter).post(f"/api/v1/posts/{post.pk}/comments", {"body": "one"}).json()["id"]
    other = client_for(commenter).post(f"/api/v1/posts/{post.pk}/comments", {"body": "two"}).json()["id"]

    refused = client_for(stranger).delete(f"/api/v1/comments/{by_commenter}")
    assert (refused.status_code, refused.json()["error"]["code"]) == (404, "comment_not_found")
    assert Comment.objects.count() == 2 and counts(post)["comments"] == 2

    assert client_for(commenter).delete(f"/api/v1/comments/{by_commenter}").status_code == 204
    assert client_for(post.author).delete(f"/api/v1/comments/{other}").status_code == 204
    assert Comment.objects.count() == 0
    assert counts(post)["comments"] == 0


def test_deleting_a_comment_takes_its_replies_and_counts(client_for):
    post = PostFactory()
    c = client_for(UserFactory())
    url = f"/api/v1/posts/{post.pk}/comments"
    top = c.post(url, {"body": "top"}).json()["id"]
    reply_ids = [c.post(url, {"body": f"r{i}", "parent_id": top}).json()["id"] for i in range(3)]
    kept = c.post(url, {"body": "kept"}).json()["id"]

    assert c.delete(f"/api/v1/comments/{reply_ids[0]}").status_code == 204
    assert Comment.objects.get(pk=top).replies_count == 2
    assert counts(post)["comments"] == 4

    assert c.delete(f"/api/v1/comments/{top}").status_code == 204
    assert list(Comment.objects.values_list("pk", flat=True)) == [kept]
    assert counts(post)["comments"] == 1
    # Deleting it twice changes nothing.
    assert c.delete(f"/api/v1/comments/{top}").status_code == 404
    assert counts(post)["comments"] == 1


def test_comments_of_blocked_users_are_not_shown(client_for):
    post = PostFactory()
    viewer, blocked, blocker = UserFactory(), UserFactory(), UserFactory()
    BlockFactory(blocker=viewer, blocked=blocked)
    BlockFactory(blocker=blocker, blocked=viewer)
    kept = CommentFactory(post=post)
    CommentFactory(post=post, author=blocked)
    CommentFactory(post=post, author=blocker)
    CommentFactory(post=post, author=blocked, parent=kept)
    kept_reply = CommentFactory(post=post, parent=kept)

    top = client_for(viewer).get(f"/api/v1/posts/{post.pk}/comments").json()["results"]
    replies = client_for(viewer).get(f"/api/v1/comments/{kept.pk}/replies").json()["results"]

    assert [c["id"] for c in top] == [kept.pk]
    assert [c["id"] for c in replies] == [kept_reply.pk]


def test_comments_of_a_post_you_cannot_see_are_404(auth_api):
    post = PostFactory(visibility="private")
    comment = CommentFactory(post=post)

    listed = auth_api.get(f"/api/v1/posts/{post.pk}/comments")
    replies = auth_api.get(f"/api/v1/comments/{comment.pk}/replies")
    created = auth_api.post(f"/api/v1/posts/{post.pk}/comments", {"body": "hi"})

    assert (listed.status_code, replies.status_code, created.status_code) == (404, 404, 404)
    assert Comment.objects.count() == 1


# --- shares -----------------------------------------------------------------------------------


def test_share_returns_a_tracking_link_and_counts(auth_api, settings):
    settings.PUBLIC_BASE_URL = "https://api.example.org/"
    post = PostFactory()

    response = auth_api.post(f"/api/v1/posts/{post.pk}/shares", {"channel": "tiktok"})

    assert response.status_code == 201, response.json()
    share = Share.objects.get()
    assert (share.user, share.channel, share.post_id) == (auth_api.user, "tiktok", post.pk)
    assert response.json()["url"] == f"https://api.example.org/s/{share.token}"
    assert (response.json()["token"], response.json()["clicks_count"]) == (share.token, 0)
    assert counts(post)["shares"] == 1


def test_share_to_an_unknown_channel_is_refused(auth_api):
    post = PostFactory()

    response = auth_api.post(f"/api/v1/posts/{post.pk}/shares", {"channel": "myspace"})

    assert response.status_code == 400
    assert response.json()["error"]["fields"]["channel"][0]["code"] == "invalid_choice"
    assert Share.objects.count() == 0 and counts(post)["shares"] == 0


def test_share_link_redirects_and_counts_distinct_visitors(client, settings):
    settings.SHARE_LANDING_URL = "https://clips.example/p/{post_id}"
    settings.NUM_PROXIES = 0
    post = PostFactory()
    share = Share.objects.create(post=post, user=UserFactory(), channel="instagram")
    url = f"/s/{share.token}"

    first = client.get(url, REMOTE_ADDR="203.0.113.5", HTTP_USER_AGENT="Instagram 300")
    same = client.get(url, REMOTE_ADDR="203.0.113.5", HTTP_USER_AGENT="Instagram 300")
    other_agent = client.get(url, REMOTE_ADDR="203.0.113.5", HTTP_USER_AGENT="TikTok 30")
    other_ip = client.get(url, REMOTE_ADDR="198.51.100.7", HTTP_USER_AGENT="Instagram 300")

    for response in (first, same, other_agent, other_ip):
        assert response.status_code == 302
        assert response["Location"] == f"https://clips.example/p/{post.pk}"
    share.refresh_from_db()
    assert share.clicks_count == 3
    assert ShareClick.objects.filter(share=share).count() == 3
    assert all("203.0.113.5" not in v for v in ShareClick.objects.values_list("visitor", flat=True))


def test_share_clicks_behind_a_proxy_cannot_be_inflated_by_forged_headers(client, settings):
    settings.NUM_PROXIES = 1
    share = Share.objects.create(post=PostFactory(), user=UserFactory(), channel="tiktok")
    url = f"/s/{share.token}"

    # Our load balancer appends the real client address; whatever the client put before it is ignored.
    for forged in ("1.1.1.1", "2.2.2.2", "3.3.3.3"):
        response = client.get(url, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=f"{forged}, 198.51.100.7",
                              HTTP_USER_AGENT="TikTok 30")
        assert response.status_code == 302
    client.get(url, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.8", HTTP_USER_AGENT="TikTok 30")

    share.refresh_from_db()
    assert share.clicks_count == 2
    assert ShareClick.objects.count() == 2


def test_unknown_share_token_is_404_and_counts_nothing(client):
    response = client.get("/s/nope")

    assert response.status_code == 404
    assert ShareClick.objects.count() == 0


# --- views ------------------------------------------------------------------------------------


def test_views_are_counted_once_per_viewer_per_day_after_the_flush(client_for):
    seen, unseen, private = PostFactory(), PostFactory(), PostFactory(visibility="private")
    a, b = client_for(UserFactory()), client_for(UserFactory())

    with CaptureQueriesContext(connection) as queries:
        first = a.post("/api/v1/views", {"post_ids": [seen.pk, seen.pk, private.pk]}, format="json")
    again = a.post("/api/v1/views", {"post_ids": [seen.pk]}, format="json")
    other = b.post("/api/v1/views", {"post_ids": [seen.pk, unseen.pk]}, format="json")

    assert (first.json(), again.json(), other.json()) == ({"counted": 1}, {"counted": 0}, {"counted": 2})
    writes = [q["sql"] for q in queries.captured_queries if not q["sql"].lstrip().upper().startswith("SELECT")]
    assert writes == []
    assert counts(seen)["views"] == 0  # nothing written until the flush

    assert tasks.flush_views() == 3

    assert (counts(seen)["views"], counts(unseen)["views"], counts(private)["views"]) == (2, 1, 0)
    assert get_redis().exists(PENDING_KEY) == 0
    assert tasks.flush_views() == 0
    assert counts(seen)["views"] == 2


def test_a_view_the_next_day_counts_again(auth_api, monkeypatch):
    post = PostFactory()
    auth_api.post("/api/v1/views", {"post_ids": [post.pk]}, format="json")
    tomorrow = timezone.now() + timedelta(days=1)
    monkeypatch.setattr("feed.counters.timezone.now", lambda: tomorrow)

    response = auth_api.post("/api/v1/views", {"post_ids": [post.pk]}, format="json")

    assert response.json() == {"counted": 1}
    tasks.flush_views()
    assert counts(post)["views"] == 2


def test_views_arriving_during_a_flush_are_kept_for_the_next_one(client_for):
    post = PostFactory()
    client_for(UserFactory()).post("/api/v1/views", {"post_ids": [post.pk]}, format="json")
    client = get_redis()
    client.rename(PENDING_KEY, f"{PENDING_KEY}:flushing")  # a flush that died after its rename
    client_for(UserFactory()).post("/api/v1/views", {"post_ids": [post.pk]}, format="json")

    assert tasks.flush_views() == 1
    assert tasks.flush_views() == 1
    assert counts(post)["views"] == 2


def test_a_batch_flushed_before_a_crash_is_not_added_twice(client_for):
    from feed.counters import FLUSHING_ID_KEY, FLUSHING_KEY
    from feed.models import ViewsFlush

    post = PostFactory()
    client_for(UserFactory()).post("/api/v1/views", {"post_ids": [post.pk]}, format="json")
    assert tasks.flush_views() == 1
    # The same batch back in Redis, as if the flush had died after its commit, before its clean-up.
    client = get_redis()
    client.hset(FLUSHING_KEY, str(post.pk), 1)
    client.set(FLUSHING_ID_KEY, ViewsFlush.objects.get().batch)

    assert tasks.flush_views() == 0

    assert counts(post)["views"] == 1
    assert (client.exists(FLUSHING_KEY), client.exists(FLUSHING_ID_KEY)) == (0, 0)


def test_a_flush_while_another_runs_does_nothing(client_for):
    from feed.counters import FLUSH_LOCK_KEY

    post = PostFactory()
    client_for(UserFactory()).post("/api/v1/views", {"post_ids": [post.pk]}, format="json")
    running = get_redis().lock(FLUSH_LOCK_KEY, timeout=30)
    assert running.acquire(blocking=False)
    try:
        assert tasks.flush_views() == 0
        assert counts(post)["views"] == 0
        assert get_redis().hget(PENDING_KEY, str(post.pk)) == b"1"
    finally:
        running.release()

    assert tasks.flush_views() == 1
    assert counts(post)["views"] == 1


def test_views_batch_is_validated(auth_api):
    empty = auth_api.post("/api/v1/views", {"post_ids": []}, format="json")
    too_many = auth_api.post("/api/v1/views", {"post_ids": list(range(1, 102))}, format="json")

    assert (empty.status_code, too_many.status_code) == (400, 400)
    assert get_redis().exists(PENDING_KEY) == 0
    assert Post.objects.count() == 0


def test_deleting_a_comment_the_counter_missed_does_not_go_below_zero(client_for):
    post = PostFactory()
    comment = CommentFactory(post=post)  # made outside the service: the counter says 0

    response = client_for(comment.author).delete(f"/api/v1/comments/{comment.pk}")

    post.refresh_from_db()
    assert response.status_code == 204
    assert post.comments_count == 0
    assert not Comment.objects.filter(pk=comment.pk).exists()
