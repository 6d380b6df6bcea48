"""Reads of the feed: who may see which post, and the queries behind every list.

Every list goes through `visible_posts(viewer)` so block and visibility rules
hold everywhere, and through `with_display(...)` so a page costs the same
number of queries whatever its size.
"""

from __future__ import annotations

from django.db.models import BooleanField, Exists, ExpressionWrapper, OuterRef, Q, QuerySet

from accounts.models import Block, Follow, User
from config.errors import Forbidden, NotFound

from .models import Comment, Hashtag, Like, Post, PostStatus, RemixPolicy, Visibility


def _blocked_either_way(viewer: User) -> tuple[QuerySet, QuerySet]:
    return (Block.objects.filter(blocker=viewer).values("blocked"),
            Block.objects.filter(blocked=viewer).values("blocker"))


def _visible_q(viewer: User, relation: str = "") -> Q:
    """The visibility rule as a condition on a post, or on a related post (`relation="parent"`):
    active; public, the viewer's own, or followers-only of someone they follow; never by
    someone they blocked or who blocked them; by an active account."""
    p = f"{relation}__" if relation else ""
    i_blocked, blocked_me = _blocked_either_way(viewer)
    following = Follow.objects.filter(follower=viewer).values("followee")
    return (
        Q(**{f"{p}status": PostStatus.ACTIVE})
        & (Q(**{f"{p}visibility": Visibility.PUBLIC}) | Q(**{f"{p}author": viewer})
           | Q(**{f"{p}visibility": Visibility.FOLLOWERS, f"{p}author__in": following}))
        & ~Q(**{f"{p}author__in": i_blocked})
        & ~Q(**{f"{p}author__in": blocked_me})
        & Q(**{f"{p}author__is_active": True})
    )


def visible_posts(viewer: User) -> QuerySet[Post]:
    """Active posts the viewer may see (see _visible_q)."""
    return Post.objects.filter(_visible_q(viewer))


def with_display(queryset: QuerySet[Post], viewer: User) -> QuerySet[Post]:
    """A post card's own rows in the page query: author, video, 'liked by me'. The parent and
    root of remixes come after the page is cut (`with_refs`): joining them here, with their
    visibility, made PostgreSQL spend 6-10 ms planning every page (seven tables, eleven
    subplans) for 2-4 ms of execution."""
    return queryset.select_related("author", "generation").annotate(
        viewer_liked=Exists(Like.objects.filter(post=OuterRef("pk"), user=viewer)),
    )


def with_refs(posts: list[Post], viewer: User) -> list[Post]:
    """Attach `parent_ref` and `root_ref` (a Post with `visible`, or None) to a page of posts,
    in one query whatever the page size. A parent or root the viewer may not see (blocks,
    visibility, moderation) reads as removed, as in /lineage."""
    ids = {i for post in posts for i in (post.parent_id, post.root_id) if i is not None}
    refs: dict[int, Post] = {}
    if ids:
        rows = Post.objects.filter(pk__in=ids).select_related("author").annotate(
            visible=ExpressionWrapper(_visible_q(viewer), output_field=BooleanField()))
        refs = {row.pk: row for row in rows}
    for post in posts:
        post.parent_ref = refs.get(post.parent_id)
        post.root_ref = refs.get(post.root_id)
    return posts


def post_visible(*, viewer: User, post_id: int) -> Post:
    post = with_display(visible_posts(viewer), viewer).filter(pk=post_id).first()
    if post is None:
        raise NotFound("No such post.", code="post_not_found")
    return with_refs([post], viewer)[0]


def posts_by_ids(*, viewer: User, ids: list[int]) -> list[Post]:
    """Visible posts in the order of `ids` (a ranked page), skipping ones gone since."""
    found = {p.pk: p for p in with_display(visible_posts(viewer), viewer).filter(pk__in=ids)}
    return with_refs([found[i] for i in ids if i in found], viewer)


def user_posts(*, viewer: User, author: User) -> QuerySet[Post]:
    return with_display(visible_posts(viewer).filter(author=author), viewer)


def following_feed(*, viewer: User) -> QuerySet[Post]:
    # The followed ids as a literal list, not a subquery: PostgreSQL then weighs walking the
    # newest posts against reading just those authors' posts. With the subquery it always
    # walked the newest posts, and a viewer who follows quiet accounts read the whole table
    # (1 s at 1M posts, against 7 ms now).
    following = list(Follow.objects.filter(follower=viewer).values_list("followee_id", flat=True))
    return with_display(visible_posts(viewer).filter(author__in=following), viewer)


def hashtag_posts(*, viewer: User, tag: str) -> QuerySet[Post]:
    hashtag = Hashtag.objects.filter(tag=tag.lower().lstrip("#")).first()
    if hashtag is None:
        raise NotFound("No posts with this hashtag yet.", code="hashtag_not_found")
    return with_display(visible_posts(viewer).filter(tag_links__hashtag=hashtag), viewer)


def post_remixes(*, viewer: User, post: Post) -> QuerySet[Post]:
    return with_display(visible_posts(viewer).filter(parent=post), viewer)


def post_lineage(*, viewer: User, post: Post) -> list[Post | int]:
    """The chain from the root down to `post`. An ancestor the viewer cannot see (deleted,
    removed, private, blocked) stays in the chain as its bare id: the client shows 'removed'."""
    ids = [*post.lineage, post.pk]
    visible = {p.pk: p for p in with_refs(list(with_display(visible_posts(viewer), viewer).filter(pk__in=ids)),
                                           viewer)}
    return [visible.get(i, i) for i in ids]


def can_remix(*, viewer: User, post: Post) -> bool:
    if post.author_id == viewer.pk:
        return True
    if post.remix_policy == RemixPolicy.EVERYONE:
        return True
    if post.remix_policy == RemixPolicy.FOLLOWERS:
        return Follow.objects.filter(follower=viewer, followee_id=post.author_id).exists()
    return False


def remixable_post(*, viewer: User, post_id: int) -> Post:
    """The post, if the viewer may see it and its author's remix policy lets them remix it."""
    post = post_visible(viewer=viewer, post_id=post_id)
    if not can_remix(viewer=viewer, post=post):
        raise Forbidden("The author does not allow remixes of this post.", code="remix_not_allowed")
    return post


def _comments_for(viewer: User) -> QuerySet[Comment]:
    """Comments the viewer may read: none by someone they blocked or who blocked them."""
    i_blocked, blocked_me = _blocked_either_way(viewer)
    return (Comment.objects.exclude(author__in=i_blocked).exclude(author__in=blocked_me)
            .filter(author__is_active=True).select_related("author"))


def post_comments(*, viewer: User, post: Post) -> QuerySet[Comment]:
    return _comments_for(viewer).filter(post=post, parent__isnull=True)


def comment_replies(*, viewer: User, comment: Comment) -> QuerySet[Comment]:
    return _comments_for(viewer).filter(parent=comment)


def comment_visible(*, viewer: User, comment_id: int) -> Comment:
    comment = _comments_for(viewer).filter(pk=comment_id, post__in=visible_posts(viewer)).first()
    if comment is None:
        raise NotFound("No such comment.", code="comment_not_found")
    return comment


def personalized(*, user: User) -> bool:
    from .models import FeedPreferences

    prefs = FeedPreferences.objects.filter(user=user).first()
    return prefs.personalized if prefs is not None else True
