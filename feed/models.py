from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone


class Visibility(models.TextChoices):
    PUBLIC = "public", "Public"
    FOLLOWERS = "followers", "Followers"
    PRIVATE = "private", "Private"


class RemixPolicy(models.TextChoices):
    EVERYONE = "everyone", "Everyone"
    FOLLOWERS = "followers", "Followers"
    NOBODY = "nobody", "Nobody"


class PostStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    HIDDEN = "hidden", "Hidden pending review"  # reported by enough people
    REMOVED = "removed", "Removed by staff"
    DELETED = "deleted", "Deleted by author"  # a tombstone kept because remixes point at it
    # A cameo in it is no longer its author's to use; back to active when consent is restored.
    TAKEN_DOWN = "taken_down", "Taken down (cameo consent)"


class Post(models.Model):
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="posts")
    # SET_NULL: a tombstone outlives the files it showed.
    generation = models.OneToOneField("generation.GenerationJob", null=True, blank=True, on_delete=models.SET_NULL,
                                      related_name="post")
    caption = models.CharField(max_length=2200, blank=True)
    # Lower-case tags parsed from the caption, denormalised so ranking and mutes need no join.
    hashtags = models.JSONField(default=list, blank=True)
    language = models.CharField(max_length=8, blank=True)
    region = models.CharField(max_length=2, blank=True, help_text="The author's country when posting.")
    visibility = models.CharField(max_length=10, choices=Visibility.choices, default=Visibility.PUBLIC)
    remix_policy = models.CharField(max_length=10, choices=RemixPolicy.choices, default=RemixPolicy.EVERYONE)
    status = models.CharField(max_length=10, choices=PostStatus.choices, default=PostStatus.ACTIVE)
    # Why a post is taken down (e.g. "cameo_consent:<cameo id>"); empty otherwise.
    takedown_reason = models.CharField(max_length=80, blank=True)
    # Markets (accounts.Market codes) whose languages the author wants the video localised into:
    # feed.autolocalize submits the localize job (subtitles), charged to the author.
    localize_markets = models.JSONField(default=list, blank=True,
                                        db_default=models.Value([], output_field=models.JSONField()))

    # Remix lineage: the post this one remixes, the first post of the chain, and the chain itself
    # (ids from the root down to the parent) so /lineage is one query.
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="remixes")
    root = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="descendants")
    lineage = models.JSONField(default=list, blank=True)

    # Exact counters, kept by F() updates in the same transaction as the row they count.
    likes_count = models.PositiveIntegerField(default=0)
    comments_count = models.PositiveIntegerField(default=0)
    remixes_count = models.PositiveIntegerField(default=0)
    views_count = models.PositiveBigIntegerField(default=0)
    shares_count = models.PositiveIntegerField(default=0)
    reports_count = models.PositiveIntegerField(default=0)
    # Engagement velocity with time decay, refreshed by a periodic task (feed.ranking).
    score = models.FloatField(default=0.0)

    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["author", "-created_at", "-id"], name="feed_post_author_recent"),
            models.Index(fields=["-created_at", "-id"], name="feed_post_recent"),
            models.Index(fields=["-score", "-id"], condition=models.Q(status="active", visibility="public"),
                         name="feed_post_ranked"),
            models.Index(fields=["parent", "-created_at", "-id"], name="feed_post_remixes_new"),
            models.Index(fields=["parent", "-likes_count", "-id"], name="feed_post_remixes_top"),
        ]

    def __str__(self) -> str:
        return f"post {self.pk} by {self.author_id}"


class Hashtag(models.Model):
    tag = models.CharField(max_length=100, unique=True)
    posts_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"#{self.tag}"


class PostHashtag(models.Model):
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="tag_links")
    hashtag = models.ForeignKey(Hashtag, on_delete=models.CASCADE, related_name="post_links")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["post", "hashtag"], name="feed_posthashtag_unique")]
        indexes = [models.Index(fields=["hashtag", "-created_at", "-id"], name="feed_posthashtag_recent")]


class Like(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="likes")
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="likes")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["post", "user"], name="feed_like_unique")]
        indexes = [models.Index(fields=["user", "-created_at"], name="feed_like_user_recent")]


class Comment(models.Model):
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="comments")
    # One level of replies: a reply's parent is always a top-level comment.
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="replies")
    body = models.CharField(max_length=1000)
    replies_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["post", "parent", "-created_at", "-id"], name="feed_comment_thread"),
        ]


def _share_token() -> str:
    return secrets.token_urlsafe(9)


