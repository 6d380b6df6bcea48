from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

currency_validator = RegexValidator(r"^[a-z]{3}$", message=_("A lowercase ISO 4217 code, e.g. usd."),
                                    code="currency_invalid")
code_validator = RegexValidator(r"^[a-z0-9][a-z0-9_-]{0,39}$", message=_("Lowercase letters, digits, '-' and '_'."),
                                code="code_invalid")


# --- catalogue: plans and credit packs (edited by staff in the admin) ------------------


class Plan(models.Model):
    """A paid subscription tier. The free tier is not a row: it comes from settings
    (GENERATION_FREE_*), so every user always has limits even on an empty database."""

    code = models.CharField(max_length=40, unique=True, validators=[code_validator])
    name = models.CharField(max_length=80)
    description = models.CharField(max_length=300, blank=True)  # texts in other languages: PlanText
    # Decides upgrade (now, prorated) versus downgrade (paid plan kept to the period end).
    rank = models.PositiveSmallIntegerField(default=1, help_text="Higher is a better plan.")
    monthly_credits = models.PositiveIntegerField()
    max_concurrent_jobs = models.PositiveSmallIntegerField(validators=[MinValueValidator(1)])
    # More queued at once is refused (429 queue_full): one user cannot fill the GPU queue.
    max_queued_jobs = models.PositiveSmallIntegerField(default=20, validators=[MinValueValidator(1)])
    max_duration_seconds = models.PositiveSmallIntegerField(validators=[MinValueValidator(1)])
    max_short_side = models.PositiveSmallIntegerField(help_text="Largest resolution, short side in pixels.")
    queue_priority = models.PositiveSmallIntegerField(default=5, validators=[MaxValueValidator(9)],
                                                      help_text="0-9, higher runs sooner.")
    removes_watermark = models.BooleanField(default=False)
    daily_generations = models.PositiveIntegerField(default=100, help_text="Generations a day (0: no limit).")
    # Inactive plans are not sold any more; existing subscribers keep them.
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("rank", "code")

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class CreditPack(models.Model):
    """A one-time purchase of extra credits that never expire."""

    code = models.CharField(max_length=40, unique=True, validators=[code_validator])
    name = models.CharField(max_length=80)
    description = models.CharField(max_length=300, blank=True)  # texts in other languages: PackText
    credits = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("credits", "code")

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class _Text(models.Model):
    """A plan's or pack's name and description in one language (the row's own fields are the
    default, shown when the viewer's language has none)."""

    language = models.CharField(max_length=16, help_text="A code of settings.LANGUAGES, e.g. pt-br.")
    name = models.CharField(max_length=80)
    description = models.CharField(max_length=300, blank=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.language}: {self.name}"


class PlanText(_Text):
    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="texts")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["plan", "language"], name="billing_plantext_one_per_lang")]


class PackText(_Text):
    pack = models.ForeignKey(CreditPack, on_delete=models.CASCADE, related_name="texts")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["pack", "language"], name="billing_packtext_one_per_lang")]


class _Price(models.Model):
    """A Stripe price in one currency. `unit_amount` (minor units) is our display copy of it."""

    currency = models.CharField(max_length=3, validators=[currency_validator])
    unit_amount = models.PositiveIntegerField(help_text="In the currency's minor unit (cents).")
    stripe_price_id = models.CharField(max_length=100, unique=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.unit_amount} {self.currency} ({self.stripe_price_id})"


class PlanPrice(_Price):
    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="prices")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["plan", "currency"], name="billing_planprice_one_per_currency")]


class PackPrice(_Price):
    pack = models.ForeignKey(CreditPack, on_delete=models.CASCADE, related_name="prices")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["pack", "currency"], name="billing_packprice_one_per_currency")]


# --- Stripe mirror ------------------------------------------------------------------------


