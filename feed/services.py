"""Functions that change feed state. Each owns its transaction; counters move with F()
in the same transaction as the row they count, so concurrent requests never lose one."""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Sum
from django.db.models.functions import Greatest
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.cameos.consent import cameos_check
from accounts.models import User
from accounts.notifications import notifications_from_actor_delete
from accounts.selectors import teen_shielded_from, user_is_teen, user_teen_age
from accounts.services import user_suspend
from config.errors import ApplicationError, Conflict, NotFound
from generation import services as generation_services
from generation.models import GenerationJob, JobKind, JobStatus

from . import notifications, ranking, selectors, trust
from .autolocalize import localize_markets_check, post_autolocalize_on_commit
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
    PostHashtag,
    PostStatus,
    RemixPolicy,
    RemixSource,
    Report,
    Share,
    ShareClick,
    Visibility,
)
from .captions import detect_language, parse_hashtags
from .realtime import engagement_on_commit
from .translations import translations_forget

logger = logging.getLogger(__name__)

def _set_hashtags(post: Post, tags: list[str]) -> None:
    old = set(post.tag_links.values_list("hashtag__tag", flat=True))
    new = set(tags)
    removed, added = old - new, new - old
    if removed:
        gone = Hashtag.objects.filter(tag__in=removed)
        PostHashtag.objects.filter(post=post, hashtag__in=gone).delete()
        gone.update(posts_count=F("posts_count") - 1)
    for tag in sorted(added):
        hashtag, __ = Hashtag.objects.get_or_create(tag=tag)
        PostHashtag.objects.create(post=post, hashtag=hashtag, created_at=post.created_at)
        Hashtag.objects.filter(pk=hashtag.pk).update(posts_count=F("posts_count") + 1)
    post.hashtags = tags


def _own_post(user: User, post_id: int, *, for_update: bool = True) -> Post:
    qs = Post.objects.select_for_update() if for_update else Post.objects
    post = qs.filter(pk=post_id, author=user).exclude(status=PostStatus.DELETED).first()
    if post is None:
        raise NotFound(_("No such post."), code="post_not_found")
    return post


def _audience_defaults(user: User, visibility: str | None, remix_policy: str | None) -> tuple[str, str]:
    """A post's audience when the author named none: followers only for a teen, public otherwise."""
    if user_is_teen(user):
        return visibility or Visibility.FOLLOWERS, remix_policy or RemixPolicy.FOLLOWERS
    return visibility or Visibility.PUBLIC, remix_policy or RemixPolicy.EVERYONE


def _check_teen_audience(user: User, *, visibility: str | None, remix_policy: str | None) -> None:
    """A teen's post reaches strangers (public, remixable by everyone) only where policy allows."""
    if settings.TEEN_PUBLIC_POSTS_ALLOWED or not user_is_teen(user):
        return
    if visibility == Visibility.PUBLIC or remix_policy == RemixPolicy.EVERYONE:
        raise ApplicationError(_("Accounts under %(age)d can share posts with their followers only.")
                               % {"age": user_teen_age(user)}, code="teen_restricted", status_code=403)


