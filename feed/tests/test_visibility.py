"""Block and visibility rules, on every endpoint that shows a post."""

import pytest

from accounts.tests.factories import BlockFactory, FollowFactory, UserFactory
from feed import services
from feed.models import Comment, Like, Share
from feed.tests.factories import PostFactory

pytestmark = pytest.mark.django_db

# Which of the author's public / followers-only / private posts a viewer sees.
MATRIX = {
    "self": {"public", "followers", "private"},
    "follower": {"public", "followers"},
    "stranger": {"public"},
    "blocked_by_author": set(),
    "blocking_author": set(),
    "follower_blocked_by_author": set(),
    "follower_blocking_author": set(),
}


def ids(response) -> set[int]:
    if response.status_code == 404:
        return set()
    assert response.status_code == 200, response.json()
    return {p["id"] for p in response.json()["results"]}


@pytest.mark.parametrize("relation", list(MATRIX))
def test_block_and_visibility_matrix(client_for, relation):
    author, neutral = UserFactory(handle="author"), UserFactory()
    viewer = author if relation == "self" else UserFactory()
    if relation.startswith("follower"):
        FollowFactory(follower=viewer, followee=author)
    if relation.endswith("blocked_by_author"):
        BlockFactory(blocker=author, blocked=viewer)
    if relation.endswith("blocking_author"):
        BlockFactory(blocker=viewer, blocked=author)
    parent = PostFactory(author=neutral)
    posts = {}
    for visibility in ("public", "followers", "private"):
        post = PostFactory(author=author, visibility=visibility, parent=parent, root=parent, lineage=[parent.pk],
                           caption="#matrix")
        services._set_hashtags(post, ["matrix"])
        post.save()
        posts[visibility] = post
    children = {v: PostFactory(author=neutral, parent=p, root=parent, lineage=[parent.pk, p.pk])
                for v, p in posts.items()}
    client = client_for(viewer)
    mine = {p.pk for p in posts.values()}
    expected = {posts[v].pk for v in MATRIX[relation]}

    assert {p.pk for p in posts.values() if client.get(f"/api/v1/posts/{p.pk}").status_code == 200} == expected
    assert ids(client.get(f"/api/v1/users/{author.handle}/posts")) == expected
    assert ids(client.get("/api/v1/hashtags/matrix/posts")) == expected
    assert ids(client.get(f"/api/v1/posts/{parent.pk}/remixes")) == expected
    following = client.get("/api/v1/feed/following")
    assert ids(following) & mine == (expected if relation == "follower" else set())
    for_you = client.get("/api/v1/feed/for-you")
    assert ids(for_you) & mine == (set() if relation == "self" else expected)
    trending = client.get("/api/v1/feed/trending")
    assert ids(trending) & mine == (set() if relation == "self" else expected & {posts["public"].pk})

    for visibility, child in children.items():
        card = client.get(f"/api/v1/posts/{child.pk}").json()
        chain = client.get(f"/api/v1/posts/{child.pk}/lineage").json()["results"]
        seen = posts[visibility].pk in expected
        assert card["parent"]["removed"] is not seen
        assert (card["parent"]["author"] or {}).get("handle") == ("author" if seen else None)
        assert [c["id"] for c in chain] == [parent.pk, posts[visibility].pk, child.pk]
        assert chain[1].get("removed", False) is not seen

    for visibility, post in posts.items():
        liked = client.post(f"/api/v1/posts/{post.pk}/like")
        commented = client.post(f"/api/v1/posts/{post.pk}/comments", {"body": "hi"})
        shared = client.post(f"/api/v1/posts/{post.pk}/shares", {"channel": "link"})
        assert (liked.status_code, commented.status_code, shared.status_code) == \
            ((200, 201, 201) if post.pk in expected else (404, 404, 404))
    assert set(Like.objects.filter(user=viewer).values_list("post", flat=True)) == expected
    assert set(Comment.objects.filter(author=viewer).values_list("post", flat=True)) == expected
    assert set(Share.objects.filter(user=viewer).values_list("post", flat=True)) == expected


def test_a_profile_is_404_for_someone_its_owner_blocked(client_for):
    author, viewer = UserFactory(), UserFactory()
    PostFactory(author=author)
    BlockFactory(blocker=author, blocked=viewer)

    response = client_for(viewer).get(f"/api/v1/users/{author.handle}/posts")

    assert (response.status_code, response.json()["error"]["code"]) == (404, "user_not_found")


