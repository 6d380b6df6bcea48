"""Billing's section of the account export: the user's credit history (the ledger)."""

from __future__ import annotations

from accounts.exports.registry import Section, account_export_section_register

from .models import CreditEntry


def _credit_history(user) -> Section:
    return Section(data=CreditEntry.objects.filter(user_id=user.pk).order_by("created_at", "pk")
                   .values("kind", "available_delta", "reserved_delta", "available_after", "reserved_after",
                           "reference", "reason", "created_at").iterator(chunk_size=2000))


def account_export_sections_register() -> None:
    account_export_section_register("credit_history", _credit_history)