@transaction.atomic
def post_create(*, user: User, generation_id: Any, caption: str = "", visibility: str | None = None,
                remix_policy: str | None = None, language: str = "", localize_markets: list[str] | None = None) -> Post:
    """Post a succeeded generation of your own. A remix generation records its parent and root.
    Without a visibility or remix policy, the author's defaults apply (`_audience_defaults`)."""
    visibility, remix_policy = _audience_defaults(user, visibility, remix_policy)
    _check_teen_audience(user, visibility=visibility, remix_policy=remix_policy)
    markets = localize_markets_check(localize_markets or [])
    job = GenerationJob.objects.select_for_update().filter(pk=generation_id, user=user).first()
    if job is None:
        raise NotFound(_("No such generation."), code="generation_not_found")
    if job.status != JobStatus.SUCCEEDED or not job.video:
        raise Conflict(_("Only a finished generation can be posted."), code="generation_not_ready")
    if Post.objects.filter(generation=job).exists():
        raise Conflict(_("This generation is already posted."), code="already_posted")
    # Consent checked a third time, locked: a revocation racing this post waits and takes it down.
    cameos_check(user_id=user.pk, cameo_ids=[str(pk) for pk in job.cameos.values_list("pk", flat=True)], lock=True)
    parent = Post.objects.select_for_update().filter(remix_jobs__job=job).first()
    post = Post(
        author=user, generation=job, caption=caption, visibility=visibility, remix_policy=remix_policy,
        language=language or detect_language(caption, (user.locale or "en").split("-")[0].lower()),
        region=user.country, localize_markets=markets,
        # The score of a post with no engagement yet, so it can be a for-you candidate now
        # rather than after the next periodic refresh.
        score=ranking.engagement_score(remixes=0, comments=0, shares=0, likes=0, views=0, age_hours=0),
    )
    if parent is not None:
        post.parent = parent
        post.root_id = parent.root_id or parent.pk
        post.lineage = [*parent.lineage, parent.pk]
    try:
        with transaction.atomic():
            post.save()
    except IntegrityError as exc:  # the same generation posted twice at once
        raise Conflict(_("This generation is already posted."), code="already_posted") from exc
    _set_hashtags(post, parse_hashtags(caption))
    post.save(update_fields=["hashtags"])
    if parent is not None:
        Post.objects.filter(pk=parent.pk).update(remixes_count=F("remixes_count") + 1)
        if parent.author_id != user.pk:
            engagement_on_commit(author_id=parent.author_id, post_id=parent.pk, kind="remixes")
            notifications.remix_notify(post=post, parent=parent)
    notifications.caption_mentions_notify(post=post)
    post_autolocalize_on_commit(post)
    logger.info("feed.post_created", extra={"post_id": post.pk, "user_id": user.pk, "parent_id": post.parent_id})
    return post


@transaction.atomic
def post_update(*, user: User, post_id: int, data: dict[str, Any]) -> Post:
    post = _own_post(user, post_id)
    _check_teen_audience(user, visibility=data.get("visibility"), remix_policy=data.get("remix_policy"))
    markets = localize_markets_check(data["localize_markets"]) if "localize_markets" in data else None
    previous_caption = post.caption
    if data.get("caption", post.caption) != post.caption or data.get("language", post.language) != post.language:
        translations_forget(post_id=post.pk)  # cached translations of the old caption
    if "caption" in data:
        post.caption = data["caption"]
        _set_hashtags(post, parse_hashtags(post.caption))
    for field in ("visibility", "remix_policy", "language"):
        if field in data:
            setattr(post, field, data[field])
    markets_changed = markets is not None and markets != post.localize_markets
    if markets is not None:
        post.localize_markets = markets
    post.save()
    if markets_changed:
        post_autolocalize_on_commit(post)  # only the languages not rendered yet
    if "caption" in data:
        notifications.caption_mentions_notify(post=post, previous_caption=previous_caption)
    return post


@transaction.atomic
def post_delete(*, user: User, post_id: int) -> None:
    posts_remove([_own_post(user, post_id)])


def posts_remove(posts: list[Post]) -> list[int]:
    """Delete posts the caller locked (none a tombstone yet), in its transaction; returns the
    tombstones' ids. A post with remixes becomes a tombstone (its remixes keep pointing at it);
    so does one with reports or staff decisions, whose audit trail would go with the row.
    Others go. A set at once (an account's purge) costs a few queries, not a few per post."""
    ids = [post.pk for post in posts]
    if not ids:
        return []
    parents = Counter(post.parent_id for post in posts if post.parent_id)
    for parent_id, n in sorted(parents.items()):
        Post.objects.filter(pk=parent_id).update(remixes_count=Greatest(F("remixes_count") - n, 0))
    links = PostHashtag.objects.filter(post_id__in=ids)
    for hashtag_id, n in links.order_by().values("hashtag_id").annotate(n=Count("pk")).values_list("hashtag_id", "n"):
        Hashtag.objects.filter(pk=hashtag_id).update(posts_count=Greatest(F("posts_count") - n, 0))
    links.delete()
    notifications.post_notifications_delete(*ids)
    kept = (set(Post.objects.filter(parent_id__in=ids).values_list("parent_id", flat=True))
            | set(Report.objects.filter(post_id__in=ids).values_list("post_id", flat=True))
            | set(ModerationAction.objects.filter(post_id__in=ids).values_list("post_id", flat=True)))
    tombstones = sorted(kept)
    if tombstones:
        Post.objects.filter(pk__in=tombstones).update(status=PostStatus.DELETED, caption="", hashtags=[],
                                                      updated_at=timezone.now())
        for post_id in tombstones:
            logger.info("feed.post_tombstoned", extra={"post_id": post_id})
    Post.objects.filter(pk__in=[pk for pk in ids if pk not in kept]).delete()
    return tombstones


