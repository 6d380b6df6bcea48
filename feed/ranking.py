"""Ranked feeds (for-you, trending) over snapshots.

Ranking in two stages:
1. `Post.score` — engagement velocity with time decay — is refreshed for recent
   posts by a periodic task (`scores_refresh`). Creation weighs more than
   passive watching: remixes > comments > shares > likes > views.
2. On the first page a viewer asks for, the candidates (best-scored recent public
   posts, plus recent posts of people they follow) are re-scored for them —
   follows, their language and region — filtered (blocks, mutes, "not
   interested", seen recently), cut into pages with at most FEED_MAX_PER_AUTHOR
   posts by one author on a page, and the pages are frozen as a snapshot in
   Redis (one list element a page). The cursor names the snapshot and the page,
   so new posts arriving while the viewer scrolls never repeat or skip an item,
   and a later page reads only itself. Each page is checked against the
   visibility rule again when it is read (selectors.cards).

A viewer who turns personalisation off gets the same candidates ranked by the
global score only (their explicit blocks, mutes and "not interested" still apply).
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from operator import itemgetter

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import BooleanField, ExpressionWrapper
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Follow, Market, User
from accounts.selectors import DEFAULT_TEEN_AGE, teens_q
from config.errors import ApplicationError
from config.pagination import cursor_invalid, page_size_from
from config.redis import get_redis

from .models import Post, PostStatus, Visibility
from .selectors import ViewerContext, sql_in, viewer_context

# Weights of the engagement score. Making something (a remix, a comment) counts more than
# liking it, and liking more than watching it.
W_REMIX, W_COMMENT, W_SHARE, W_LIKE, W_VIEW = 3.0, 2.0, 1.5, 1.0, 0.05
GRAVITY = 1.5  # how fast age pulls a post down (Hacker-News-style decay)
FOLLOW_BOOST, LANGUAGE_BOOST, REGION_BOOST = 1.0, 0.5, 0.25

SNAPSHOT_TTL = 3600
MAX_PAGE_SIZE = 50
DEFAULT_PAGE_SIZE = 20
MAX_PAGES = 100_000  # far more than a snapshot holds (FEED_CANDIDATES + FEED_FOLLOWING_CANDIDATES posts)


@dataclass(frozen=True)
class RankedPage:
    ids: list[int]
    next_cursor: str | None


def engagement_score(*, remixes: int, comments: int, shares: int, likes: int, views: int, age_hours: float) -> float:
    raw = W_REMIX * remixes + W_COMMENT * comments + W_SHARE * shares + W_LIKE * likes + W_VIEW * views + 1.0
    return raw / (max(age_hours, 0.0) + 2.0) ** GRAVITY


def seen_key(user_id: int) -> str:
    return f"seen:{user_id}"


def _moved(old: float, new: float, tolerance: float) -> bool:
    return abs(new - old) > tolerance * max(new, old)


def scores_refresh(*, now=None) -> int:
    """Recompute `score` of the posts inside the ranking window, writing only the rows whose
    score moved by more than FEED_SCORE_REFRESH_TOLERANCE of itself. Decay moves every score a
    little each minute, and rewriting every row of the window each minute kept PostgreSQL busy
    for most of that minute at 1M posts (bench/RESULTS.md), where a young or newly engaged post
    moves past the tolerance at once and a quiet week-old one every few hours. Returns the rows
    written."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.FEED_RANKING_WINDOW_DAYS)
    tolerance = settings.FEED_SCORE_REFRESH_TOLERANCE
    if connection.vendor == "postgresql":
        # One statement: at a million posts a Python loop would take minutes.
        # In double precision throughout: extract() and decimal literals are numeric, and numeric
        # power() is many times slower (bench/RESULTS.md).
        fresh = ("(%s::float8 * remixes_count + %s::float8 * comments_count + %s::float8 * shares_count"
                 " + %s::float8 * likes_count + %s::float8 * views_count + 1.0::float8)"
                 " / power(greatest(extract(epoch from (%s - created_at))::float8 / 3600.0::float8, 0.0::float8)"
                 " + 2.0::float8, %s::float8)")
        fresh_params = [W_REMIX, W_COMMENT, W_SHARE, W_LIKE, W_VIEW, now, GRAVITY]
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE feed_post SET score = {fresh} WHERE created_at >= %s AND status = 'active'"
                f" AND abs({fresh} - score) > %s::float8 * greatest({fresh}, score)",
                [*fresh_params, cutoff, *fresh_params, tolerance, *fresh_params],
            )
            return cursor.rowcount
    posts = list(Post.objects.filter(created_at__gte=cutoff, status=PostStatus.ACTIVE))
    changed = []
    for post in posts:
        score = engagement_score(
            remixes=post.remixes_count, comments=post.comments_count, shares=post.shares_count,
            likes=post.likes_count, views=post.views_count,
            age_hours=(now - post.created_at).total_seconds() / 3600,
        )
        if _moved(post.score, score, tolerance):
            post.score = score
            changed.append(post)
    Post.objects.bulk_update(changed, ["score"], batch_size=1000)
    return len(changed)


