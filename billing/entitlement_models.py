"""Store-neutral subscriptions: App Store and Google Play beside Stripe, one entitlement model.

Imported by billing.models (Django finds them there). Stripe keeps its own richer mirror
(billing.models.Subscription); `billing.selectors.user_entitlements` reads both, through
one shape (`selectors.SubscriptionView`), and the best active one wins.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class Store(models.TextChoices):
    STRIPE = "stripe", "Stripe"
    APPLE = "apple", "App Store"
    GOOGLE = "google", "Google Play"


class StoreProduct(models.Model):
    """A store's product id for one of our plans (edited in the admin, on the plan)."""

    plan = models.ForeignKey("billing.Plan", on_delete=models.CASCADE, related_name="store_products")
    store = models.CharField(max_length=8, choices=[c for c in Store.choices if c[0] != Store.STRIPE])
    product_id = models.CharField(max_length=150, help_text="App Store product id / Play subscription product id.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["store", "product_id"], name="billing_storeproduct_unique")]

    def __str__(self) -> str:
        return f"{self.store}:{self.product_id} -> {self.plan_id}"


class StoreAccountToken(models.Model):
    """The token we hand a user for the store purchase (Apple appAccountToken, a UUID; Google
    obfuscatedExternalAccountId, the same string): a purchase carrying it is that user's."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True,
                                related_name="store_account_token")
    token = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.user_id}: {self.token}"


class StoreSubscription(models.Model):
    """One App Store or Google Play subscription, as the store last told us (a verified
    notification, a verified client transaction, or the Play Developer API)."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        GRACE = "grace", "In billing grace (still entitled)"
        BILLING_RETRY = "billing_retry", "Billing retry (not entitled)"
        ON_HOLD = "on_hold", "On hold (not entitled)"
        PAUSED = "paused", "Paused (not entitled)"
        CANCELED = "canceled", "Canceled (entitled until expiry)"
        EXPIRED = "expired", "Expired"
        REVOKED = "revoked", "Refunded or revoked"
        PENDING = "pending", "Pending payment"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="store_subscriptions")
    store = models.CharField(max_length=8, choices=Store.choices)
    # Apple: originalTransactionId; Google: the purchase token (linkedPurchaseToken chains are kept apart).
    store_key = models.CharField(max_length=600)
    product_id = models.CharField(max_length=150, blank=True)
    plan = models.ForeignKey("billing.Plan", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=14, choices=Status.choices)
    environment = models.CharField(max_length=20, blank=True)
    latest_transaction_id = models.CharField(max_length=150, blank=True)
    period_start = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    grace_until = models.DateTimeField(null=True, blank=True)
    auto_renew = models.BooleanField(default=False)
    # The plan it renews into (an Apple downgrade takes effect at the next renewal).
    renews_to_product_id = models.CharField(max_length=150, blank=True)
    # When the store signed the state we hold: an older state arriving later is not applied.
    state_at = models.DateTimeField(null=True, blank=True)
    acknowledged = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    synced_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["store", "store_key"], name="billing_storesub_unique")]
        indexes = [models.Index(fields=["user", "-created_at"], name="billing_storesub_user_recent")]

    def __str__(self) -> str:
        return f"{self.store}:{self.store_key[:24]} ({self.status})"


class DailyUsage(models.Model):
    """Generations a user started on one quota day (billing.quotas.quota_day_start). The row
    is the lock the quota check takes, so concurrent submissions cannot both take the last one."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    day_start = models.DateTimeField()
    used = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "day_start"], name="billing_dailyusage_unique")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.day_start:%Y-%m-%d}: {self.used}"