def _remix_source_job(post: Post) -> GenerationJob:
    source = post.generation
    if source is None or source.status != JobStatus.SUCCEEDED or not source.video:
        raise ApplicationError(_("This post's video is not available."), code="source_not_ready", status_code=409,
                               fields={"post": [{"code": "source_not_ready",
                                                 "message": _("This post's video is not available.")}]})
    return source


def post_remix(*, user: User, post_id: int, prompt: str, duration_seconds: int, size: str,
               seed: int | None = None, style: str = "", idempotency_key: str | None = None
               ) -> tuple[GenerationJob, bool]:
    """Start a remix generation of a post the user can see, if its author's remix policy allows.
    Feed checks the post; generation takes the post's job as an already-checked source."""
    post = selectors.remixable_post(viewer=user, post_id=post_id)
    source = _remix_source_job(post)
    with transaction.atomic():
        job, created = generation_services.generation_submit(
            user=user, kind=JobKind.REMIX, prompt=prompt, duration_seconds=duration_seconds, size=size, seed=seed,
            style=style, idempotency_key=idempotency_key, source_job=source)
        if created:
            RemixSource.objects.create(job=job, post=post)
    return job, created


def generation_retry(*, user: User, job_id: Any) -> GenerationJob:
    """Retry a failed or canceled generation. A remix of a post is checked against the post
    again (its author may have changed the remix policy, or blocked the user, since)."""
    link = RemixSource.objects.filter(job_id=job_id, job__user=user).first()
    if link is None:
        return generation_services.generation_retry(user=user, job_id=job_id)

    def check_source(_old: GenerationJob) -> GenerationJob:
        return _remix_source_job(selectors.remixable_post(viewer=user, post_id=link.post_id))

    with transaction.atomic():
        job = generation_services.generation_retry(user=user, job_id=job_id, check_source=check_source)
        RemixSource.objects.create(job=job, post_id=link.post_id)
    return job


def _engagement_add(post: Post, user: User, kind: str) -> None:
    """One more of `kind` ("likes", "comments") on the post's counter; its author hears of it
    after commit, unless it is their own."""
    Post.objects.filter(pk=post.pk).update(**{f"{kind}_count": F(f"{kind}_count") + 1})
    if post.author_id != user.pk:
        engagement_on_commit(author_id=post.author_id, post_id=post.pk, kind=kind)


@transaction.atomic
def like_create(*, user: User, post_id: int) -> Post:
    post = selectors.post_visible(viewer=user, post_id=post_id)
    try:
        with transaction.atomic():
            Like.objects.create(user=user, post_id=post.pk)
    except IntegrityError:
        return post  # already liked: idempotent
    _engagement_add(post, user, "likes")
    notifications.like_notify(post=post, user=user)
    return post


@transaction.atomic
def like_delete(*, user: User, post_id: int) -> Post:
    post = selectors.post_visible(viewer=user, post_id=post_id)
    deleted, __ = Like.objects.filter(user=user, post_id=post.pk).delete()
    if deleted:
        Post.objects.filter(pk=post.pk).update(likes_count=F("likes_count") - 1)
        notifications.like_retract(post=post, user=user)
    return post