def _recently_seen(user_id: int) -> set[int]:
    client = get_redis()
    if client is None:
        return set()
    horizon = timezone.now().timestamp() - settings.FEED_SEEN_HOURS * 3600
    return {int(member) for member in client.zrangebyscore(seen_key(user_id), horizon, "+inf")}


# kind -> (monotonic time read, rows): the best-scored posts are the same for every viewer.
_best_scored_cache: dict[str, tuple[float, list]] = {}


def _best_scored(kind: str, read) -> list:
    ttl = settings.FEED_CANDIDATES_CACHE_SECONDS
    now = time.monotonic()
    hit = _best_scored_cache.get(kind)
    if ttl > 0 and hit is not None and now - hit[0] < ttl:
        return list(hit[1])
    rows = read()
    if ttl > 0:
        _best_scored_cache[kind] = (now, rows)
    return list(rows)


_FOLLOWED_COLUMNS = "p.id, p.author_id, p.score, p.language, p.region, p.hashtags"


def _shielded_sql(user: str) -> str:
    """Whether the user (table aliased `user`, joined to its market as `m`) is a teen
    (accounts.selectors.teens_q) who does not follow the viewer. Parameters: this year, the viewer."""
    follow = Follow._meta.db_table
    return (f"(({user}.birth_year IS NULL OR {user}.birth_year > %s - COALESCE(m.teen_age, {DEFAULT_TEEN_AGE}))"
            f" AND NOT EXISTS (SELECT 1 FROM {follow} f WHERE f.follower_id = {user}.id AND f.followee_id = %s))")


@lru_cache(maxsize=256)
def _followed_sql(vendor: str, authors: int) -> str:
    """The newest posts of followed authors inside the window, at most FEED_FOLLOWING_PER_AUTHOR
    of each (one prolific account cannot fill every slot; a page shows at most
    FEED_MAX_PER_AUTHOR of them anyway), newest first, with whether the author is a teen who
    does not follow the viewer (`_shielded_sql`). Parameters: this year, the viewer, the
    authors, visibilities (2), status, since, per author, limit.
    PostgreSQL walks each author's newest posts in
    feed_post_author_recent (LATERAL), where scanning everyone's newest posts for theirs read
    dozens of rows for each one kept, and the ORM's compile cost more than the query (figures in
    bench/RESULTS.md). Other databases (SQLite, for development) get the same rows from a window
    function, which PostgreSQL runs an order of magnitude slower."""
    post, user, market = Post._meta.db_table, User._meta.db_table, Market._meta.db_table
    authors_in = sql_in(authors)
    where = "p.visibility IN (%s, %s) AND p.status = %s AND p.created_at >= %s"
    if vendor == "postgresql":
        return (f"SELECT {_FOLLOWED_COLUMNS}, a.shielded FROM (SELECT u.id, {_shielded_sql('u')} AS shielded FROM {user} u"
                f" LEFT JOIN {market} m ON m.id = u.market_id WHERE u.id {authors_in} AND u.is_active) a"
                f" CROSS JOIN LATERAL (SELECT * FROM {post} p WHERE p.author_id = a.id AND {where}"
                f" ORDER BY p.created_at DESC, p.id DESC LIMIT %s) p ORDER BY p.created_at DESC, p.id DESC LIMIT %s")
    return (f"SELECT {_FOLLOWED_COLUMNS.replace('p.', '')}, shielded FROM (SELECT {_FOLLOWED_COLUMNS},"
            f" p.created_at, {_shielded_sql('a')} AS shielded,"
            f" ROW_NUMBER() OVER (PARTITION BY p.author_id ORDER BY p.created_at DESC, p.id DESC) AS n"
            f" FROM {post} p JOIN {user} a ON a.id = p.author_id LEFT JOIN {market} m ON m.id = a.market_id"
            f" WHERE p.author_id {authors_in} AND {where}"
            f" AND a.is_active) p WHERE n <= %s ORDER BY created_at DESC, id DESC LIMIT %s")


