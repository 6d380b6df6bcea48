import json
import uuid
from datetime import timedelta
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _

from accounts.models import User
from config.admin import Figure, ReadOnlyAdmin

from . import selectors, services
from .models import (
    BillingCustomer,
    CheckoutSession,
    CreditAccount,
    CreditEntry,
    CreditLot,
    CreditMovement,
    CreditPack,
    PackPrice,
    PackText,
    Plan,
    PlanChange,
    PlanPrice,
    PlanText,
    StoreProduct,
    StripeEvent,
    Subscription,
    WebhookAttempt,
)
from .services import subscriptions as subscription_services
from .services import webhooks


def _entitlements_html(user_id: int):
    e = selectors.user_entitlements(user_id=user_id)
    rows = [("Plan", f"{e.plan_name} ({e.plan_code})"), ("Why", e.reason), ("Source", e.source),
            ("Valid until", e.valid_until or "-"), ("Concurrent jobs", e.max_concurrent_jobs),
            ("Longest video", f"{e.max_duration_seconds} s"), ("Resolution", f"{e.max_short_side}p"),
            ("Queue priority", e.queue_priority), ("Watermark", "yes" if e.watermark else "no"),
            ("Generations a day", e.daily_generations or "no limit"), ("Store", e.store or "-"),
            # More than one line: the user is paying in two stores at once.
            ("Active subscriptions", "; ".join(f"{a.store} {a.subscription_id} on {a.plan_code} until {a.valid_until}"
                                               for a in e.active_subscriptions) or "-")]
    return format_html("<table>{}</table>", format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows))


# --- catalogue ------------------------------------------------------------------------------


class _TextForm(forms.ModelForm):
    language = forms.ChoiceField(choices=settings.LANGUAGES)  # picked, not typed


class PlanTextInline(admin.TabularInline):
    model = PlanText
    form = _TextForm
    extra = 1


class PackTextInline(admin.TabularInline):
    model = PackText
    form = _TextForm
    extra = 1


class PlanPriceInline(admin.TabularInline):
    model = PlanPrice
    extra = 1


class StoreProductInline(admin.TabularInline):
    """The App Store / Google Play product ids that sell this plan."""

    model = StoreProduct
    extra = 1


class PackPriceInline(admin.TabularInline):
    model = PackPrice
    extra = 1


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "rank", "monthly_credits", "max_concurrent_jobs", "max_duration_seconds",
                    "max_short_side", "queue_priority", "removes_watermark", "is_active", "prices_list")
    list_filter = ("is_active",)
    search_fields = ("code", "name")
    readonly_fields = ("created_at", "updated_at")
    inlines = [PlanTextInline, PlanPriceInline, StoreProductInline]

    @admin.display(description="Prices")
    def prices_list(self, obj):
        return ", ".join(f"{p.unit_amount / 100:.2f} {p.currency}" for p in obj.prices.all())

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("prices")

    def has_delete_permission(self, request, obj=None):
        # Subscriptions point at plans: retire one with is_active instead.
        return False


@admin.register(CreditPack)
class CreditPackAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "credits", "is_active")
    list_filter = ("is_active",)
    readonly_fields = ("created_at", "updated_at")
    inlines = [PackTextInline, PackPriceInline]

    def has_delete_permission(self, request, obj=None):
        return False


# --- Stripe mirror --------------------------------------------------------------------------


@admin.register(Subscription)
class SubscriptionAdmin(ReadOnlyAdmin):
    list_display = ("stripe_subscription_id", "user", "plan", "status", "current_period_end",
                    "cancel_at_period_end", "paid_plan", "paid_through", "synced_at")
    list_filter = ("status", "plan", "cancel_at_period_end")
    search_fields = ("=stripe_subscription_id", "=stripe_customer_id", "user__handle", "user__email")
    list_select_related = ("user", "plan", "paid_plan")
    readonly_fields = ("entitlements_now",)
    actions = ("refresh_from_stripe",)

    def get_fields(self, request, obj=None):
        return ["entitlements_now"] + [f.name for f in Subscription._meta.fields]

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)

    @admin.display(description="Entitlements now (and why)")
    def entitlements_now(self, obj):
        return _entitlements_html(obj.user_id)

    @admin.action(description="Refresh from Stripe")
    def refresh_from_stripe(self, request, queryset):
        for sub in queryset:
            subscription_services.subscription_sync(stripe_subscription_id=sub.stripe_subscription_id,
                                                    stripe_customer_id=sub.stripe_customer_id)
        self.message_user(request, f"Refreshed: {queryset.count()}")


