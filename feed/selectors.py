"""Reads of the feed: who may see which post, and the queries behind every list.

One visibility rule, in two forms that a test holds together: `_visible_q` (SQL, for
lists cut by the database) and `ViewerContext.sees` (Python, for rows already loaded:
ranked pages read from a snapshot, the parents and roots of remixes). A request reads
the viewer's follows and blocks once (`viewer_context`) and hands them to both. Cards are
read by id (`cards`: one statement, one more for the parents and roots of remixes, and one
for the renditions of their videos): a list cuts its page of ids in SQL, a ranked feed reads
them from its snapshot; a page costs the same number of queries whatever its size.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from datetime import timezone as dt_timezone
from functools import lru_cache

from django.conf import settings
from django.db import connection
from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Block, Follow, User
from accounts.selectors import block_columns, not_blocked_with
from config.errors import Forbidden, NotFound
from generation.models import GenerationJob, JobKind

from .models import (
    Comment,
    FeedPreferences,
    Hashtag,
    Like,
    ModerationAction,
    MutedAuthor,
    MutedHashtag,
    NotInterested,
    Post,
    PostStatus,
    RemixPolicy,
    RemixSource,
    Visibility,
)
from .renditions import CardRendition, card_renditions


@dataclass(frozen=True)
class ViewerContext:
    """Whom a viewer follows and who is blocked between them and others, read in one query
    (`viewer_context`); with `tastes`, also their mutes, "not interested" and preferences, for
    the ranking. The lists go into queries as literals: PostgreSQL plans `author_id IN (...)`
    from its statistics, where NOT IN / IN subqueries made it walk the newest posts whatever
    the viewer follows (bench/RESULTS.md)."""

    viewer_id: int
    following: frozenset[int]
    blocked: frozenset[int]  # blocked by the viewer, or blocking them
    muted_authors: frozenset[int] = frozenset()
    not_interested: frozenset[int] = frozenset()
    muted_tags: frozenset[str] = frozenset()
    personalized: bool = True
    has_tastes: bool = False  # whether the four fields above were read

    def sees(self, *, status: str, visibility: str, author_id: int, author_active: bool) -> bool:
        """`_visible_q` for a post already read, with its author's `is_active` (no query)."""
        return (status == PostStatus.ACTIVE and author_active and author_id not in self.blocked
                and (visibility == Visibility.PUBLIC or author_id == self.viewer_id
                     or (visibility == Visibility.FOLLOWERS and author_id in self.following)))


