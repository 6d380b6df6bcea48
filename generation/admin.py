from django.contrib import admin, messages

from config.admin import apply_to_each

from . import services
from .models import GenerationJob


@admin.register(GenerationJob)
class GenerationJobAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "kind", "status", "progress", "backend", "cost", "attempts", "created_at",
                    "finished_at")
    list_filter = ("status", "backend", "kind", "created_at")
    search_fields = ("=id", "user__handle", "user__email", "prompt")
    date_hierarchy = "created_at"
    raw_id_fields = ("user", "source_job", "retry_of")
    list_select_related = ("user",)
    actions = ("retry_jobs", "cancel_jobs", "fail_with_refund")
    readonly_fields = [f.name for f in GenerationJob._meta.fields]

    def has_add_permission(self, request):
        return False

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
