"""Reads of the feed: who may see which post, and the queries behind every list.

One visibility rule, in two forms that a test holds together: `_visible_q` (SQL, for
lists cut by the database) and `ViewerContext.sees` (Python, for rows already loaded:
ranked pages read from a snapshot, the parents and roots of remixes). A request reads
the viewer's follows and blocks once (`viewer_context`) and hands them to both. Cards go
through `with_display(...)` and `finish_cards(...)`, so a page costs the same number of
queries whatever its size.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet

from accounts.models import Block, Follow, User
from config.errors import Forbidden, NotFound

from .models import (
    Comment,
    FeedPreferences,
    Hashtag,
    Like,
    MutedAuthor,
    MutedHashtag,
    NotInterested,
    Post,
    PostStatus,
    RemixPolicy,
    Visibility,
)


@dataclass(frozen=True)
class ViewerContext:
    """Whom a viewer follows and who is blocked between them and others, read in one query
    (`viewer_context`); with `tastes`, also their mutes, "not interested" and preferences, for
    the ranking. The lists go into queries as literals: PostgreSQL plans `author_id IN (...)`
    from its statistics, where NOT IN / IN subqueries made it walk the newest posts whatever
    the viewer follows (1 s at 1M posts for someone who follows quiet accounts)."""

    viewer_id: int
    following: frozenset[int]
    blocked: frozenset[int]  # blocked by the viewer, or blocking them
    muted_authors: frozenset[int] = frozenset()
    not_interested: frozenset[int] = frozenset()
    muted_tags: frozenset[str] = frozenset()
    personalized: bool = True
    has_tastes: bool = False  # whether the four fields above were read

    def sees(self, post: Post) -> bool:
        """`_visible_q` for a post already loaded with its author (no query)."""
        return (post.status == PostStatus.ACTIVE and post.author.is_active
                and post.author_id not in self.blocked
                and (post.visibility == Visibility.PUBLIC or post.author_id == self.viewer_id
                     or (post.visibility == Visibility.FOLLOWERS and post.author_id in self.following)))


def _context_sql(tastes: bool) -> str:
    # Plain SQL (portable: SQLite and PostgreSQL): the ORM's union of seven annotated querysets
    # cost 2 ms of Python to compile for a 0.1 ms query.
    parts = [
        (Follow, "'follow'", "followee_id", "''", "follower_id"),
        (Block, "'block'", "blocked_id", "''", "blocker_id"),
        (Block, "'block'", "blocker_id", "''", "blocked_id"),
    ]
    if tastes:
        parts += [
            (MutedAuthor, "'mute'", "author_id", "''", "user_id"),
            (NotInterested, "'not_interested'", "post_id", "''", "user_id"),
            (MutedHashtag, "'tag'", "0", "tag", "user_id"),
            (FeedPreferences, "'impersonal'", "0", "''", "user_id"),
        ]
    selects = [f"SELECT {kind}, {number}, {text} FROM {model._meta.db_table} WHERE {owner} = %s"
               + (" AND NOT personalized" if model is FeedPreferences else "")
               for model, kind, number, text, owner in parts]
    return " UNION ALL ".join(selects)


def viewer_context(*, viewer: User, tastes: bool = False) -> ViewerContext:
    sql = _context_sql(tastes)
    found: dict[str, set] = {"follow": set(), "block": set(), "mute": set(), "not_interested": set(),
                             "tag": set(), "impersonal": set()}
    with connection.cursor() as cursor:
        cursor.execute(sql, [viewer.pk] * sql.count("%s"))
        for kind, number, text in cursor.fetchall():
            found[kind].add(text if kind == "tag" else number)
    return ViewerContext(
        viewer_id=viewer.pk, following=frozenset(found["follow"]), blocked=frozenset(found["block"]),
        muted_authors=frozenset(found["mute"]), not_interested=frozenset(found["not_interested"]),
        muted_tags=frozenset(found["tag"]), personalized=not found["impersonal"], has_tastes=tastes,
    )


def _visible_q(viewer: User, context: ViewerContext | None = None) -> Q:
    """The visibility rule as a condition on a post: active; public, the viewer's own, or
    followers-only of someone they follow; never by someone they blocked or who blocked them;
    by an active account. With a context its id lists are used; without, subqueries (one
    statement, for callers that read a single post). `ViewerContext.sees` is the same rule."""
    if context is not None:
        following, blocked = list(context.following), [list(context.blocked)] if context.blocked else []
    else:
        following = Follow.objects.filter(follower=viewer).values("followee")
        blocked = [Block.objects.filter(blocker=viewer).values("blocked"),
                   Block.objects.filter(blocked=viewer).values("blocker")]
    q = (Q(status=PostStatus.ACTIVE) & Q(author__is_active=True)
         & (Q(visibility=Visibility.PUBLIC) | Q(author=viewer)
            | Q(visibility=Visibility.FOLLOWERS, author__in=following)))
    for authors in blocked:
        q &= ~Q(author__in=authors)
    return q


def visible_posts(viewer: User, context: ViewerContext | None = None) -> QuerySet[Post]:
    """Active posts the viewer may see (see _visible_q)."""
    return Post.objects.filter(_visible_q(viewer, context))


# The post's own columns, and of its author and video what a card shows (and what
# ViewerContext.sees and a remix read): a sixth less time per page than whole rows.
_CARD_FIELDS = [
    *(f.name for f in Post._meta.concrete_fields),
    "author__handle", "author__display_name", "author__avatar", "author__is_active",
    "generation__status", "generation__video", "generation__poster", "generation__result_duration",
]


def with_display(queryset: QuerySet[Post]) -> QuerySet[Post]:
    """A post card's own row in the page query: the post, its author, its video. The rest of
    the card comes after the page is cut (`finish_cards`): joining the parent and root here,
    with their visibility, made PostgreSQL spend 6-10 ms planning every page."""
    return queryset.select_related("author", "generation").only(*_CARD_FIELDS)


def with_likes(queryset: QuerySet[Post], viewer: User) -> QuerySet[Post]:
    """`viewer_liked` in the page query itself, one query fewer: for pages read by primary key,
    where PostgreSQL probes the likes index row by row."""
    return queryset.annotate(viewer_liked=Exists(Like.objects.filter(post=OuterRef("pk"), user=viewer)))


def finish_cards(posts: list[Post], viewer: User, context: ViewerContext | None = None, *,
                 likes: bool = True) -> list[Post]:
    """Set what a card shows beyond its own row, for a whole page in two queries whatever its
    size (three without a context): `viewer_liked`, and `parent_ref` / `root_ref` (a Post with
    `visible`, or None). A parent or root the viewer may not see (blocks, visibility,
    moderation) reads as removed, as in /lineage. Likes are looked up by the page's ids: as an
    EXISTS in a page query that scans for its rows PostgreSQL sometimes hashed every like of the
    viewer instead. `likes=False`: the rows already carry `viewer_liked` (`with_likes`)."""
    liked: set[int] = set()
    if posts and likes:
        liked = set(Like.objects.filter(user=viewer, post_id__in=[p.pk for p in posts])
                    .values_list("post_id", flat=True))
    ids = {i for post in posts for i in (post.parent_id, post.root_id) if i is not None}
    refs: dict[int, Post] = {}
    if ids:
        context = context or viewer_context(viewer=viewer)
        refs = {row.pk: row for row in Post.objects.filter(pk__in=ids).select_related("author")}
        for row in refs.values():
            row.visible = context.sees(row)
    for post in posts:
        if likes:
            post.viewer_liked = post.pk in liked
        post.parent_ref = refs.get(post.parent_id)
        post.root_ref = refs.get(post.root_id)
    return posts


def post_visible(*, viewer: User, post_id: int, context: ViewerContext | None = None) -> Post:
    """The post, if the viewer may see it (404 otherwise); `post_card` for showing it."""
    post = with_display(visible_posts(viewer, context)).filter(pk=post_id).first()
    if post is None:
        raise NotFound("No such post.", code="post_not_found")
    return post


def post_card(*, viewer: User, post_id: int) -> Post:
    return finish_cards([post_visible(viewer=viewer, post_id=post_id)], viewer)[0]


def posts_by_ids(*, viewer: User, ids: list[int], context: ViewerContext | None = None) -> list[Post]:
    """Visible posts in the order of `ids` (a ranked page), skipping ones gone or hidden since.
    The rows come by primary key and the rule is checked on them in Python (`sees`): with the
    viewer's follow list in the WHERE clause, compiling the query cost more than running it."""
    context = context or viewer_context(viewer=viewer)
    found = {p.pk: p for p in with_likes(with_display(Post.objects.filter(pk__in=ids)), viewer) if context.sees(p)}
    return finish_cards([found[i] for i in ids if i in found], viewer, context, likes=False)