@admin.register(StripeEvent)
class StripeEventAdmin(ReadOnlyAdmin):
    list_display = ("event_id", "source", "type", "status", "attempts", "object_id", "received_at", "processed_at")
    list_filter = ("source", "status", "type")
    search_fields = ("=event_id", "=object_id", "type")
    date_hierarchy = "received_at"
    actions = ("replay",)
    readonly_fields = ("event_id", "source", "type", "status", "attempts", "object_id", "api_version", "livemode",
                       "stripe_created", "received_at", "processed_at", "replayed_by", "last_error", "traceback_pre",
                       "payload_pre")
    fields = readonly_fields

    @admin.display(description="Traceback")
    def traceback_pre(self, obj):
        return format_html("<pre>{}</pre>", obj.traceback) if obj.traceback else "-"

    @admin.display(description="Payload")
    def payload_pre(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.payload, indent=2, sort_keys=True))

    @admin.action(description="Replay (run the handler again)")
    def replay(self, request, queryset):
        for event in queryset:
            result = webhooks.stripe_event_replay(event_id=event.event_id, staff_id=request.user.pk)
            level = messages.SUCCESS if result.http_status == 200 else messages.ERROR
            self.message_user(request, f"{event.event_id}: {result.outcome}", level=level)


@admin.register(WebhookAttempt)
class WebhookAttemptAdmin(ReadOnlyAdmin):
    list_display = ("received_at", "outcome", "http_status", "event_id", "event_type", "remote_addr", "detail")
    list_filter = ("outcome", "http_status")
    search_fields = ("=event_id", "body_sha256")
    date_hierarchy = "received_at"


@admin.register(CheckoutSession)
class CheckoutSessionAdmin(ReadOnlyAdmin):
    list_display = ("id", "user", "kind", "plan", "pack", "currency", "unit_amount", "status", "created_at",
                    "completed_at")
    list_filter = ("kind", "status", "currency")
    search_fields = ("=id", "=stripe_session_id", "=stripe_payment_intent_id", "user__handle", "user__email")
    list_select_related = ("user", "plan", "pack")


@admin.register(PlanChange)
class PlanChangeAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "user", "direction", "from_plan", "to_plan", "status", "error")
    list_filter = ("direction", "status")
    search_fields = ("user__handle", "user__email", "=stripe_subscription_id")


@admin.register(BillingCustomer)
class BillingCustomerAdmin(ReadOnlyAdmin):
    list_display = ("user", "stripe_customer_id", "currency", "created_at")
    search_fields = ("=stripe_customer_id", "user__handle", "user__email")


# --- the ledger -----------------------------------------------------------------------------


@admin.register(CreditAccount)
class CreditAccountAdmin(ReadOnlyAdmin):
    """A user's billing at a glance: balance by kind, lots, entitlements and why."""

    list_display = ("user", "available", "reserved", "updated_at")
    search_fields = ("user__handle", "user__email")
    readonly_fields = ("user", "available", "reserved", "balance_by_kind", "entitlements_now", "subscription_link",
                       "lots", "ledger_links", "updated_at")
    fields = readonly_fields

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # Expired lots are written down first, so the balance, by kind and lots agree on the page.
        account = self.get_object(request, object_id)
        if account is not None:
            services.credits_expire_due(user_id=account.user_id)
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description="Available by kind")
    def balance_by_kind(self, obj):
        balance = selectors.credit_balance(user_id=obj.user_id)
        return ", ".join(f"{kind}: {amount}" for kind, amount in balance.by_kind.items())

    @admin.display(description="Entitlements now (and why)")
    def entitlements_now(self, obj):
        return _entitlements_html(obj.user_id)

    @admin.display(description="Subscription")
    def subscription_link(self, obj):
        sub = selectors.current_subscription(user_id=obj.user_id)
        if sub is None:
            return "-"
        url = reverse("admin:billing_subscription_change", args=[sub.pk])
        return format_html('<a href="{}">{} ({})</a>', url, sub.stripe_subscription_id, sub.status)

    @admin.display(description="Ledger")
    def ledger_links(self, obj):
        entries = reverse("admin:billing_creditentry_changelist") + f"?user__id__exact={obj.user_id}"
        adjust = reverse("admin:billing_creditentry_add") + f"?user={obj.user_id}"
        return format_html('<a href="{}">Entries</a> · <a href="{}">Add a reasoned adjustment</a>', entries, adjust)

    @admin.display(description="Credit lots (newest first)")
    def lots(self, obj):
        rows = [(lot.kind, lot.amount, lot.remaining, lot.expires_at or "never", lot.source,
                 lot.closed_reason or "open")
                for lot in CreditLot.objects.filter(user_id=obj.user_id).order_by("-created_at", "-id")[:50]]
        header = format_html("<tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
                             "Kind", "Granted", "Remaining", "Expires", "Source", "State")
        body = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                                rows)
        return format_html("<table>{}{}</table>", header, body)