class BillingCustomer(models.Model):
    """The user's Stripe customer. The row is also the per-user billing lock: checkout and
    every webhook about the user lock it, so their writes never interleave."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True,
                                related_name="billing_customer")
    stripe_customer_id = models.CharField(max_length=100, unique=True)
    # Stripe customers keep one currency once they have paid: later purchases use it.
    currency = models.CharField(max_length=3, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.user_id}: {self.stripe_customer_id}"


class CheckoutSession(models.Model):
    """Our side of a Stripe Checkout Session. Its id is the Stripe idempotency key and the
    session's client_reference_id, so a completed session maps back to exactly this row."""

    class Kind(models.TextChoices):
        PLAN = "plan", "Plan"
        PACK = "pack", "Credit pack"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        COMPLETE = "complete", "Complete"
        EXPIRED = "expired", "Expired"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="checkout_sessions")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    plan = models.ForeignKey(Plan, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    pack = models.ForeignKey(CreditPack, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    currency = models.CharField(max_length=3)
    unit_amount = models.PositiveIntegerField()
    stripe_price_id = models.CharField(max_length=100)
    # Snapshot at purchase: editing the pack later changes nothing already sold.
    credits = models.PositiveIntegerField(default=0)
    stripe_session_id = models.CharField(max_length=100, unique=True, null=True, blank=True)
    url = models.CharField(max_length=1000, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    expires_at = models.DateTimeField(null=True, blank=True)
    stripe_subscription_id = models.CharField(max_length=100, blank=True)
    stripe_payment_intent_id = models.CharField(max_length=100, blank=True, db_index=True)
    # The client's Idempotency-Key: a retried request returns the same session.
    idempotency_key = models.CharField(max_length=128, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "idempotency_key"], name="billing_checkout_idempotency"),
            models.CheckConstraint(
                condition=(models.Q(kind="plan", plan__isnull=False, pack__isnull=True)
                           | models.Q(kind="pack", pack__isnull=False, plan__isnull=True)),
                name="billing_checkout_plan_xor_pack",
            ),
        ]
        indexes = [models.Index(fields=["user", "-created_at"], name="billing_checkout_user_recent")]

    def __str__(self) -> str:
        return f"{self.kind} checkout {self.pk} ({self.status})"


class Subscription(models.Model):
    """A mirror of one Stripe subscription, rewritten from `subscriptions.retrieve` on
    every related event: Stripe is the truth, the order events arrive in is not."""

    class Status(models.TextChoices):
        INCOMPLETE = "incomplete", "Incomplete"
        INCOMPLETE_EXPIRED = "incomplete_expired", "Incomplete, expired"
        TRIALING = "trialing", "Trialing"
        ACTIVE = "active", "Active"
        PAST_DUE = "past_due", "Past due"
        CANCELED = "canceled", "Canceled"
        UNPAID = "unpaid", "Unpaid"
        PAUSED = "paused", "Paused"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="subscriptions")
    stripe_subscription_id = models.CharField(max_length=100, unique=True)
    stripe_customer_id = models.CharField(max_length=100)
    stripe_price_id = models.CharField(max_length=100)
    # Null when the price is not one of our plans' (then the user gets nothing paid from it).
    plan = models.ForeignKey(Plan, null=True, blank=True, on_delete=models.PROTECT, related_name="subscriptions")
    currency = models.CharField(max_length=3, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices)
    current_period_start = models.DateTimeField(null=True, blank=True)
    current_period_end = models.DateTimeField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    cancel_at = models.DateTimeField(null=True, blank=True)
    canceled_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    trial_end = models.DateTimeField(null=True, blank=True)
    # The plan of the last paid invoice and the end of the period it paid for: after a
    # downgrade the user keeps what they paid for until then.
    paid_plan = models.ForeignKey(Plan, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    paid_through = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    synced_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["user", "-created_at"], name="billing_sub_user_recent")]

    def __str__(self) -> str:
        return f"{self.stripe_subscription_id} ({self.status})"


