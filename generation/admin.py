from datetime import timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin, messages
from django.template.defaultfilters import truncatechars
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from config.admin import Figure, apply_to_each, selector_filter, video_player

from . import selectors, services
from .backends import BACKENDS
from .models import GenerationJob, JobStatus, ProviderAlert, Rendition
from .services import providers


# Jobs the sweeper would act on: the dashboard's "stuck" figure.
StuckFilter = selector_filter("health", "health", "stuck", "Stuck (running past the lease or queued too long)",
                              selectors.stuck_jobs)


class RenditionInline(admin.TabularInline):
    """A localize job's languages, each with its own outcome (read-only, like the job)."""

    model = Rendition
    fk_name = "job"
    extra = 0
    can_delete = False
    fields = ("language", "status", "stage", "dubbed", "burned_in", "cues", "error_code", "video", "subtitles",
              "finished_at")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(GenerationJob)
class GenerationJobAdmin(admin.ModelAdmin):
    inlines = (RenditionInline,)
    list_display = ("short_id", "prompt_text", "user_handle", "kind", "status", "progress", "backend", "cost",
                    "provider_cost_usd", "attempts", "created_at", "finished_at")
    list_filter = (StuckFilter, "status", "backend", "plan_code", "kind", "created_at")
    search_fields = ("=id", "=remote_id", "user__handle", "user__email", "prompt")
    date_hierarchy = "created_at"
    list_select_related = ("user",)
    actions = ("retry_jobs", "cancel_jobs", "fail_with_refund")
    readonly_fields = ["player", *(f.name for f in GenerationJob._meta.fields)]

    def has_add_permission(self, request):
        return False

    def get_urls(self):
        costs = path("provider-costs/", self.admin_site.admin_view(self.provider_costs_view),
                     name="generation_generationjob_provider_costs")
        return [costs, *super().get_urls()]

    def provider_costs_view(self, request):
        """Cost and margin per plan and provider per day (linked from the dashboard card)."""
        days = 30
        rows = selectors.provider_costs_by_day(since=timezone.now() - timedelta(days=days))
        context = {**self.admin_site.each_context(request), "title": "Provider cost and margin", "rows": rows,
                   "days": days, "credit_value": settings.GENERATION_CREDIT_VALUE_USD}
        return TemplateResponse(request, "admin/generation/provider_costs.html", context)

    # Read-only: the page shows the job (no Save buttons); it changes only through the actions.
    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="Job", ordering="created_at")
    def short_id(self, job):
        return str(job.pk)[:8]

    @admin.display(description="Prompt", ordering="prompt")
    def prompt_text(self, job):
        return truncatechars(job.prompt, 60) or "-"

    @admin.display(description="User", ordering="user__handle")
    def user_handle(self, job):
        return f"@{job.user.handle}"

    @admin.display(description="Video")
    def player(self, job):
        return video_player(job.video.name, job.poster.name)

    def _each(self, request, queryset, call, done: str) -> None:
        apply_to_each(self, request, queryset.select_related("user"), call, summary=f"{done}: {{count}}",
                      name=lambda job: job.pk, level=messages.INFO)

    # The retry service, swappable: feed's admin retries through feed, which re-checks a
    # remix's source post and links the new job to it (generation knows nothing of posts).
    retry_service = staticmethod(services.generation_retry)

    @admin.action(description="Retry (new job for the same user)")
    def retry_jobs(self, request, queryset):
        self._each(request, queryset, lambda job: self.retry_service(user=job.user, job_id=job.pk), "Retried")

    @admin.action(description="Cancel")
    def cancel_jobs(self, request, queryset):
        self._each(request, queryset, lambda job: services.generation_cancel(user=job.user, job_id=job.pk),
                   "Canceled")

    @admin.action(description="Fail with refund")
    def fail_with_refund(self, request, queryset):
        self._each(request, queryset,
                   lambda job: services.job_fail_by_staff(job_id=job.pk, staff_id=request.user.pk), "Failed")


def dashboard_figures() -> list[Figure]:
    """The dashboard's generation card (registered in apps.py): jobs of the last hour by state,
    and the stuck ones, each linking to the job list filtered the same way."""
    changelist = reverse("admin:generation_generationjob_changelist")
    since = timezone.now() - timedelta(hours=1)
    figures = [Figure(f"{JobStatus(status).label} (last hour)", count,
                      f"{changelist}?{urlencode({'status__exact': status, 'created_at__gte': since.isoformat()})}",
                      alert=status == JobStatus.FAILED and count > 0)
               for status, count in selectors.job_counts_by_status(since=since).items()]
    stuck = selectors.stuck_jobs().count()
    figures.append(Figure("Stuck", stuck, f"{changelist}?health=stuck", alert=stuck > 0))
    return figures


@admin.register(ProviderAlert)
class ProviderAlertAdmin(admin.ModelAdmin):
    """What staff must act on at a hosted provider (quota spent); resolving tries the provider again."""

    list_display = ("provider", "code", "occurrences", "created_at", "last_seen_at", "resolved_at", "message")
    list_filter = ("provider", "code", "resolved_at")
    readonly_fields = [f.name for f in ProviderAlert._meta.fields]
    actions = ("resolve",)

    def has_add_permission(self, request):
        return False

    @admin.action(description="Resolved (try the provider again)")
    def resolve(self, request, queryset):
        apply_to_each(self, request, queryset, lambda alert: providers.provider_alert_resolve(alert_id=alert.pk),
                      summary="Resolved: {count}", name=lambda alert: alert.pk, level=messages.INFO)


def provider_dashboard_figures() -> list[Figure]:
    """The dashboard's provider card: open alerts (quota spent), backends skipped by their
    circuit breaker now, and the cost and margin table."""
    alerts = selectors.provider_alerts_open().count()
    alerts_url = f"{reverse('admin:generation_provideralert_changelist')}?resolved_at__isnull=True"
    skipped = providers.breakers_open([name for name in BACKENDS if name != "remote"])
    costs = reverse("admin:generation_generationjob_provider_costs")
    return [Figure("Open alerts", alerts, alerts_url, alert=alerts > 0),
            Figure("Backends skipped (circuit open)", len(skipped), alerts_url, alert=bool(skipped)),
            # The figure counts the jobs; the page it links to has their cost and margin.
            Figure("Jobs in the cost and margin table (30 days)",
                   sum(row["jobs"] for row in selectors.provider_costs_by_day(since=timezone.now() - timedelta(days=30))),
                   costs)]