class Share(models.Model):
    class Channel(models.TextChoices):
        TIKTOK = "tiktok", "TikTok"
        INSTAGRAM = "instagram", "Instagram"
        YOUTUBE = "youtube", "YouTube"
        LINK = "link", "Link"

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="shares")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="shares")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    token = models.CharField(max_length=20, unique=True, default=_share_token)
    clicks_count = models.PositiveIntegerField(default=0)  # distinct visitors
    created_at = models.DateTimeField(default=timezone.now)


class ShareClick(models.Model):
    share = models.ForeignKey(Share, on_delete=models.CASCADE, related_name="clicks")
    # A salted hash of the visitor's IP and user agent: distinct visitors without keeping addresses.
    visitor = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["share", "visitor"], name="feed_shareclick_unique")]


class NotInterested(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "post"], name="feed_notinterested_unique")]


class MutedAuthor(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "author"], name="feed_mutedauthor_unique")]


class MutedHashtag(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    tag = models.CharField(max_length=100)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "tag"], name="feed_mutedhashtag_unique")]


class FeedPreferences(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True,
                                related_name="feed_preferences")
    personalized = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)


class Report(models.Model):
    class Reason(models.TextChoices):
        SPAM = "spam", "Spam"
        NUDITY = "nudity", "Nudity or sexual content"
        VIOLENCE = "violence", "Violence or gore"
        HATE = "hate", "Hate speech"
        HARASSMENT = "harassment", "Harassment or bullying"
        MINOR_SAFETY = "minor_safety", "Child safety"
        IMPERSONATION = "impersonation", "Impersonation or likeness without consent"
        COPYRIGHT = "copyright", "Copyright"
        OTHER = "other", "Other"

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="reports")
    reporter = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reports_made")
    reason = models.CharField(max_length=20, choices=Reason.choices)
    note = models.CharField(max_length=500, blank=True)
    resolved = models.BooleanField(default=False)
    # The reporter's trust when they reported (feed.trust): pending reports hide a post when their
    # weights add up to FEED_REPORT_HIDE_THRESHOLD. Stored so the sum is one aggregate per report.
    weight = models.FloatField(default=0.0)
    # The staff decision that resolved it: True when they hid or removed the post, False when they
    # restored it, None while pending. The reporter's later reports weigh more or less by it.
    upheld = models.BooleanField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["post", "reporter"], name="feed_report_once_per_user")]
        indexes = [models.Index(fields=["resolved", "-created_at"], name="feed_report_queue")]


class ModerationAction(models.Model):
    """The audit trail of every staff decision on a post."""

    class Action(models.TextChoices):
        AUTO_HIDE = "auto_hide", "Hidden automatically (reports)"
        HIDE = "hide", "Hide"
        RESTORE = "restore", "Restore"
        REMOVE = "remove", "Remove"
        SUSPEND_AUTHOR = "suspend_author", "Suspend author"
        CAMEO_TAKEDOWN = "cameo_takedown", "Taken down (cameo consent withdrawn)"
        CAMEO_RESTORE = "cameo_restore", "Restored (cameo consent given again)"

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="moderation_actions")
    staff = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    action = models.CharField(max_length=20, choices=Action.choices)
    reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)


class ViewsFlush(models.Model):
    """A batch of view counts moved from Redis into `Post.views_count`, recorded in the same
    transaction as the counts: a batch retried after a crash between the commit and the Redis
    clean-up is recognised and not added twice (views pay creators' milestones)."""

    batch = models.CharField(max_length=32, unique=True)
    created_at = models.DateTimeField(default=timezone.now)


class RemixSource(models.Model):
    """The post a remix generation was started from (`post_remix`). Feed owns this link:
    generation knows jobs, not posts. `post_create` reads it to record the remix's parent, and
    a retry of the job goes through feed so the post's remix policy is checked again."""

    job = models.OneToOneField("generation.GenerationJob", primary_key=True, on_delete=models.CASCADE,
                               related_name="remix_source")
    # CASCADE: once the post row is gone the remix has no parent to record.
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="remix_jobs")


class PostTranslation(models.Model):
    """A post's caption translated into one language (feed.translations), kept until the
    caption changes: an edit deletes them, and `caption_sha256` guards against a stale row."""

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="translations")
    language = models.CharField(max_length=16)
    caption_sha256 = models.CharField(max_length=64)
    text = models.TextField()
    backend = models.CharField(max_length=16)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["post", "language"], name="feed_translation_one_per_lang")]

    def __str__(self) -> str:
        return f"post {self.post_id} in {self.language}"
