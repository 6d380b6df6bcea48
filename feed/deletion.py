"""Feed's step of an account purge (accounts.deletion.registry), registered in FeedConfig.ready.

The person's likes, comments, shares and reports go with the counters they moved; their posts
go as post_delete removes them (posts_remove), which keeps a tombstone where remixes (or a moderation trail) point at
a post: the tombstone keeps the lineage and nothing of the person (author: the placeholder,
no caption, tags, language, region or video)."""

from __future__ import annotations

from collections import defaultdict

from django.db.models import Count, F, Q
from django.db.models.functions import Greatest

from accounts.deletion.registry import PurgeContext

from . import notifications
from .models import (
    Comment,
    FeedPreferences,
    Like,
    MutedAuthor,
    MutedHashtag,
    NotInterested,
    Post,
    PostStatus,
    PostTranslation,
    Report,
    Share,
)
from .services import posts_remove

HANDLES = ("feed.Like.user", "feed.Comment.author", "feed.Share.user", "feed.NotInterested.user",
           "feed.MutedAuthor.user", "feed.MutedAuthor.author", "feed.MutedHashtag.user", "feed.FeedPreferences.user",
           "feed.Report.reporter", "feed.ModerationAction.staff")
ANONYMISES = ("feed.Post.author",)


def _decrement(model, counter: str, counts) -> None:
    """counts: (pk, n) pairs; one UPDATE per distinct n (most are 1: one like per post). Never
    below zero: a row fixed by hand must not fail the purge."""
    by_n: dict[int, list[int]] = defaultdict(list)
    for pk, n in counts:
        by_n[n].append(pk)
    for n, pks in sorted(by_n.items()):
        model.objects.filter(pk__in=pks).update(**{counter: Greatest(F(counter) - n, 0)})


def _per(queryset, field: str):
    return queryset.order_by().values(field).annotate(n=Count("pk")).values_list(field, "n")


def account_feed_purge(ctx: PurgeContext) -> None:
    uid = ctx.user_id
    likes = Like.objects.filter(user_id=uid)
    _decrement(Post, "likes_count", _per(likes, "post_id"))
    likes.delete()

    # The person's comments, and the replies under them (they go with their parent).
    comments = Comment.objects.filter(Q(author_id=uid) | Q(parent__author_id=uid))
    ids = list(comments.values_list("pk", flat=True))
    notifications.comment_notifications_delete(ids)
    _decrement(Post, "comments_count", _per(Comment.objects.filter(pk__in=ids), "post_id"))
    _decrement(Comment, "replies_count", _per(
        Comment.objects.filter(author_id=uid, parent__isnull=False).exclude(parent__author_id=uid), "parent_id"))
    Comment.objects.filter(pk__in=ids).delete()

    shares = Share.objects.filter(user_id=uid)
    _decrement(Post, "shares_count", _per(shares, "post_id"))
    shares.delete()
    reports = Report.objects.filter(reporter_id=uid)
    _decrement(Post, "reports_count", _per(reports, "post_id"))
    reports.delete()
    NotInterested.objects.filter(user_id=uid).delete()
    MutedAuthor.objects.filter(Q(user_id=uid) | Q(author_id=uid)).delete()
    MutedHashtag.objects.filter(user_id=uid).delete()
    FeedPreferences.objects.filter(user_id=uid).delete()

    # A tombstone the person made already had its counters moved.
    posts_remove(list(Post.objects.select_for_update().filter(author_id=uid).exclude(status=PostStatus.DELETED)
                      .order_by("pk")))
    PostTranslation.objects.filter(post__author_id=uid).delete()
    Post.objects.filter(author_id=uid).update(author_id=ctx.placeholder_id, caption="", hashtags=[], language="",
                                              region="", generation=None, takedown_reason="")