@transaction.atomic
def comment_create(*, user: User, post_id: int, body: str, parent_id: int | None = None) -> Comment:
    post = selectors.post_visible(viewer=user, post_id=post_id)
    parent = None
    if parent_id is not None:
        # Through the viewer's filter: no replying to someone who blocked you (or you blocked).
        parent = selectors.comment_visible(viewer=user, comment_id=parent_id)
        if parent.post_id != post.pk:
            raise NotFound(_("No such comment on this post."), code="comment_not_found")
        if parent.parent_id is not None:
            raise ApplicationError(_("Replies go one level deep: reply to the top comment."), code="reply_depth")
    if teen_shielded_from(user=post.author, actor=user):
        raise ApplicationError(_("Only people this account follows can comment on its posts."),
                               code="teen_comment_restricted", status_code=403)
    comment = Comment.objects.create(post=post, author=user, parent=parent, body=body)
    _engagement_add(post, user, "comments")
    if parent is not None:
        Comment.objects.filter(pk=parent.pk).update(replies_count=F("replies_count") + 1)
    notifications.comment_notify(comment=comment, post=post, parent=parent)
    return comment


@transaction.atomic
def comment_delete(*, user: User, comment_id: int) -> None:
    """The comment's author or the post's author may delete it (with its replies)."""
    comment = Comment.objects.select_related("post").filter(pk=comment_id).first()
    if comment is None or user.pk not in (comment.author_id, comment.post.author_id):
        raise NotFound(_("No such comment."), code="comment_not_found")
    # Count what this delete removed, not what was there when we looked: two deletes of one
    # comment at once (or of a reply and its parent) must not take the counters down twice.
    notifications.comment_notifications_delete([comment.pk, *comment.replies.values_list("pk", flat=True)])
    __, per_model = comment.delete()
    removed = per_model.get(Comment._meta.label, 0)
    if not removed:
        return
    if comment.parent_id:
        Comment.objects.filter(pk=comment.parent_id).update(replies_count=Greatest(F("replies_count") - 1, 0))
    # Never below zero: a comment made or removed outside this service (a data fix, the admin)
    # must not turn a user's delete into a failed CHECK constraint.
    Post.objects.filter(pk=comment.post_id).update(comments_count=Greatest(F("comments_count") - removed, 0))


@transaction.atomic
def share_create(*, user: User, post_id: int, channel: str) -> Share:
    post = selectors.post_visible(viewer=user, post_id=post_id)
    share = Share.objects.create(post=post, user=user, channel=channel)
    Post.objects.filter(pk=post.pk).update(shares_count=F("shares_count") + 1)
    return share


def share_visitor_key(*, ip: str, user_agent: str) -> str:
    salt = settings.SECRET_KEY.encode()
    return hashlib.sha256(salt + b"|" + ip.encode() + b"|" + user_agent.encode()[:300]).hexdigest()


@transaction.atomic
def share_click(*, token: str, visitor: str) -> Share | None:
    """Counts a click on a tracking link once per distinct visitor. None for an unknown token."""
    share = Share.objects.filter(token=token).select_related("post").first()
    if share is None:
        return None
    try:
        with transaction.atomic():
            ShareClick.objects.create(share=share, visitor=visitor)
    except IntegrityError:
        return share
    Share.objects.filter(pk=share.pk).update(clicks_count=F("clicks_count") + 1)
    return share