def user_posts(*, viewer: User, author: User, context: ViewerContext) -> QuerySet[Post]:
    return with_display(visible_posts(viewer, context).filter(author=author))


def following_feed(*, viewer: User, context: ViewerContext) -> QuerySet[Post]:
    # _visible_q narrowed to followed authors, where followers-only posts are visible too: the
    # same rule with the follow list in the query once instead of twice (it is most of the
    # query's compile time).
    posts = Post.objects.filter(author__in=list(context.following), status=PostStatus.ACTIVE,
                                visibility__in=[Visibility.PUBLIC, Visibility.FOLLOWERS], author__is_active=True)
    if context.blocked:
        posts = posts.exclude(author__in=list(context.blocked))
    return with_display(posts)


def hashtag_posts(*, viewer: User, tag: str, context: ViewerContext) -> QuerySet[Post]:
    hashtag = Hashtag.objects.filter(tag=tag.lower().lstrip("#")).first()
    if hashtag is None:
        raise NotFound("No posts with this hashtag yet.", code="hashtag_not_found")
    return with_display(visible_posts(viewer, context).filter(tag_links__hashtag=hashtag))


def post_remixes(*, viewer: User, post: Post, context: ViewerContext) -> QuerySet[Post]:
    return with_display(visible_posts(viewer, context).filter(parent=post))


def post_lineage(*, viewer: User, post: Post) -> list[Post | int]:
    """The chain from the root down to `post`. An ancestor the viewer cannot see (deleted,
    removed, private, blocked) stays in the chain as its bare id: the client shows 'removed'."""
    ids = [*post.lineage, post.pk]
    context = viewer_context(viewer=viewer)
    found = list(with_display(visible_posts(viewer, context)).filter(pk__in=ids))
    visible = {p.pk: p for p in finish_cards(found, viewer, context)}
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
    return (Comment.objects.exclude(author__in=Block.objects.filter(blocker=viewer).values("blocked"))
            .exclude(author__in=Block.objects.filter(blocked=viewer).values("blocker"))
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
    prefs = FeedPreferences.objects.filter(user=user).first()
    return prefs.personalized if prefs is not None else True
