from __future__ import annotations

from django.utils.translation import gettext as _
from rest_framework import serializers

from .models import CheckoutSession, CreditEntry, PlanChange, Subscription
from .selectors import entry_by_kind


class CheckoutRequestSerializer(serializers.Serializer):
    """Exactly one of plan or pack. The buyer is always the signed-in user: there is no
    field naming a user or a customer, and unknown fields are refused."""

    plan = serializers.CharField(max_length=40, required=False)
    pack = serializers.CharField(max_length=40, required=False)

    def validate(self, attrs):
        unknown = set(self.initial_data) - set(self.fields)
        if unknown:
            raise serializers.ValidationError(
                {name: [serializers.ErrorDetail(_("Unknown field."), code="unknown_field")] for name in sorted(unknown)})
        if ("plan" in attrs) == ("pack" in attrs):
            raise serializers.ValidationError(_("Choose a plan or a pack."), code="plan_or_pack_required")
        return attrs


class PriceSerializer(serializers.Serializer):
    currency = serializers.CharField()
    unit_amount = serializers.IntegerField(help_text="Minor units of the currency (cents; yen for jpy).")
    display = serializers.CharField(help_text="The price for people, formatted for the response's language "
                                              "(e.g. `R$ 49,90`).")
    interval = serializers.CharField(required=False)


# selectors.PlanLimits, the one copy of these fields: plans and entitlements inherit them.
# (Comments, not docstrings, on these serializers: a docstring becomes the schema's description.)
class PlanLimitsSerializer(serializers.Serializer):
    monthly_credits = serializers.IntegerField()
    max_concurrent_jobs = serializers.IntegerField()
    max_duration_seconds = serializers.IntegerField()
    max_short_side = serializers.IntegerField()
    queue_priority = serializers.IntegerField()
    watermark = serializers.BooleanField()
    daily_generations = serializers.IntegerField(help_text="Generations a day; 0: no limit.")
    max_queued_jobs = serializers.IntegerField()


class CatalogueItemSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField(help_text="In the response's language when staff translated it.")
    description = serializers.CharField(allow_blank=True)


# DRF puts the fields of the bases first, in the order the bases are listed: these bases keep
# the fields where the responses have always had them.
class PlanOutSerializer(CatalogueItemSerializer, PlanLimitsSerializer):
    price = PriceSerializer(allow_null=True)


class PackOutSerializer(CatalogueItemSerializer):
    credits = serializers.IntegerField()
    price = PriceSerializer()


class PlansResponseSerializer(serializers.Serializer):
    currency = serializers.CharField()
    current_plan = serializers.CharField(allow_null=True)
    billing_offered = serializers.BooleanField(help_text="False in a market without billing: only the free tier.")
    stores = serializers.ListField(child=serializers.CharField(), help_text="Where to buy: `stripe` (web), "
                                   "`app_store`, `google_play`; empty without billing.")
    plans = PlanOutSerializer(many=True)
    packs = PackOutSerializer(many=True)


class CheckoutSessionSerializer(serializers.ModelSerializer):
    checkout_id = serializers.UUIDField(source="id")
    kind = serializers.CharField(help_text="plan or pack")
    plan = serializers.CharField(source="plan.code", allow_null=True, default=None)
    pack = serializers.CharField(source="pack.code", allow_null=True, default=None)

    class Meta:
        model = CheckoutSession
        fields = ("checkout_id", "kind", "plan", "pack", "url", "status", "currency", "unit_amount", "expires_at")


class SubscriptionSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="stripe_subscription_id")
    plan = serializers.CharField(source="plan.code", allow_null=True, default=None)

    class Meta:
        model = Subscription
        fields = ("id", "plan", "status", "currency", "current_period_start", "current_period_end",
                  "cancel_at_period_end", "cancel_at", "canceled_at", "ended_at", "trial_end")


class PlanChangeSerializer(serializers.ModelSerializer):
    from_plan = serializers.CharField(source="from_plan.code", allow_null=True, default=None)
    to_plan = serializers.CharField(source="to_plan.code")

    class Meta:
        model = PlanChange
        fields = ("id", "direction", "from_plan", "to_plan", "status", "created_at")


