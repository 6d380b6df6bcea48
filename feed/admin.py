from django import forms
from django.contrib import admin
from django.template.defaultfilters import truncatechars
from django.urls import reverse

from config.admin import Figure, ReadOnlyAdmin, selector_filter, service_action, video_player
from generation.admin import GenerationJobAdmin
from generation.models import GenerationJob

from . import selectors, services
from .models import Comment, Hashtag, ModerationAction, Post, Report


class ModerationActionInline(admin.TabularInline):
    model = ModerationAction
    extra = 0
    can_delete = False
    readonly_fields = ("action", "staff", "reason", "created_at")

    def has_add_permission(self, request, obj=None):
        return False


class ReportInline(admin.TabularInline):
    model = Report
    extra = 0
    can_delete = False
    readonly_fields = ("reporter", "reason", "note", "weight", "resolved", "upheld", "created_at")

    def has_add_permission(self, request, obj=None):
        return False


class ReviewReasonForm(admin.helpers.ActionForm):
    reason = forms.CharField(required=False, max_length=500, help_text="Written to the audit trail.")


def _moderation(description: str, action: str):
    """A review-queue action: the staff decision on each selected post, with the reason typed below."""
    return service_action(description, lambda request, post: services.post_moderate(
        staff=request.user, post_id=post.pk, action=action, reason=request.POST.get("reason", "")),
        summary=f"{action}: {{count}} post(s)", name=lambda post: f"Post {post.pk}")


# The review queue: hidden posts, and live ones enough people reported, even when those
# reporters weigh too little to hide them.
ReviewQueueFilter = selector_filter("review", "review", "queue", "Waiting for review", selectors.review_queue)


@admin.register(Post)
class PostAdmin(admin.ModelAdmin):
    """The moderation tool: filter review = waiting for review for the review queue."""

    list_display = ("id", "author_handle", "caption_text", "status", "visibility", "reports_count", "likes_count",
                    "remixes_count", "views_count", "score", "created_at")
    list_filter = (ReviewQueueFilter, "status", "visibility", "language", "region", "created_at")
    search_fields = ("=id", "author__handle", "caption")
    autocomplete_fields = ("author",)
    ordering = ("-created_at", "-id")  # newest first, in the list and in searchable selects
    raw_id_fields = ("generation", "parent", "root")
    # Status changes only through the actions below, so each one lands in the audit trail.
    readonly_fields = ("player", "status", "likes_count", "comments_count", "remixes_count", "views_count",
                       "shares_count", "reports_count", "score", "lineage", "hashtags_text", "created_at",
                       "updated_at")
    exclude = ("hashtags",)
    list_select_related = ("author",)
    date_hierarchy = "created_at"
    inlines = [ReportInline, ModerationActionInline]
    action_form = ReviewReasonForm
    actions = ("hide", "restore", "remove", "suspend_author")

    hide = _moderation("Hide (pending review)", ModerationAction.Action.HIDE)
    restore = _moderation("Restore", ModerationAction.Action.RESTORE)
    remove = _moderation("Remove", ModerationAction.Action.REMOVE)
    suspend_author = _moderation("Suspend the author (and remove the post)", ModerationAction.Action.SUSPEND_AUTHOR)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("author", "generation")

    @staticmethod
    def autocomplete_label(post) -> str:
        """How a post reads in a searchable select (the campaign builder's template post)."""
        return f"#{post.pk} @{post.author.handle}: {truncatechars(post.caption, 40) or '(no caption)'}"

    @admin.display(description="Author", ordering="author__handle")
    def author_handle(self, post):
        return f"@{post.author.handle}"

    @admin.display(description="Caption")
    def caption_text(self, post):
        return truncatechars(post.caption, 60) or "-"

    @admin.display(description="Hashtags")
    def hashtags_text(self, post):
        return " ".join(f"#{tag}" for tag in post.hashtags) or "-"

    @admin.display(description="Video")
    def player(self, post):
        job = post.generation
        return video_player(job.video.name, job.poster.name) if job is not None else "-"


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin):
    list_display = ("post", "reporter", "reason", "weight", "resolved", "upheld", "created_at")
    list_filter = ("resolved", "upheld", "reason", "created_at")
    search_fields = ("=post__id", "reporter__handle", "note")
    raw_id_fields = ("post", "reporter")
    # Set by report_create and post_moderate; an edit here would move a post around the audit trail.
    readonly_fields = ("weight", "upheld")


@admin.register(ModerationAction)
class ModerationActionAdmin(ReadOnlyAdmin):
    list_display = ("post", "action", "staff", "reason", "created_at")
    list_filter = ("action", "created_at")
    search_fields = ("=post__id", "staff__handle", "reason")
    readonly_fields = ("post", "action", "staff", "reason", "created_at")


@admin.register(Comment)
class CommentAdmin(admin.ModelAdmin):
    list_display = ("id", "post", "author", "body", "created_at")
    search_fields = ("author__handle", "body")
    raw_id_fields = ("post", "author", "parent")


@admin.register(Hashtag)
class HashtagAdmin(admin.ModelAdmin):
    list_display = ("tag", "posts_count", "created_at")
    search_fields = ("tag",)


class RemixAwareGenerationJobAdmin(GenerationJobAdmin):
    """Generation's job admin, its Retry going through feed: a remix of a post is checked
    against the post again and the new job keeps its link to it (feed.RemixSource)."""

    retry_service = staticmethod(services.generation_retry)


admin.site.unregister(GenerationJob)
admin.site.register(GenerationJob, RemixAwareGenerationJobAdmin)


def dashboard_figures() -> list[Figure]:
    """The dashboard's moderation card (registered in apps.py): posts in the review queue."""
    waiting = selectors.review_queue().count()
    return [Figure("Posts waiting for review", waiting, reverse("admin:feed_post_changelist") + "?review=queue",
                   alert=waiting > 0)]