class AdjustmentForm(forms.ModelForm):
    """Staff never edit the ledger: they add an adjustment entry, with a reason."""

    user = forms.ModelChoiceField(queryset=User.objects.all(), widget=forms.TextInput,
                                  help_text="User id")
    amount = forms.IntegerField(help_text="Credits to add (negative to remove). Added credits are bonus credits; "
                                          "removed ones come out in spending order.")
    reason = forms.CharField(max_length=300, required=True)

    class Meta:
        model = CreditEntry
        fields = ("user", "amount", "reason")

    def clean_reason(self):
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError(_("An adjustment needs a reason."))
        return reason

    def clean(self):
        data = super().clean()
        user, amount = data.get("user"), data.get("amount")
        if amount == 0:
            self.add_error("amount", _("An adjustment must change the balance."))
        elif user is not None and amount is not None and amount < 0:
            # The service checks again under the row lock; this turns the usual case into a form error.
            available = selectors.credit_balance(user_id=user.pk).available
            if -amount > available:
                self.add_error("amount", f"Only {available} credits are available to remove.")
        return data


class CreditMovementInline(admin.TabularInline):
    model = CreditMovement
    fields = ("lot", "lot_kind", "amount")
    readonly_fields = fields
    extra = 0
    can_delete = False

    @admin.display(description="Kind")
    def lot_kind(self, obj):
        return obj.lot.kind

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(CreditEntry)
class CreditEntryAdmin(admin.ModelAdmin):
    list_display = ("created_at", "user", "kind", "available_delta", "reserved_delta", "available_after",
                    "reserved_after", "reference", "reason", "created_by")
    list_filter = ("kind", "created_at")
    search_fields = ("user__handle", "user__email", "reference", "reason")
    date_hierarchy = "created_at"
    list_select_related = ("user", "created_by")

    def get_inlines(self, request, obj):
        return [CreditMovementInline] if obj is not None else []

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            return AdjustmentForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in CreditEntry._meta.fields] if obj is not None else []

    def get_fields(self, request, obj=None):
        return ["user", "amount", "reason"] if obj is None else [f.name for f in CreditEntry._meta.fields]

    def save_model(self, request, obj, form, change):
        entry = services.credits_adjust(
            user_id=form.cleaned_data["user"].pk, amount=form.cleaned_data["amount"],
            reason=form.cleaned_data["reason"], staff_id=request.user.pk, key=f"adjustment:{uuid.uuid4()}",
        )
        # The admin goes on with `obj` (its log entry, the redirect): make it the written entry.
        for field in CreditEntry._meta.concrete_fields:
            setattr(obj, field.attname, getattr(entry, field.attname))

    def save_related(self, request, form, formsets, change):
        pass  # the entry and its movements were written by the service

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(CreditLot)
class CreditLotAdmin(ReadOnlyAdmin):
    list_display = ("user", "kind", "amount", "remaining", "expires_at", "source", "closed_at", "closed_reason")
    list_filter = ("kind", "closed_reason")
    search_fields = ("user__handle", "user__email", "source")
    list_select_related = ("user",)


def dashboard_figures() -> list[Figure]:
    """The dashboard's billing card (registered in apps.py): events that failed to process and
    webhook requests answered 5xx in the last day, each linking to its list filtered so."""
    failed = selectors.failed_stripe_events().count()
    since = timezone.now() - timedelta(days=1)
    attempts = selectors.failing_webhook_attempts(since=since).count()
    query = urlencode({"http_status__gte": 500, "received_at__gte": since.isoformat()})
    return [
        Figure("Stripe events failed", failed,
               reverse("admin:billing_stripeevent_changelist") + "?status__exact=failed", alert=failed > 0),
        Figure("Webhook requests failing (last day)", attempts,
               f"{reverse('admin:billing_webhookattempt_changelist')}?{query}", alert=attempts > 0),
    ]


from . import admin_stores  # noqa: E402,F401 (App Store / Google Play subscriptions)
