from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


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
