"""The operations team's tool: the campaign builder, the review queue, budget burn-down,
leaderboards and payouts. Every state change goes through a service; rewards, ledger
entries and payouts are never edited by hand."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db.models import Count, Q
from django.http import HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _

from config.admin import Figure, ReadOnlyAdmin, apply_to_each, selector_filter, service_action, video_player
from config.errors import ApplicationError

from . import selectors, services
from .forms import CampaignForm
from .models import (
    Campaign,
    CampaignTask,
    CampaignText,
    CreatorProfile,
    Enrolment,
    Payout,
    Reward,
    Submission,
)


def _reason(request) -> str:
    return request.POST.get("reason", "")


def _amount(request) -> int:
    try:
        return int(request.POST.get("amount") or 0)
    except ValueError:
        return 0


# --- campaign builder ---------------------------------------------------------------------------


class CampaignTextInline(admin.StackedInline):
    model = CampaignText
    extra = 1


class CampaignTaskInline(admin.TabularInline):
    """The rules, as data. Frozen once the campaign is launched: creators work toward them."""

    model = CampaignTask
    extra = 1
    fields = ("position", "kind", "threshold", "window_days", "reward")

    def _draft(self, obj) -> bool:
        return obj is None or obj.status == Campaign.Status.DRAFT

    def has_add_permission(self, request, obj=None):
        return self._draft(obj)

    def has_change_permission(self, request, obj=None):
        return self._draft(obj)

    def has_delete_permission(self, request, obj=None):
        return self._draft(obj)


NearBudgetFilter = selector_filter("budget", "budget", "near", f"Active, {selectors.NEAR_BUDGET_PERCENT}% or less left",
                                   selectors.campaigns_near_budget)


class CampaignActionForm(admin.helpers.ActionForm):
    amount = forms.IntegerField(required=False, min_value=1, help_text="For 'add budget'.")


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    form = CampaignForm
    filter_horizontal = ("markets",)  # picked from the list of markets (Accounts › Markets)
    list_display = ("name", "status", "budget_kind", "spent_of_total", "burn", "enrolled", "to_review",
                    "starts_at", "ends_at")
    list_filter = (NearBudgetFilter, "status", "budget_kind", "review_mode")
    search_fields = ("name", "hashtag", "texts__title")
    autocomplete_fields = ("template_post",)  # searched by post id, author handle or caption
    inlines = [CampaignTextInline, CampaignTaskInline]
    action_form = CampaignActionForm
    actions = ("activate", "pause", "close", "add_budget")
    fieldsets = (
        (None, {"fields": ("name", "default_language", "cover", "template_post", "template_preview", "hashtag")}),
        ("Market and eligibility", {"fields": ("markets", "languages", "min_tier", "min_followers",
                                                "min_localized_markets")}),
        ("Schedule and budget", {"fields": ("starts_at", "ends_at", "budget_kind", "currency", "budget_total",
                                            "per_creator_cap", "review_mode")}),
        ("State", {"fields": ("status", "budget_remaining", "closed_reason", "activated_at", "closed_at",
                              "created_by")}),
        ("Budget burn-down", {"fields": ("burn_down",)}),
        ("Leaderboard", {"fields": ("leaderboard",)}),
    )

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            enrolled_count=Count("enrolments", filter=Q(enrolments__status=Enrolment.Status.ENROLLED), distinct=True),
            review_count=Count("submissions", filter=Q(submissions__status__in=[
                Submission.Status.PENDING_REVIEW, Submission.Status.FLAGGED]), distinct=True),
        )

    def get_readonly_fields(self, request, obj=None):
        fixed = ["template_preview", "status", "budget_remaining", "closed_reason", "activated_at", "closed_at",
                 "created_by", "burn_down", "leaderboard"]
        if obj is not None and obj.status != Campaign.Status.DRAFT:
            # Launched: money and its unit move only through 'add budget'.
            fixed += ["budget_kind", "currency", "budget_total"]
        return fixed

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        if obj.status == Campaign.Status.DRAFT:
            obj.budget_remaining = obj.budget_total  # nothing spent before launch
        super().save_model(request, obj, form, change)

    @admin.display(description="Template preview")
    def template_preview(self, obj):
        post = obj.template_post if obj.pk else None
        if post is None or post.generation is None:
            return "Saved campaigns show their template post's video here."
        return video_player(post.generation.video.name, post.generation.poster.name)

    @admin.display(description="Spent / total")
    def spent_of_total(self, obj):
        unit = obj.currency.upper() if obj.is_cash else "credits"
        spent = obj.budget_total - obj.budget_remaining if obj.status != Campaign.Status.DRAFT else 0
        return f"{spent} / {obj.budget_total} {unit}"

    @admin.display(description="Burn")
    def burn(self, obj):
        if not obj.budget_total or obj.status == Campaign.Status.DRAFT:
            return "-"
        share = (obj.budget_total - obj.budget_remaining) / obj.budget_total
        return format_html('<progress value="{}" max="1000" title="{}%"></progress>', round(share * 1000),
                           f"{share * 100:.1f}")

    @admin.display(description="Enrolled", ordering="enrolled_count")
    def enrolled(self, obj):
        return obj.enrolled_count

    @admin.display(description="To review", ordering="review_count")
    def to_review(self, obj):
        if not obj.review_count:
            return 0
        url = reverse("admin:creators_submission_changelist") + f"?campaign__id__exact={obj.pk}&in_review=1"
        return format_html('<a href="{}">{}</a>', url, obj.review_count)

    @admin.display(description="Per day")
    def burn_down(self, obj):
        if obj.pk is None:
            return "-"
        rows = selectors.budget_burn_down(campaign=obj)
        if not rows:
            return "Nothing spent yet."
        return format_html(
            "<table><tr><th>Day</th><th>Rewards</th><th>Spent</th><th>Left at end of day</th></tr>{}</table>",
            format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                             ((r["day"], r["rewards"], r["spent"], r["remaining"]) for r in rows)))

    @admin.display(description="Top creators")
    def leaderboard(self, obj):
        if obj.pk is None:
            return "-"
        rows = selectors.leaderboard(campaign=obj, limit=20)
        if not rows:
            return "No rewards yet."
        return format_html(
            "<table><tr><th>#</th><th>Creator</th><th>Earned</th><th>Rewards</th></tr>{}</table>",
            format_html_join("", "<tr><td>{}</td><td>@{}</td><td>{}</td><td>{}</td></tr>",
                             ((i, e.user.handle, e.earned, e.rewards_count) for i, e in enumerate(rows, start=1))))

    activate = service_action("Activate (launch or resume)", lambda request, c: services.campaign_activate(
        staff=request.user, campaign_id=c.pk), summary="Activated: {count}")
    pause = service_action("Pause", lambda request, c: services.campaign_pause(
        staff=request.user, campaign_id=c.pk), summary="Paused: {count}")
    close = service_action("Close (creators are told)", lambda request, c: services.campaign_close(
        staff=request.user, campaign_id=c.pk), summary="Closed: {count}")
    add_budget = service_action("Add budget (amount below)", lambda request, c: services.campaign_budget_add(
        staff=request.user, campaign_id=c.pk, amount=_amount(request)), summary="Budget added: {count}")


# --- review queue -----------------------------------------------------------------------------


InReviewFilter = selector_filter("review queue", "in_review", "1", "Waiting for review (manual or flagged)",
                                 selectors.review_queue)


class ReviewForm(admin.helpers.ActionForm):
    reason = forms.CharField(required=False, max_length=500, help_text="Required to reject; the creator sees it.")


@admin.register(Submission)
class SubmissionAdmin(admin.ModelAdmin):
    list_display = ("id", "campaign", "user", "post_link", "status", "flag_reason", "submitted_at", "reviewed_by",
                    "review_reason")
    list_filter = (InReviewFilter, "status", "campaign")
    search_fields = ("=id", "user__handle", "=post__id")
    list_select_related = ("campaign", "user", "reviewed_by")
    action_form = ReviewForm
    actions = ("approve", "reject")

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Submission._meta.fields] + ["post_link"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Post")
    def post_link(self, obj):
        if obj.post_id is None:
            return "(deleted)"
        return format_html('<a href="{}">{}</a>', reverse("admin:feed_post_change", args=[obj.post_id]), obj.post_id)

    approve = service_action("Approve", lambda request, s: services.submission_review(
        staff=request.user, submission_id=s.pk, approve=True, reason=_reason(request)), summary="Approved: {count}")
    reject = service_action("Reject (reason required)", lambda request, s: services.submission_review(
        staff=request.user, submission_id=s.pk, approve=False, reason=_reason(request)), summary="Rejected: {count}")


# --- creators, rewards, payouts ------------------------------------------------------------------


class TierActionForm(admin.helpers.ActionForm):
    tier = forms.ChoiceField(required=False, choices=[("", "(rules)"), *CreatorProfile._meta.get_field("tier").choices])


@admin.register(CreatorProfile)
class CreatorProfileAdmin(ReadOnlyAdmin):
    list_display = ("user", "active", "tier", "tier_source", "country", "languages", "payout_method",
                    "connect_status", "opted_in_at")
    list_filter = ("active", "tier", "tier_source", "payout_method", "connect_status", "country")
    search_fields = ("user__handle", "user__email", "tiktok_handle", "instagram_handle", "youtube_handle")
    list_select_related = ("user",)
    action_form = TierActionForm
    actions = ("set_tier",)

    set_tier = service_action("Set tier (blank: back to the rules)", lambda request, p: services.creator_tier_set(
        staff=request.user, user_id=p.user_id, tier=request.POST.get("tier") or None), summary="Tier set: {count}")


@admin.register(Enrolment)
class EnrolmentAdmin(ReadOnlyAdmin):
    list_display = ("campaign", "user", "status", "earned", "rewards_count", "enrolled_at", "last_reward_at")
    list_filter = ("status", "campaign")
    search_fields = ("user__handle",)
    list_select_related = ("campaign", "user")


@admin.register(Reward)
class RewardAdmin(ReadOnlyAdmin):
    list_display = ("id", "campaign", "user", "task", "kind", "amount", "currency", "credit_entry", "payout",
                    "created_at")
    list_filter = ("kind", "campaign")
    search_fields = ("=id", "user__handle")
    list_select_related = ("campaign", "user", "task")
    date_hierarchy = "created_at"


class PayoutActionForm(admin.helpers.ActionForm):
    reason = forms.CharField(required=False, max_length=300, help_text="Required to mark failed.")


@admin.register(Payout)
class PayoutAdmin(ReadOnlyAdmin):
    list_display = ("id", "user", "currency", "amount", "method", "status", "stripe_transfer_id", "attempts",
                    "error", "created_at", "paid_at")
    list_filter = ("status", "method", "currency")
    search_fields = ("=id", "user__handle", "=stripe_transfer_id")
    list_select_related = ("user",)
    date_hierarchy = "created_at"
    action_form = PayoutActionForm
    actions = ("download_csv", "mark_paid", "mark_failed", "send_transfer")
    change_list_template = "admin/creators/payout/change_list.html"

    def get_urls(self):
        return [path("export-manual/", self.admin_site.admin_view(self.export_manual),
                     name="creators_payout_export_manual"), *super().get_urls()]

    def export_manual(self, request):
        if not request.user.has_perm("creators.change_payout"):
            return redirect("admin:creators_payout_changelist")
        if request.method != "POST":
            return TemplateResponse(request, "admin/creators/payout/export_manual.html",
                                    {**self.admin_site.each_context(request), "title": "Export manual payouts",
                                     "due": selectors.manual_payouts_due().count()})
        payouts = services.payouts_export_manual(staff=request.user)
        return self._csv(selectors.payouts_csv(payouts=payouts), "manual-payouts")

    @staticmethod
    def _csv(body: str, name: str) -> HttpResponse:
        response = HttpResponse(body, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{name}-{timezone.now():%Y%m%d-%H%M%S}.csv"'
        return response

    @admin.action(description="Download CSV")
    def download_csv(self, request, queryset):
        return self._csv(selectors.payouts_csv(payouts=list(queryset.order_by("pk"))), "payouts")

    mark_paid = service_action("Mark paid (manual payouts)", lambda request, p: services.payout_mark_paid(
        staff=request.user, payout_id=p.pk), summary="Marked paid: {count}")
    mark_failed = service_action(
        "Mark failed: back to the balance (reason required)", lambda request, p: services.payout_mark_failed(
            staff=request.user, payout_id=p.pk, reason=_reason(request)), summary="Failed: {count}")

    @admin.action(description="Send pending Stripe transfers now")
    def send_transfer(self, request, queryset):
        def send(payout):
            try:
                services.payout_send(payout_id=payout.pk)
            except services.PayoutPending as exc:
                raise ApplicationError(_("Stripe had no answer; still pending (%(error)s).") % {"error": exc}) from exc

        apply_to_each(self, request, queryset.filter(method=Payout.Method.STRIPE, status=Payout.Status.PENDING), send,
                      summary="Sent: {count}")


def dashboard_figures() -> list:
    """The dashboard's creator programme card (registered in apps.py)."""
    near = selectors.campaigns_near_budget().count()
    to_review = selectors.review_queue().count()
    return [
        Figure("Campaigns near budget", near, reverse("admin:creators_campaign_changelist") + "?budget=near",
               alert=near > 0),
        Figure("Submissions waiting for review", to_review,
               reverse("admin:creators_submission_changelist") + "?in_review=1", alert=to_review > 0),
    ]
