"""Every list costs the same number of SQL queries whatever its page size."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.tests.factories import FollowFactory, UserFactory
from feed import ranking
from feed.models import Comment, Hashtag, Like, Post, PostHashtag
from feed.tests.factories import PostFactory, RenditionFactory

pytestmark = pytest.mark.django_db

ITEMS = 51  # more than the largest page, so every page is full


@pytest.fixture
def world():
    viewer = UserFactory()
    author = UserFactory()
    FollowFactory(follower=viewer, followee=author)
    parent = PostFactory(author=author)
    # Every post card joins its author, video, parent and root, and says whether the viewer liked it
    # and whether they may see its parent and root: some followers-only, half liked.
    posts = [PostFactory(author=author, parent=parent, root=parent, lineage=[parent.pk], hashtags=["q"],
                         visibility="followers" if i % 4 == 0 else "public", likes_count=i)
             for i in range(ITEMS)]
    hashtag = Hashtag.objects.create(tag="q", posts_count=ITEMS)
    PostHashtag.objects.bulk_create([PostHashtag(post=p, hashtag=hashtag) for p in posts])
    Like.objects.bulk_create([Like(user=viewer, post=p) for p in posts[::2]])
    # Every third post localised into two languages: the page's renditions are one query.
    for p in posts[::3]:
        RenditionFactory(post=p, language="es")
        RenditionFactory(post=p, language="pt-BR", dubbed=True)
    commenters = [UserFactory() for _ in range(4)]
    top = Comment.objects.bulk_create([Comment(post=parent, author=commenters[i % 4], body=f"c{i}")
                                       for i in range(ITEMS)])
    Comment.objects.bulk_create([Comment(post=parent, author=commenters[i % 4], parent=top[0], body=f"r{i}")
                                 for i in range(ITEMS)])
    ranking.scores_refresh()
    return {"viewer": viewer, "author": author, "parent": parent, "top": top[0]}


def queries_for(client, url, page_size) -> tuple[int, int, bool]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, {"page_size": page_size})
    assert response.status_code == 200, response.json()
    return len(ctx.captured_queries), len(response.json()["results"]), bool(response.json()["next"])


@pytest.mark.parametrize(("url", "expected_queries"), [
    # Post pages read the viewer's follows and blocks once, cut the page of ids, read its cards
    # (with the viewer's likes) in one query, the parents and roots of its remixes in one more,
    # and the renditions of its videos in one more.
    ("/api/v1/feed/following", 6),  # the user, follows/blocks, the page, the cards, lineage ends, renditions
    ("/api/v1/users/{author}/posts", 7),  # the user, the author, follows/blocks, the page, the cards, ...
    ("/api/v1/hashtags/q/posts", 7),  # the user, follows/blocks, the hashtag, the page, the cards, ...
    ("/api/v1/posts/{parent}/remixes", 7),  # the user, follows/blocks, the post, the page, the cards, ...
    ("/api/v1/posts/{parent}/remixes?sort=top", 7),
    ("/api/v1/posts/{parent}/comments", 3),  # the user, the post, the page
    ("/api/v1/comments/{top}/replies", 3),  # the user, the comment, the page
])
def test_list_query_count_does_not_grow_with_page_size(client_for, world, url, expected_queries):
    client = client_for(world["viewer"])
    url = url.format(author=world["author"].handle, parent=world["parent"].pk, top=world["top"].pk)

    measured = {size: queries_for(client, url, size) for size in (1, 20, 50)}

    assert {size: m[0] for size, m in measured.items()} == dict.fromkeys((1, 20, 50), expected_queries)
    assert [m[1] for m in measured.values()] == [1, 20, 50]
    assert all(m[2] for m in measured.values())


def test_for_you_first_page_builds_a_snapshot_in_constant_queries(client_for, world, settings):
    settings.FEED_MAX_PER_AUTHOR = settings.FEED_FOLLOWING_PER_AUTHOR = 100  # one author here: let a page fill up
    client = client_for(world["viewer"])

    measured = {size: queries_for(client, "/api/v1/feed/for-you", size) for size in (1, 20, 50)}
    first = client.get("/api/v1/feed/for-you", {"page_size": 20})
    with CaptureQueriesContext(connection) as next_page:
        second = client.get(first.json()["next"])

    # The user, the viewer's follows/blocks/mutes/preferences (one query), candidates, followed
    # authors' posts, the page's cards (with likes), lineage ends, renditions.
    assert {size: m[0] for size, m in measured.items()} == {1: 7, 20: 7, 50: 7}
    assert [m[1] for m in measured.values()] == [1, 20, 50]
    # The user, follows/blocks, the page's cards, lineage ends, renditions: the ranking is in the
    # snapshot.
    assert len(next_page.captured_queries) == 5
    assert len(second.json()["results"]) == 20
    assert not {p["id"] for p in first.json()["results"]} & {p["id"] for p in second.json()["results"]}


def test_page_size_is_bounded(client_for, world):
    client = client_for(world["viewer"])

    following = client.get("/api/v1/feed/following", {"page_size": 50})
    comments = client.get(f"/api/v1/posts/{world['parent'].pk}/comments", {"page_size": 50})
    too_many = [client.get(url, {"page_size": 51}) for url in (
        "/api/v1/feed/following", f"/api/v1/posts/{world['parent'].pk}/comments", "/api/v1/feed/for-you")]

    assert len(following.json()["results"]) == 50
    assert len(comments.json()["results"]) == 50
    assert [(r.status_code, r.json()["error"]["fields"]["page_size"][0]["code"]) for r in too_many] == [
        (400, "page_size_invalid")] * 3


def test_following_feed_pages_do_not_skip_or_repeat(client_for, world):
    client = client_for(world["viewer"])
    response = client.get("/api/v1/feed/following", {"page_size": 20})
    seen = []
    while True:
        seen += [p["id"] for p in response.json()["results"]]
        if not response.json()["next"]:
            break
        response = client.get(response.json()["next"])

    expected = list(Post.objects.exclude(author=world["viewer"]).order_by("-created_at", "-id")
                    .values_list("pk", flat=True))
    assert seen == expected
    assert len(seen) == ITEMS + 1
