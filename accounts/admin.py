from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.utils.translation import gettext_lazy as _

from .models import Block, Device, Follow, User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ("-created_at",)
    list_display = ("handle", "email", "display_name", "country", "is_active", "is_staff", "followers_count",
                    "created_at")
    list_filter = ("is_active", "is_staff", "is_superuser", "country", "locale", "created_at")
    search_fields = ("handle", "email", "display_name", "firebase_uid")
    readonly_fields = ("followers_count", "following_count", "created_at", "updated_at", "last_login", "firebase_uid")
    fieldsets = (
        (None, {"fields": ("email", "password", "firebase_uid")}),
        (_("Profile"), {"fields": ("handle", "display_name", "avatar", "bio", "locale", "country", "birth_year")}),
        (_("Counts"), {"fields": ("followers_count", "following_count")}),
        (_("Permissions"), {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        (_("Dates"), {"fields": ("last_login", "created_at", "updated_at")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "handle", "password1", "password2")}),)


@admin.register(Follow)
class FollowAdmin(admin.ModelAdmin):
    list_display = ("follower", "followee", "created_at")
    search_fields = ("follower__handle", "followee__handle", "follower__email", "followee__email")
    list_filter = ("created_at",)
    raw_id_fields = ("follower", "followee")
    date_hierarchy = "created_at"


@admin.register(Block)
class BlockAdmin(admin.ModelAdmin):
    list_display = ("blocker", "blocked", "created_at")
    search_fields = ("blocker__handle", "blocked__handle", "blocker__email", "blocked__email")
    list_filter = ("created_at",)
    raw_id_fields = ("blocker", "blocked")


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
    list_display = ("user", "platform", "app_version", "locale", "last_seen_at", "created_at")
    search_fields = ("user__handle", "user__email", "fcm_token")
    list_filter = ("platform", "app_version", "last_seen_at")
    raw_id_fields = ("user",)