def _context_sql(tastes: bool) -> str:
    # Plain SQL (portable: SQLite and PostgreSQL): the ORM's union of seven annotated querysets
    # cost many times the query itself to compile (bench/RESULTS.md). Blocks are read in both
    # directions, from accounts.selectors' one definition of "blocked either way".
    parts = [
        (Follow, "'follow'", "followee_id", "''", "follower_id"),
        *((Block, "'block'", other, "''", own) for own, other in block_columns()),
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
        following = list(context.following)
        not_blocked = ~Q(author__in=list(context.blocked)) if context.blocked else Q()
    else:
        following = Follow.objects.filter(follower=viewer).values("followee")
        not_blocked = not_blocked_with(user=viewer, field="author")
    return (Q(status=PostStatus.ACTIVE) & Q(author__is_active=True)
            & (Q(visibility=Visibility.PUBLIC) | Q(author=viewer)
               | Q(visibility=Visibility.FOLLOWERS, author__in=following))
            & not_blocked)


def visible_posts(viewer: User, context: ViewerContext | None = None) -> QuerySet[Post]:
    """Active posts the viewer may see (see _visible_q)."""
    return Post.objects.filter(_visible_q(viewer, context))


def visible_post_ids(*, viewer: User, post_ids: list[int]) -> QuerySet:
    """The ids among `post_ids` of posts the viewer may see (a phone may report any id as seen)."""
    return visible_posts(viewer).filter(pk__in=post_ids).values_list("pk", flat=True)


@dataclass(slots=True)
class CardAuthor:
    id: int
    handle: str
    display_name: str
    avatar: str  # the storage name of the avatar, "" for none


@dataclass(slots=True)
class Card:
    """What a post card shows, read by `cards` in one statement; `PostSerializer` writes it out.
    `parent` and `root` are refs: {"id", "author": {"handle", "display_name"} or None, "removed"}."""

    id: int
    author: CardAuthor
    caption: str
    hashtags: list[str]
    language: str
    visibility: str
    remix_policy: str
    video: str  # storage names, "" for none (a tombstone's files can be gone)
    poster: str
    duration_seconds: float | None
    counts: dict[str, int]
    liked: bool
    parent: dict | None
    root: dict | None
    created_at: datetime
    # The succeeded renditions of the video (feed.renditions), by language.
    renditions: list[CardRendition] = field(default_factory=list)


def _tables() -> tuple[str, str, str, str]:
    return (Post._meta.db_table, User._meta.db_table,
            Post._meta.get_field("generation").related_model._meta.db_table, Like._meta.db_table)


def sql_in(count: int) -> str:
    """`IN (%s, ...)` for `count` parameters, in the plain SQL of the feed's hot reads."""
    return f"IN ({', '.join(['%s'] * count)})"


@lru_cache(maxsize=64)
def _cards_sql(count: int) -> str:
    """The posts of a page by id with their authors and videos, and the viewer's likes. Plain SQL
    (SQLite and PostgreSQL): the same read through the ORM (select_related, only(), an Exists for
    the like) cost several times as much Python a page (bench/RESULTS.md)."""
    post, user, job, like = _tables()
    return (
        "SELECT p.id, p.caption, p.hashtags, p.language, p.visibility, p.remix_policy, p.status,"
        " p.likes_count, p.comments_count, p.remixes_count, p.views_count, p.shares_count, p.created_at,"
        " p.author_id, a.handle, a.display_name, a.avatar, a.is_active, g.video, g.poster, g.result_duration,"
        f" EXISTS (SELECT 1 FROM {like} l WHERE l.post_id = p.id AND l.user_id = %s), p.generation_id,"
        " p.parent_id, p.root_id"
        f" FROM {post} p JOIN {user} a ON a.id = p.author_id LEFT JOIN {job} g ON g.id = p.generation_id"
        f" WHERE p.id {sql_in(count)}"
    )


@lru_cache(maxsize=64)
def _refs_sql(count: int) -> str:
    """The parents and roots of a page's remixes. Apart from the page: joined into it, the seven
    tables cost PostgreSQL more to plan than the two statements take together (bench/RESULTS.md)."""
    post, user, __, ___ = _tables()
    return (f"SELECT p.id, p.status, p.visibility, p.author_id, a.is_active, a.handle, a.display_name"
            f" FROM {post} p JOIN {user} a ON a.id = p.author_id WHERE p.id {sql_in(count)}")


def _refs(ids: set[int], context: ViewerContext) -> dict[int, dict]:
    """Parents and roots as refs; one the viewer may not see (blocks, visibility, moderation,
    deleted) reads as removed, as in /lineage."""
    if not ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(_refs_sql(len(ids)), list(ids))
        rows = cursor.fetchall()
    refs = {i: {"id": i, "author": None, "removed": True} for i in ids}
    for post_id, status, visibility, author_id, author_active, handle, name in rows:
        if context.sees(status=status, visibility=visibility, author_id=author_id, author_active=bool(author_active)):
            refs[post_id] = {"id": post_id, "author": {"handle": handle, "display_name": name}, "removed": False}
    return refs


def _uuid(value) -> uuid.UUID | None:
    # SQLite hands a UUID column back as its 32 hex digits.
    return value if value is None or isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def cards(*, viewer: User, ids: list[int], context: ViewerContext) -> list[Card]:
    """Cards of the posts in `ids` that the viewer may see, in the order of `ids`, in one query,
    one more when some are remixes and one for their videos' renditions, whatever their number.
    The visibility rule is checked on the rows in Python (`ViewerContext.sees`), so a ranked page
    read from its snapshot skips posts hidden since (and a taken-down post shows no renditions)."""
    if not ids:
        return []
    with connection.cursor() as cursor:
        cursor.execute(_cards_sql(len(ids)), [viewer.pk, *ids])
        rows = [row for row in cursor.fetchall()
                if context.sees(status=row[6], visibility=row[4], author_id=row[13], author_active=bool(row[17]))]
    refs = _refs({i for row in rows for i in row[-2:] if i is not None}, context)
    renditions = card_renditions({row[-3] for row in rows})
    found = {}
    for (post_id, caption, hashtags, language, visibility, remix_policy, __, likes, comments, remixes, views,
         shares, created_at, author_id, handle, display_name, avatar, ___, video, poster, duration,
         liked, generation_id, parent_id, root_id) in rows:
        if timezone.is_naive(created_at):  # SQLite hands back UTC without its zone
            created_at = created_at.replace(tzinfo=dt_timezone.utc)
        found[post_id] = Card(
            id=post_id, author=CardAuthor(id=author_id, handle=handle, display_name=display_name, avatar=avatar or ""),
            caption=caption, hashtags=json.loads(hashtags) if isinstance(hashtags, str) else hashtags,
            language=language, visibility=visibility, remix_policy=remix_policy, video=video or "",
            poster=poster or "", duration_seconds=duration,
            counts={"likes": likes, "comments": comments, "remixes": remixes, "views": views, "shares": shares},
            liked=bool(liked), parent=refs.get(parent_id), root=refs.get(root_id), created_at=created_at,
            renditions=renditions.get(_uuid(generation_id), []),
        )
    return [found[i] for i in ids if i in found]


def post_visible(*, viewer: User, post_id: int, context: ViewerContext | None = None) -> Post:
    """The post, if the viewer may see it (404 otherwise); `post_card` for showing it."""
    post = visible_posts(viewer, context).select_related("author").filter(pk=post_id).first()
    if post is None:
        raise NotFound(_("No such post."), code="post_not_found")
    return post


def post_card(*, viewer: User, post_id: int) -> Card:
    found = cards(viewer=viewer, ids=[post_id], context=viewer_context(viewer=viewer))
    if not found:
        raise NotFound(_("No such post."), code="post_not_found")
    return found[0]


def user_posts(*, viewer: User, author: User, context: ViewerContext) -> QuerySet[Post]:
    return visible_posts(viewer, context).filter(author=author)


def following_feed(*, viewer: User, context: ViewerContext) -> QuerySet[Post]:
    # _visible_q narrowed to followed authors, where followers-only posts are visible too: the
    # same rule with the follow list in the query once instead of twice (it is most of the
    # query's compile time).
    posts = Post.objects.filter(author__in=list(context.following), status=PostStatus.ACTIVE,
                                visibility__in=[Visibility.PUBLIC, Visibility.FOLLOWERS], author__is_active=True)
    if context.blocked:
        posts = posts.exclude(author__in=list(context.blocked))
    return posts


def hashtag_posts(*, viewer: User, tag: str, context: ViewerContext) -> QuerySet[Post]:
    hashtag = Hashtag.objects.filter(tag=tag.lower().lstrip("#")).first()
    if hashtag is None:
        raise NotFound(_("No posts with this hashtag yet."), code="hashtag_not_found")
    return visible_posts(viewer, context).filter(tag_links__hashtag=hashtag)


def post_remixes(*, viewer: User, post: Post, context: ViewerContext) -> QuerySet[Post]:
    return visible_posts(viewer, context).filter(parent=post)


def post_lineage(*, viewer: User, post: Post) -> list[Card | int]:
    """The chain from the root down to `post`. An ancestor the viewer cannot see (deleted,
    removed, private, blocked) stays in the chain as its bare id: the client shows 'removed'."""
    ids = [*post.lineage, post.pk]
    visible = {card.id: card for card in cards(viewer=viewer, ids=ids, context=viewer_context(viewer=viewer))}
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
        raise Forbidden(_("The author does not allow remixes of this post."), code="remix_not_allowed")
    return post


def _comments_for(viewer: User) -> QuerySet[Comment]:
    """Comments the viewer may read: none by someone they blocked or who blocked them."""
    return (Comment.objects.filter(not_blocked_with(user=viewer, field="author"), author__is_active=True)
            .select_related("author"))


def post_comments(*, viewer: User, post: Post) -> QuerySet[Comment]:
    return _comments_for(viewer).filter(post=post, parent__isnull=True)


def comment_replies(*, viewer: User, comment: Comment) -> QuerySet[Comment]:
    return _comments_for(viewer).filter(parent=comment)


def comment_visible(*, viewer: User, comment_id: int) -> Comment:
    comment = _comments_for(viewer).filter(pk=comment_id, post__in=visible_posts(viewer)).first()
    if comment is None:
        raise NotFound(_("No such comment."), code="comment_not_found")
    return comment


def personalized(*, user: User) -> bool:
    prefs = FeedPreferences.objects.filter(user=user).first()
    return prefs.personalized if prefs is not None else True


def job_remix_source_fields(job: GenerationJob) -> dict[str, int | None]:
    """`source_post_id` in a generation's public state (registered in FeedConfig.ready)."""
    post_id = None
    if job.kind == JobKind.REMIX:
        post_id = RemixSource.objects.filter(job_id=job.pk).values_list("post_id", flat=True).first()
    return {"source_post_id": post_id}


# --- moderation -----------------------------------------------------------------------------


def review_queue() -> QuerySet[Post]:
    """Posts waiting for a staff decision: hidden ones, and live ones that at least
    FEED_REPORT_REVIEW_THRESHOLD people reported since the last review, however little their
    reports weigh. Annotated with the pending reports' count and summed trust."""
    pending = Q(reports__resolved=False)
    return (Post.objects.annotate(pending_reports=Count("reports", filter=pending),
                                  pending_trust=Coalesce(Sum("reports__weight", filter=pending), 0.0))
            .filter(Q(status=PostStatus.HIDDEN)
                    | Q(status=PostStatus.ACTIVE, pending_reports__gte=settings.FEED_REPORT_REVIEW_THRESHOLD)))


def post_hidden_by_reports_only(*, post: Post) -> bool:
    """Hidden by the report threshold, with no staff decision since: reports alone must not
    knock a creator's campaign submission out, only a staff decision may."""
    if post.status != PostStatus.HIDDEN:
        return False
    last = (ModerationAction.objects.filter(post=post).order_by("-created_at", "-pk")
            .values_list("action", flat=True).first())
    return last == ModerationAction.Action.AUTO_HIDE