def test_unfollowing_takes_followers_only_posts_away(client_for):
    author, viewer = UserFactory(), UserFactory()
    follow = FollowFactory(follower=viewer, followee=author)
    post = PostFactory(author=author, visibility="followers")
    client = client_for(viewer)
    assert client.get(f"/api/v1/posts/{post.pk}").status_code == 200

    follow.delete()

    assert client.get(f"/api/v1/posts/{post.pk}").status_code == 404
    assert ids(client.get(f"/api/v1/users/{author.handle}/posts")) == set()


def test_following_feed_is_newest_first_from_followed_people_only(client_for):
    viewer, a, b, stranger = (UserFactory() for _ in range(4))
    FollowFactory(follower=viewer, followee=a)
    FollowFactory(follower=viewer, followee=b)
    first = PostFactory(author=a)
    PostFactory(author=stranger)
    second = PostFactory(author=b)
    third = PostFactory(author=a)
    PostFactory(author=viewer)

    response = client_for(viewer).get("/api/v1/feed/following")

    assert [p["id"] for p in response.json()["results"]] == [third.pk, second.pk, first.pk]


def test_the_python_and_sql_forms_of_the_visibility_rule_agree():
    """Lineage ends are checked in Python (ViewerContext.sees), pages in SQL (with the context's
    id lists, or with subqueries): all three must say the same of every kind of post."""
    from feed import selectors
    from feed.models import Post

    viewer = UserFactory()
    authors = {"self": viewer, "followed": UserFactory(), "stranger": UserFactory(),
               "blocked": UserFactory(), "blocking": UserFactory(), "inactive": UserFactory(is_active=False)}
    FollowFactory(follower=viewer, followee=authors["followed"])
    FollowFactory(follower=viewer, followee=authors["inactive"])
    BlockFactory(blocker=viewer, blocked=authors["blocked"])
    BlockFactory(blocker=authors["blocking"], blocked=viewer)
    for author in authors.values():
        for visibility in ("public", "followers", "private"):
            for status in ("active", "hidden", "removed", "deleted"):
                PostFactory(author=author, visibility=visibility, status=status)
    context = selectors.viewer_context(viewer=viewer)
    posts = list(Post.objects.select_related("author"))

    by_python = {p.pk for p in posts if context.sees(status=p.status, visibility=p.visibility, author_id=p.author_id,
                                                     author_active=p.author.is_active)}
    by_sql = set(selectors.visible_posts(viewer, context).values_list("pk", flat=True))
    by_subqueries = set(selectors.visible_posts(viewer).values_list("pk", flat=True))

    assert by_python == by_sql == by_subqueries
    assert {(p.author_id, p.visibility) for p in posts if p.pk in by_python} == {
        (viewer.pk, "public"), (viewer.pk, "followers"), (viewer.pk, "private"),
        (authors["followed"].pk, "public"), (authors["followed"].pk, "followers"),
        (authors["stranger"].pk, "public"),
    }
    assert {p.status for p in posts if p.pk in by_python} == {"active"}
    assert (context.following, context.blocked) == (
        frozenset({authors["followed"].pk, authors["inactive"].pk}),
        frozenset({authors["blocked"].pk, authors["blocking"].pk}))



def test_the_viewer_contexts_plain_sql_reads_blocks_as_accounts_defines_them():
    """viewer_context reads blocks in hand-written SQL built from accounts.selectors' definition:
    its set is exactly the users the ORM form of the rule leaves out."""
    from accounts.models import User
    from accounts.selectors import not_blocked_with
    from feed import selectors

    viewer, others = UserFactory(), [UserFactory() for _ in range(4)]
    BlockFactory(blocker=viewer, blocked=others[0])
    BlockFactory(blocker=others[1], blocked=viewer)
    BlockFactory(blocker=others[2], blocked=others[3])  # between two others: not the viewer's
    FollowFactory(follower=viewer, followee=others[2])

    blocked = selectors.viewer_context(viewer=viewer).blocked

    assert blocked == frozenset(User.objects.exclude(not_blocked_with(user=viewer)).values_list("pk", flat=True))
    assert blocked == {others[0].pk, others[1].pk}
