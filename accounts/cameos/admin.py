"""Cameos in the admin: the verification queue (status `review`: staff approve or reject)."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from config.admin import service_action

from . import services
from .models import Cameo, CameoGrant


class CameoGrantInline(admin.TabularInline):
    model = CameoGrant
    extra = 0
    fields = ("user", "status", "updated_at")
    readonly_fields = fields
    can_delete = False


@admin.register(Cameo)
class CameoAdmin(admin.ModelAdmin):
    list_display = ("id", "owner", "name", "status", "level", "verifier", "created_at")
    list_filter = ("status", "level", "verifier", "created_at")
    search_fields = ("owner__handle", "name")
    ordering = ("created_at",)
    readonly_fields = ("owner", "challenge", "clip", "reference_image", "clip_duration", "clip_codec", "verifier",
                       "transcript", "verified_at", "reviewed_by", "deleted_at", "purged_at", "created_at",
                       "status")
    inlines = (CameoGrantInline,)
    actions = ("approve", "reject")

    approve = service_action(_("Verify (the clip shows this person saying the phrase)"),
                             lambda request, cameo: services.cameo_review(staff=request.user, cameo_id=cameo.pk,
                                                                          approve=True),
                             summary=_("{count} cameos verified."))
    reject = service_action(_("Reject"),
                            lambda request, cameo: services.cameo_review(staff=request.user, cameo_id=cameo.pk,
                                                                         approve=False),
                            summary=_("{count} cameos rejected."))