def followed_recent(*, authors, since, viewer_id: int = 0, vendor: str | None = None) -> list[tuple]:
    """(id, author id, score, language, region, hashtags as stored, author is a teen who does not
    follow the viewer) of `_followed_sql`; `vendor` picks its form (the connection's by default)."""
    if not authors:
        return []
    params = [timezone.now().year, viewer_id, *authors, Visibility.PUBLIC, Visibility.FOLLOWERS, PostStatus.ACTIVE,
              connection.ops.adapt_datetimefield_value(since), settings.FEED_FOLLOWING_PER_AUTHOR,
              settings.FEED_FOLLOWING_CANDIDATES]
    with connection.cursor() as cursor:
        cursor.execute(_followed_sql(vendor or connection.vendor, len(authors)), params)
        return cursor.fetchall()


def _shielded_teens(viewer: User, best: list, followed: list) -> set[int]:
    """The teen authors among the candidates who do not follow the viewer: a teen's posts reach
    the ranked feeds of the people they follow only. The followed authors' rows say so
    (`_shielded_sql`); the best-scored rows, shared by every viewer, only say who is a teen, so
    a public post of a teen among them costs one Follow query (new teen posts are followers-only
    unless TEEN_PUBLIC_POSTS_ALLOWED, so they come through the followed rows)."""
    shielded = {row[1] for row in followed if row[6]}
    unknown = {row[1] for row in best if row[6]} - {row[1] for row in followed} - {viewer.pk}
    if unknown:
        shielded |= unknown - set(Follow.objects.filter(follower_id__in=unknown, followee_id=viewer.pk)
                                  .values_list("follower_id", flat=True))
    return shielded


def _candidates(viewer: User, *, kind: str, taste: ViewerContext) -> list[tuple[int, int, float]]:
    """(post id, author id, rank score), best first."""
    now = timezone.now()
    window = timedelta(hours=settings.FEED_TRENDING_HOURS) if kind == "trending" \
        else timedelta(days=settings.FEED_RANKING_WINDOW_DAYS)
    columns = ("id", "author_id", "score", "language", "region", "hashtags")
    # Blocked and muted authors, "not interested" and the viewer's own posts are dropped below,
    # in Python: a few more rows read beats a plan with a subquery per list.
    rows = _best_scored(kind, lambda: list(
        Post.objects.filter(status=PostStatus.ACTIVE, created_at__gte=now - window, author__is_active=True,
                            visibility=Visibility.PUBLIC)
        .annotate(teen=ExpressionWrapper(teens_q(field="author"), output_field=BooleanField()))
        .order_by("-score", "-id").values_list(*columns, "teen")[: settings.FEED_CANDIDATES]))
    personal = kind == "for_you" and taste.personalized
    following = taste.following if personal else frozenset()
    followed = []
    if following:
        known = {r[0] for r in rows}
        # Hashtags matter only to a viewer who muted some: otherwise they are not decoded.
        followed = [(*r[:5], json.loads(r[5]) if taste.muted_tags and isinstance(r[5], str) else r[5], r[6])
                    for r in followed_recent(authors=sorted(following), since=now - window, viewer_id=viewer.pk)]
        best, rows = rows, rows + [r for r in followed if r[0] not in known]
    else:
        best = rows
    seen = _recently_seen(viewer.pk) if personal else set()
    hidden_authors = taste.blocked | taste.muted_authors | {viewer.pk} | _shielded_teens(viewer, best, followed)
    language = (viewer.locale or "").split("-")[0].lower()
    region_boost = viewer.market.region_boost if viewer.market_id is not None else REGION_BOOST  # per market
    ranked = []
    for post_id, author_id, score, post_language, region, tags, __ in rows:
        if (author_id in hidden_authors or post_id in taste.not_interested or post_id in seen
                or (taste.muted_tags and taste.muted_tags.intersection(tags or ()))):
            continue
        if personal:
            boost = 1.0
            if author_id in following:
                boost += FOLLOW_BOOST
            if language and post_language == language:
                boost += LANGUAGE_BOOST
            if viewer.country and region == viewer.country:
                boost += region_boost
            score *= boost
        ranked.append((post_id, author_id, score))
    ranked.sort(key=itemgetter(2, 0), reverse=True)  # best score first, then newest (ids are unique)
    return ranked