class PlanChange(models.Model):
    """A subscriber's move to another plan through a subscription update (never a second
    subscription). Its id is the idempotency key of the Stripe update."""

    class Direction(models.TextChoices):
        UPGRADE = "upgrade", "Upgrade (now, prorated)"
        DOWNGRADE = "downgrade", "Downgrade (paid plan kept to the period end)"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="plan_changes")
    stripe_subscription_id = models.CharField(max_length=100, db_index=True)
    from_plan = models.ForeignKey(Plan, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    to_plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="+")
    direction = models.CharField(max_length=10, choices=Direction.choices)
    stripe_price_id = models.CharField(max_length=100)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.direction} to {self.to_plan_id} ({self.status})"


class StripeEvent(models.Model):
    """Each Stripe event, stored once (unique event id). The row lock serialises copies of
    the same event: the first one processes it, the others find it done."""

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        PROCESSED = "processed", "Processed"
        IGNORED = "ignored", "Ignored (type not handled)"
        FAILED = "failed", "Failed"

    # Stripe's event id; a store's is prefixed ("apple:<notificationUUID>", "google:<messageId>").
    event_id = models.CharField(max_length=100, unique=True)
    # Which store sent it: the same storage, lock and replay serve every store.
    source = models.CharField(max_length=8, default="stripe", db_index=True)
    type = models.CharField(max_length=100, db_index=True)
    api_version = models.CharField(max_length=40, blank=True)
    livemode = models.BooleanField(default=False)
    object_id = models.CharField(max_length=100, blank=True, db_index=True)
    stripe_created = models.DateTimeField(null=True, blank=True)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RECEIVED)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    traceback = models.TextField(blank=True)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    replayed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")

    def __str__(self) -> str:
        return f"{self.event_id} {self.type} ({self.status})"


class WebhookAttempt(models.Model):
    """Audit row of every webhook request, valid or not."""

    class Outcome(models.TextChoices):
        PROCESSED = "processed", "Processed"
        IGNORED = "ignored", "Ignored"
        DUPLICATE = "duplicate", "Duplicate (already processed)"
        FAILED = "failed", "Failed (5xx, Stripe retries)"
        BAD_SIGNATURE = "bad_signature", "Bad or stale signature"
        MISSING_SIGNATURE = "missing_signature", "Missing signature"
        MALFORMED = "malformed", "Malformed payload"
        NOT_CONFIGURED = "not_configured", "Webhook secret not configured"

    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    http_status = models.PositiveSmallIntegerField()
    event_id = models.CharField(max_length=100, blank=True, db_index=True)
    event_type = models.CharField(max_length=100, blank=True)
    signature_header = models.CharField(max_length=500, blank=True)
    body_sha256 = models.CharField(max_length=64)
    body_bytes = models.PositiveIntegerField()
    remote_addr = models.CharField(max_length=64, blank=True)
    detail = models.CharField(max_length=500, blank=True)

    def __str__(self) -> str:
        return f"{self.received_at:%Y-%m-%d %H:%M:%S} {self.outcome} {self.event_id}"


# --- the credit ledger ----------------------------------------------------------------


class CreditKind(models.TextChoices):
    """What a credit is, which decides when it expires and in which order it is spent."""

    PLAN = "plan", "Plan (expires at the period end)"
    BONUS = "bonus", "Bonus (sign-up, rewards, staff; never expires)"
    PACK = "pack", "Pack (bought; never expires)"


