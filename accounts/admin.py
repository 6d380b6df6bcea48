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


class _BetweenUsersAdmin(admin.ModelAdmin):
    """A row relating two users (a follow, a block): listed by both, found by either's handle or email."""

    users: tuple[str, str]
    list_filter = ("created_at",)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.list_display = (*cls.users, "created_at")
        cls.search_fields = tuple(f"{user}__{field}" for field in ("handle", "email") for user in cls.users)
        cls.raw_id_fields = cls.users


@admin.register(Follow)
class FollowAdmin(_BetweenUsersAdmin):
    users = ("follower", "followee")
    date_hierarchy = "created_at"


@admin.register(Block)
class BlockAdmin(_BetweenUsersAdmin):
    users = ("blocker", "blocked")


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
    list_display = ("user", "platform", "app_version", "locale", "last_seen_at", "created_at")
    search_fields = ("user__handle", "user__email", "fcm_token")
    list_filter = ("platform", "app_version", "last_seen_at")
    raw_id_fields = ("user",)
