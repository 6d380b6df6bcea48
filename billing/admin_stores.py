"""Admin of App Store and Google Play subscriptions (imported by billing.admin)."""

from django.contrib import admin

from config.admin import ReadOnlyAdmin

from .admin import _entitlements_html
from .models import StoreSubscription


@admin.register(StoreSubscription)
class StoreSubscriptionAdmin(ReadOnlyAdmin):
    list_display = ("store", "store_key_short", "user", "plan", "status", "expires_at", "auto_renew", "synced_at")
    list_filter = ("store", "status")
    search_fields = ("=store_key", "=latest_transaction_id", "user__email")
    readonly_fields = ("entitlements_now",)

    def get_fields(self, request, obj=None):
        return ["entitlements_now"] + [f.name for f in StoreSubscription._meta.fields]

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)

    @admin.display(description="Key")
    def store_key_short(self, obj):
        return obj.store_key[:32]

    @admin.display(description="The user's entitlements now (every store)")
    def entitlements_now(self, obj):
        return _entitlements_html(obj.user_id)