class CreditAccount(models.Model):
    """A user's credit balance. The row is the lock: every ledger write locks it
    first, so concurrent requests serialise and the balance never goes negative
    (the check constraints back that up at the database)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True,
                                related_name="credit_account")
    available = models.BigIntegerField(default=0)
    reserved = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(available__gte=0), name="billing_account_available_gte_0"),
            models.CheckConstraint(condition=models.Q(reserved__gte=0), name="billing_account_reserved_gte_0"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.available} (+{self.reserved} reserved)"


class CreditEntry(models.Model):
    """Append-only ledger. Nothing updates or deletes a row once written."""

    class Kind(models.TextChoices):
        GRANT = "grant", "Grant"
        RESERVE = "reserve", "Reserve"
        CAPTURE = "capture", "Capture"
        RELEASE = "release", "Release"
        ADJUSTMENT = "adjustment", "Adjustment"
        EXPIRE = "expire", "Expire"
        CLAWBACK = "clawback", "Claw back (refund)"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="credit_entries")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # Signed change of each bucket, so the balance is the sum of the rows.
    available_delta = models.BigIntegerField()
    reserved_delta = models.BigIntegerField(default=0)
    available_after = models.BigIntegerField()
    reserved_after = models.BigIntegerField()
    # What the entry is about, e.g. "generation:<uuid>" or "signup".
    reference = models.CharField(max_length=100, blank=True, db_index=True)
    # Makes each settlement happen once: a second write with the same key is a no-op.
    idempotency_key = models.CharField(max_length=150, unique=True)
    reason = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["user", "-created_at", "-id"], name="billing_entry_user_recent")]
        verbose_name_plural = "credit entries"

    def __str__(self) -> str:
        return f"{self.kind} {self.available_delta:+d}/{self.reserved_delta:+d} for {self.user_id}"


class CreditLot(models.Model):
    """One grant's credits (a bucket): where spending takes from and releases give back to.

    `remaining` is the lot's unreserved, unspent credits; the ledger entries and their
    movements are the history, this row is their running total (like CreditAccount).
    A closed lot (expired, or its pack refunded) takes nothing back: credits released
    into it leave the balance at once, with an `expire` or `clawback` entry.
    """

    class Closed(models.TextChoices):
        EXPIRED = "expired", "Expired"
        REFUNDED = "refunded", "Refunded"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="credit_lots")
    kind = models.CharField(max_length=8, choices=CreditKind.choices)
    amount = models.BigIntegerField(help_text="Credits granted.")
    remaining = models.BigIntegerField()
    expires_at = models.DateTimeField(null=True, blank=True)
    # e.g. "invoice:in_123", "pack:<checkout id>", "signup", "adjustment:<key>".
    source = models.CharField(max_length=150, db_index=True)
    grant_entry = models.OneToOneField(CreditEntry, null=True, blank=True, on_delete=models.PROTECT,
                                       related_name="lot")
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_reason = models.CharField(max_length=10, choices=Closed.choices, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(remaining__gte=0), name="billing_lot_remaining_gte_0"),
            models.CheckConstraint(condition=models.Q(remaining__lte=models.F("amount")),
                                   name="billing_lot_remaining_lte_amount"),
        ]
        indexes = [
            models.Index(fields=["user", "closed_at", "expires_at"], name="billing_lot_user_open"),
            models.Index(fields=["expires_at"], condition=models.Q(closed_at__isnull=True),
                         name="billing_lot_expiring"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} lot {self.pk}: {self.remaining}/{self.amount}"


class CreditMovement(models.Model):
    """How one ledger entry moved one lot's `remaining` (append-only, like the entries).

    A reservation's movements say which lots it took from, so its release puts the
    credits back into exactly those lots."""

    entry = models.ForeignKey(CreditEntry, on_delete=models.CASCADE, related_name="movements")
    lot = models.ForeignKey(CreditLot, on_delete=models.PROTECT, related_name="movements")
    amount = models.BigIntegerField()

    def __str__(self) -> str:
        return f"{self.amount:+d} lot {self.lot_id}"


# App Store / Google Play subscriptions and daily quotas, in their own module (found here by Django).
from .entitlement_models import (  # noqa: E402,F401,I001
    DailyUsage, Store, StoreAccountToken, StoreProduct, StoreSubscription,
)