def layout(items: list[tuple[int, int]], page_size: int, cap: int) -> list[list[int]]:
    """Cut ranked (post, author) items into pages with at most `cap` posts per author per page.
    An item over the cap moves to the next page that has room, keeping its rank order."""
    pages: list[list[int]] = []
    remaining = items
    while remaining:
        page: list[int] = []
        per_author: dict[int, int] = {}
        deferred = []
        for index, (post_id, author_id) in enumerate(remaining):
            if len(page) == page_size:
                deferred += remaining[index:]  # the page is full: the rest waits, in order
                break
            if per_author.get(author_id, 0) < cap:
                page.append(post_id)
                per_author[author_id] = per_author.get(author_id, 0) + 1
            else:
                deferred.append((post_id, author_id))
        pages.append(page)
        remaining = deferred
    return pages


# One encoder for every call: json.dumps with separators builds a new JSONEncoder each time,
# which cost more than encoding the page (a snapshot stores some thirty).
_compact_json = json.JSONEncoder(separators=(",", ":")).encode


def _encode(snapshot: str, page_size: int, page: int) -> str:
    raw = _compact_json([snapshot, page_size, page]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> tuple[str, int, int]:
    try:
        snapshot, page_size, page = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not (isinstance(snapshot, str) and isinstance(page_size, int) and isinstance(page, int)):
            raise ValueError("cursor fields have the wrong types")
        # A page past MAX_PAGES or a snapshot name secrets.token_urlsafe(8) did not make was
        # never handed out (and a page index past Redis' 64-bit range was a Redis error, a 500).
        if not (1 <= page_size <= MAX_PAGE_SIZE and 0 <= page <= MAX_PAGES and len(snapshot) <= 16):
            raise ValueError("cursor fields out of range")
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        raise cursor_invalid() from exc
    return snapshot, page_size, page


def _page_size(raw: str | None) -> int:
    return page_size_from(raw, default=DEFAULT_PAGE_SIZE, maximum=MAX_PAGE_SIZE)


def _snapshot_key(viewer_id: int, snapshot: str) -> str:
    # "pages": snapshots made before they were kept as a list of pages (a plain string under
    # "rank:") read as expired after a deploy, instead of a Redis WRONGTYPE error.
    return f"rank-pages:{viewer_id}:{snapshot}"


def _snapshot_store(key: str, pages: list[list[int]]) -> None:
    """Keep the laid-out pages (one Redis list element a page), so a later page reads only
    itself. The process-wide Redis client: Django's cache client is built per request context
    under ASGI, which costs a new TCP connection on every feed request."""
    client = get_redis()
    if client is None:
        cache.set(key, pages, timeout=SNAPSHOT_TTL)
        return
    pipe = client.pipeline(transaction=False)
    pipe.rpush(key, *map(_compact_json, pages))
    pipe.expire(key, SNAPSHOT_TTL)
    pipe.execute()


def _snapshot_page(key: str, index: int) -> tuple[list[int], int] | None:
    """(the page's post ids, how many pages the snapshot has), or None once it expired."""
    client = get_redis()
    if client is None:
        pages = cache.get(key)
        if pages is None:
            return None
        return (pages[index] if index < len(pages) else []), len(pages)
    pipe = client.pipeline(transaction=False)
    pipe.lindex(key, index)
    pipe.llen(key)
    raw, count = pipe.execute()
    if not count:
        return None
    return (json.loads(raw) if raw is not None else []), count


def ranked_page(*, viewer: User, kind: str, cursor: str | None, page_size: str | None,
                context: ViewerContext | None = None) -> RankedPage:
    """A page of a ranked feed. The first page ranks and stores a snapshot, and needs the viewer's
    context with tastes (`selectors.viewer_context(tastes=True)`); later pages only read it."""
    requested = _page_size(page_size)  # checked on every page; a later page keeps the first one's size
    if cursor:
        snapshot, size, page_index = _decode(cursor)
        found = _snapshot_page(_snapshot_key(viewer.pk, snapshot), page_index)
        if found is None:
            raise ApplicationError(_("This feed page expired; start again from the top."), code="cursor_expired",
                                   status_code=410)
        ids, count = found
    else:
        size, page_index = requested, 0
        if context is None or not context.has_tastes:
            context = viewer_context(viewer=viewer, tastes=True)
        ranked = _candidates(viewer, kind=kind, taste=context)
        pages = layout([(post_id, author_id) for post_id, author_id, _ in ranked], size, settings.FEED_MAX_PER_AUTHOR)
        snapshot = secrets.token_urlsafe(8)
        if len(pages) > 1:  # a feed of one page has no next cursor: nothing to keep
            _snapshot_store(_snapshot_key(viewer.pk, snapshot), pages)
        ids, count = (pages[0] if pages else []), len(pages)
    has_next = page_index + 1 < count
    return RankedPage(ids=ids, next_cursor=_encode(snapshot, size, page_index + 1) if has_next else None)
