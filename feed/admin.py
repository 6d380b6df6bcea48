from django import forms
from django.contrib import admin

from config.admin import ReadOnlyAdmin, service_action
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


class ReviewQueueFilter(admin.SimpleListFilter):
    """The review queue: hidden posts, and live ones enough people reported, even when those
    reporters weigh too little to hide them (selectors.review_queue)."""

    title = "review"
    parameter_name = "review"

    def lookups(self, request, model_admin):
        return [("queue", "Waiting for review")]

    def queryset(self, request, queryset):
        if self.value() == "queue":
            return queryset.filter(pk__in=selectors.review_queue().values("pk"))
        return queryset


@admin.register(Post)
class PostAdmin(admin.ModelAdmin):
    """The moderation tool: filter review = waiting for review for the review queue."""

    list_display = ("id", "author", "status", "visibility", "reports_count", "likes_count", "remixes_count",
                    "views_count", "score", "created_at")
    list_filter = (ReviewQueueFilter, "status", "visibility", "language", "region", "created_at")
    search_fields = ("=id", "author__handle", "caption")
    raw_id_fields = ("author", "generation", "parent", "root")
    # Status changes only through the actions below, so each one lands in the audit trail.
    readonly_fields = ("status", "likes_count", "comments_count", "remixes_count", "views_count", "shares_count",
                       "reports_count", "score", "lineage", "hashtags", "created_at", "updated_at")
    list_select_related = ("author",)
    date_hierarchy = "created_at"
    inlines = [ReportInline, ModerationActionInline]
    action_form = ReviewReasonForm
    actions = ("hide", "restore", "remove", "suspend_author")

    hide = _moderation("Hide (pending review)", ModerationAction.Action.HIDE)
    restore = _moderation("Restore", ModerationAction.Action.RESTORE)
    remove = _moderation("Remove", ModerationAction.Action.REMOVE)
    suspend_author = _moderation("Suspend the author (and remove the post)", ModerationAction.Action.SUSPEND_AUTHOR)


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