@transaction.atomic
def report_create(*, user: User, post_id: int, reason: str, note: str = "") -> Report:
    """Reports hide the post until staff review it once their reporters' trust (feed.trust)
    adds up to FEED_REPORT_HIDE_THRESHOLD. However many reports come from accounts too new to
    weigh anything, they only put the post in the review queue (selectors.review_queue)."""
    post = selectors.post_visible(viewer=user, post_id=post_id)
    if post.author_id == user.pk:
        raise ApplicationError(_("You cannot report your own post."), code="report_own_post")
    weight = trust.report_weight(reporter=user, now=timezone.now())
    try:
        with transaction.atomic():
            report = Report.objects.create(post=post, reporter=user, reason=reason, note=note, weight=weight)
    except IntegrityError as exc:
        raise Conflict(_("You already reported this post."), code="already_reported") from exc
    locked = Post.objects.select_for_update().get(pk=post.pk)
    locked.reports_count += 1
    fields = ["reports_count"]
    # Only reports staff have not reviewed count towards hiding: once a post is restored, the
    # reports that hid it are resolved, and a single new one must not hide it again.
    pending = Report.objects.filter(post=locked, resolved=False).aggregate(reporters=Count("pk"),
                                                                         trust=Sum("weight"))
    reporters, weight_sum = pending["reporters"], round(pending["trust"] or 0.0, 3)
    if locked.status == PostStatus.ACTIVE and weight_sum >= settings.FEED_REPORT_HIDE_THRESHOLD:
        locked.status = PostStatus.HIDDEN
        fields.append("status")
        ModerationAction.objects.create(post=locked, action=ModerationAction.Action.AUTO_HIDE,
                                        reason=f"{reporters} reports, trust {weight_sum:g}")
        logger.info("feed.post_auto_hidden", extra={"post_id": locked.pk, "reports": reporters,
                                                    "trust": weight_sum})
    elif locked.status == PostStatus.ACTIVE and reporters == settings.FEED_REPORT_REVIEW_THRESHOLD:
        logger.info("feed.post_queued_for_review", extra={"post_id": locked.pk, "reports": reporters,
                                                          "trust": weight_sum})
    locked.save(update_fields=[*fields, "updated_at"])
    return report


_MODERATION_STATUS = {
    ModerationAction.Action.HIDE: PostStatus.HIDDEN,
    ModerationAction.Action.RESTORE: PostStatus.ACTIVE,
    ModerationAction.Action.REMOVE: PostStatus.REMOVED,
}


@transaction.atomic
def post_moderate(*, staff: User, post_id: int, action: str, reason: str = "") -> Post:
    """Staff decisions from the review queue, each written to the audit trail."""
    post = Post.objects.select_for_update().get(pk=post_id)
    deleted = post.status == PostStatus.DELETED
    if deleted and action != ModerationAction.Action.SUSPEND_AUTHOR:
        # A tombstone its author deleted: hiding or restoring it would publish what they took down.
        raise Conflict(_("The author deleted this post."), code="post_deleted")
    if action == ModerationAction.Action.SUSPEND_AUTHOR:
        user_suspend(user_id=post.author_id)
        if not deleted:
            post.status = PostStatus.REMOVED
    else:
        post.status = _MODERATION_STATUS[action]
    post.save(update_fields=["status", "updated_at"])
    # The verdict on the reports weighs their reporters' next ones (feed.trust).
    Report.objects.filter(post=post, resolved=False).update(
        resolved=True, upheld=action != ModerationAction.Action.RESTORE)
    ModerationAction.objects.create(post=post, staff=staff, action=action, reason=reason)
    logger.info("feed.post_moderated", extra={"post_id": post.pk, "action": action, "staff_id": staff.pk})
    return post


@transaction.atomic
def not_interested_create(*, user: User, post_id: int) -> None:
    post = selectors.post_visible(viewer=user, post_id=post_id)
    NotInterested.objects.get_or_create(user=user, post=post)


@transaction.atomic
def author_mute(*, user: User, author: User, muted: bool) -> None:
    if author.pk == user.pk:
        raise ApplicationError(_("You cannot mute yourself."), code="mute_self")
    if muted:
        MutedAuthor.objects.get_or_create(user=user, author=author)
        notifications_from_actor_delete(user_id=user.pk, actor_id=author.pk)
    else:
        MutedAuthor.objects.filter(user=user, author=author).delete()


@transaction.atomic
def hashtag_mute(*, user: User, tag: str, muted: bool) -> None:
    tag = tag.lower().lstrip("#")
    if muted:
        MutedHashtag.objects.get_or_create(user=user, tag=tag)
    else:
        MutedHashtag.objects.filter(user=user, tag=tag).delete()


@transaction.atomic
def preferences_update(*, user: User, personalized: bool) -> FeedPreferences:
    prefs, __ = FeedPreferences.objects.update_or_create(user=user, defaults={"personalized": personalized})
    return prefs
