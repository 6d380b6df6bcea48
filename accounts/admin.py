from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm
from django.utils.translation import gettext_lazy as _

from config.admin import ReadOnlyAdmin, service_action

from . import market_admin, services  # noqa: F401  (market_admin registers Market)
from .models import AccountDeletion, AccountExport, AuthSession, Block, Device, Follow, HandleReservation, User


class _PasswordChangeForm(AdminPasswordChangeForm):
    """A password staff set ends the account's sessions, as the user's own change does."""

    def save(self, commit=True):
        user = super().save(commit=commit)
        if commit:
            services.user_sessions_end(user=user, reason=AuthSession.EndReason.PASSWORD_CHANGED)
        return user


class PendingDeletionFilter(admin.SimpleListFilter):
    title = _("deletion")
    parameter_name = "deletion"

    def lookups(self, request, model_admin):
        return (("pending", _("Pending deletion")),)

    def queryset(self, request, queryset):
        if self.value() == "pending":
            return queryset.filter(deletion__isnull=False, deletion__purged_at__isnull=True)
        return queryset


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ("-created_at",)
    list_display = ("handle", "email", "display_name", "country", "is_active", "is_staff", "followers_count",
                    "created_at")
    list_filter = ("is_active", PendingDeletionFilter, "is_staff", "is_superuser", "country", "locale", "created_at")
    search_fields = ("handle", "email", "display_name", "firebase_uid")
    readonly_fields = ("followers_count", "following_count", "created_at", "updated_at", "last_login", "firebase_uid",
                       "email_verified", "session_version")
    fieldsets = (
        (None, {"fields": ("email", "email_verified", "password", "firebase_uid", "session_version")}),
        (_("Profile"), {"fields": ("handle", "display_name", "avatar", "bio", "locale", "country", "birth_year")}),
        (_("Counts"), {"fields": ("followers_count", "following_count")}),
        (_("Permissions"), {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        (_("Dates"), {"fields": ("last_login", "created_at", "updated_at")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "handle", "password1", "password2")}),)
    change_password_form = _PasswordChangeForm
    actions = ("suspend", "end_sessions", "unlock_sign_in")

    suspend = service_action(_("Suspend (and sign out everywhere)"),
                             lambda request, user: services.user_suspend(user_id=user.pk),
                             summary=_("{count} accounts suspended."))
    end_sessions = service_action(_("Sign out everywhere"), lambda request, user: services.user_sessions_end(user=user),
                                  summary=_("{count} accounts signed out everywhere."))
    # A sign-in lockout (accounts.lockout) also ends by itself after ACCOUNTS_LOGIN_LOCKOUT_SECONDS.
    unlock_sign_in = service_action(_("Unlock sign-in (forget failed password attempts)"),
                                    lambda request, user: services.user_unlock_sign_in(user=user),
                                    summary=_("{count} accounts unlocked."))

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        # Unticking "active" suspends: the sessions end now, not when their tokens expire.
        if change and "is_active" in form.changed_data and not obj.is_active:
            services.user_sessions_end(user=obj, reason=AuthSession.EndReason.SUSPENDED)

    def delete_model(self, request, obj):
        services.user_delete(user=obj)

    def delete_queryset(self, request, queryset):
        for user in queryset:
            services.user_delete(user=user)


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
    raw_id_fields = ("user", "session")


@admin.register(AuthSession)
class AuthSessionAdmin(ReadOnlyAdmin):
    list_display = ("user", "created_at", "refreshed_at", "ended_at", "end_reason")
    list_filter = ("end_reason", "created_at", "ended_at")
    search_fields = ("user__handle", "user__email")
    raw_id_fields = ("user",)
class DeletionStateFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return (("pending", _("Pending (grace period or waiting)")), ("held", _("Held by a step")),
                ("purged", _("Purged")))

    def queryset(self, request, queryset):
        if self.value() == "pending":
            return queryset.filter(purged_at__isnull=True)
        if self.value() == "held":
            return queryset.filter(purged_at__isnull=True).exclude(hold_reason="")
        if self.value() == "purged":
            return queryset.filter(purged_at__isnull=False)
        return queryset


@admin.register(AccountDeletion)
class AccountDeletionAdmin(ReadOnlyAdmin):
    """Deletions owners asked for: staff watch the grace periods and what holds a purge."""

    list_display = ("pk", "user", "requested_at", "purge_after", "hold_reason", "attempts", "purged_at")
    list_filter = (DeletionStateFilter, "hold_reason", "requested_at", "purge_after")
    search_fields = ("user__handle", "user__email")
    raw_id_fields = ("user", "placeholder")


@admin.register(HandleReservation)
class HandleReservationAdmin(ReadOnlyAdmin):
    list_display = ("handle", "reserved_until", "created_at")
    search_fields = ("handle",)


from .cameos import admin as _cameo_admin  # noqa: E402,F401  (registers the cameo admin)


@admin.register(AccountExport)
class AccountExportAdmin(ReadOnlyAdmin):
    """Staff see stuck or failed exports; the archive itself is the user's, not linked here."""

    list_display = ("user", "status", "created_at", "finished_at", "expires_at", "size_bytes", "attempts")
    list_filter = ("status", "created_at")
    search_fields = ("user__handle", "user__email")
    exclude = ("file",)
    raw_id_fields = ("user",)