class PlanChangeResponseSerializer(serializers.Serializer):
    plan_change = PlanChangeSerializer()
    subscription = SubscriptionSerializer()


# A base only so that these fields come before the limits (see PlanOutSerializer).
class ActiveSubscriptionSerializer(serializers.Serializer):
    store = serializers.CharField(help_text="stripe, apple or google")
    subscription_id = serializers.CharField()
    plan = serializers.CharField(source="plan_code")
    status = serializers.CharField(help_text="subscription or grace")
    valid_until = serializers.DateTimeField(allow_null=True)


class _EntitlementsBasisSerializer(serializers.Serializer):
    plan = serializers.CharField(source="plan_code")
    plan_name = serializers.CharField()
    source = serializers.CharField(help_text="free, subscription or grace")
    reason = serializers.CharField()
    valid_until = serializers.DateTimeField(allow_null=True)
    store = serializers.CharField(help_text="stripe, apple, google; empty when free")
    active_subscriptions = ActiveSubscriptionSerializer(many=True)


# selectors.Entitlements: the plan, why the user has it, until when, and its limits.
class EntitlementsSerializer(_EntitlementsBasisSerializer, PlanLimitsSerializer):
    pass


class DailyQuotaSerializer(serializers.Serializer):
    limit = serializers.IntegerField(help_text="0: no limit")
    used = serializers.IntegerField()
    remaining = serializers.IntegerField(allow_null=True)
    resets_at = serializers.DateTimeField()


class SubscriptionResponseSerializer(serializers.Serializer):
    subscription = SubscriptionSerializer(allow_null=True)
    entitlements = EntitlementsSerializer()
    daily_quota = DailyQuotaSerializer()


class ExpiringSerializer(serializers.Serializer):
    amount = serializers.IntegerField()
    expires_at = serializers.DateTimeField()


class BalanceSerializer(serializers.Serializer):
    available = serializers.IntegerField()
    reserved = serializers.IntegerField()
    by_kind = serializers.DictField(child=serializers.IntegerField(), help_text="plan, bonus and pack credits")
    expiring = ExpiringSerializer(many=True)


class CreditEntrySerializer(serializers.ModelSerializer):
    kind = serializers.CharField(help_text="grant, reserve, capture, release, adjustment, expire or clawback")
    by_kind = serializers.SerializerMethodField()

    class Meta:
        model = CreditEntry
        fields = ("id", "kind", "available_delta", "reserved_delta", "available_after", "reserved_after",
                  "by_kind", "reference", "reason", "created_at")

    def get_by_kind(self, entry: CreditEntry) -> dict[str, int]:
        return entry_by_kind(entry)


class CreditsResponseSerializer(serializers.Serializer):
    balance = BalanceSerializer()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = CreditEntrySerializer(many=True)


class UrlSerializer(serializers.Serializer):
    url = serializers.URLField()


class StoreSubscriptionSerializer(serializers.Serializer):
    store = serializers.CharField(help_text="apple or google")
    product_id = serializers.CharField()
    plan = serializers.CharField(source="plan.code", allow_null=True, default=None)
    status = serializers.CharField()
    expires_at = serializers.DateTimeField(allow_null=True)
    grace_until = serializers.DateTimeField(allow_null=True)
    auto_renew = serializers.BooleanField()


class StorePurchaseResponseSerializer(serializers.Serializer):
    subscription = StoreSubscriptionSerializer()
    entitlements = EntitlementsSerializer()


class AppleTransactionRequestSerializer(serializers.Serializer):
    signed_transaction = serializers.CharField(max_length=20000, help_text="The StoreKit 2 transaction's JWS.")


class GooglePurchaseRequestSerializer(serializers.Serializer):
    purchase_token = serializers.CharField(max_length=600)


class StoreAccountTokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Apple appAccountToken / Google obfuscatedExternalAccountId to set "
                                            "at purchase.")
