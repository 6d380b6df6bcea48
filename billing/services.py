"""The credit ledger: grant, reserve, capture, release, adjustment.

Every function locks the user's CreditAccount row, checks the idempotency key
under that lock, appends one CreditEntry and updates the balance in the same
transaction. Running any of them twice with the same key changes nothing the
second time, which is what makes settlement exactly-once even when a Celery
task runs twice.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import IntegrityError, transaction

from config.errors import ApplicationError

from .models import CreditAccount, CreditEntry

logger = logging.getLogger(__name__)


class InsufficientCredits(ApplicationError):
    status_code = 402
    code = "insufficient_credits"


def _locked_account(user_id: int) -> CreditAccount:
    """The user's account, locked FOR UPDATE; created with the sign-up grant on first use."""
    account = CreditAccount.objects.select_for_update().filter(user_id=user_id).first()
    if account is not None:
        return account
    try:
        with transaction.atomic():
            grant = settings.CREDITS_SIGNUP_GRANT
            CreditAccount.objects.create(user_id=user_id, available=grant)
            if grant:
                CreditEntry.objects.create(
                    user_id=user_id, kind=CreditEntry.Kind.GRANT, available_delta=grant, available_after=grant,
                    reserved_after=0, reference="signup", idempotency_key=f"signup:{user_id}",
                    reason="Welcome credits",
                )
    except IntegrityError:
        pass  # a concurrent first use created it
    return CreditAccount.objects.select_for_update().get(user_id=user_id)


def _append(account: CreditAccount, *, kind: str, available_delta: int, reserved_delta: int, key: str,
            reference: str = "", reason: str = "", created_by_id: int | None = None) -> CreditEntry:
    account.available += available_delta
    account.reserved += reserved_delta
    if account.available < 0 or account.reserved < 0:
        raise InsufficientCredits(
            f"Not enough credits: {account.available - available_delta} available.",
        )
    account.save(update_fields=["available", "reserved", "updated_at"])
    entry = CreditEntry.objects.create(
        user_id=account.user_id, kind=kind, available_delta=available_delta, reserved_delta=reserved_delta,
        available_after=account.available, reserved_after=account.reserved, reference=reference,
        idempotency_key=key, reason=reason, created_by_id=created_by_id,
    )
    logger.info("billing.ledger_entry", extra={"user_id": account.user_id, "kind": kind,
                                               "available_delta": available_delta, "reference": reference})
    return entry


def _existing(key: str) -> CreditEntry | None:
    return CreditEntry.objects.filter(idempotency_key=key).first()


@transaction.atomic
def credits_grant(*, user_id: int, amount: int, key: str, reason: str = "", reference: str = "") -> CreditEntry:
    if amount <= 0:
        raise ValueError("a grant must be positive")
    account = _locked_account(user_id)
    return _existing(key) or _append(account, kind=CreditEntry.Kind.GRANT, available_delta=amount, reserved_delta=0,
                                     key=key, reference=reference, reason=reason)


@transaction.atomic
def credits_reserve(*, user_id: int, amount: int, reference: str) -> CreditEntry:
    """Moves `amount` from available to reserved, or raises InsufficientCredits (402)."""
    if amount <= 0:
        raise ValueError("a reservation must be positive")
    account = _locked_account(user_id)
    key = f"reserve:{reference}"
    return _existing(key) or _append(account, kind=CreditEntry.Kind.RESERVE, available_delta=-amount,
                                     reserved_delta=amount, key=key, reference=reference)


def _settle(user_id: int, reference: str, kind: str) -> CreditEntry | None:
    account = _locked_account(user_id)
    reservation = _existing(f"reserve:{reference}")
    if reservation is None:
        return None
    # One settlement per reservation, whichever comes first: a capture after a
    # release (or the reverse) is refused by returning the first one.
    for settled_kind in (CreditEntry.Kind.CAPTURE, CreditEntry.Kind.RELEASE):
        done = _existing(f"{settled_kind}:{reference}")
        if done is not None:
            return done
    amount = reservation.reserved_delta
    if kind == CreditEntry.Kind.CAPTURE:
        return _append(account, kind=kind, available_delta=0, reserved_delta=-amount, key=f"capture:{reference}",
                       reference=reference)
    return _append(account, kind=kind, available_delta=amount, reserved_delta=-amount, key=f"release:{reference}",
                   reference=reference)


@transaction.atomic
def credits_capture(*, user_id: int, reference: str) -> CreditEntry | None:
    """The reserved credits are spent. Exactly once per reservation."""
    return _settle(user_id, reference, CreditEntry.Kind.CAPTURE)


@transaction.atomic
def credits_release(*, user_id: int, reference: str) -> CreditEntry | None:
    """The reserved credits go back to available. Exactly once per reservation."""
    return _settle(user_id, reference, CreditEntry.Kind.RELEASE)


@transaction.atomic
def credits_adjust(*, user_id: int, amount: int, reason: str, staff_id: int, key: str) -> CreditEntry:
    """A manual correction by staff; always carries a reason and who made it."""
    if not reason.strip():
        raise ApplicationError("An adjustment needs a reason.", code="reason_required")
    if amount == 0:
        raise ApplicationError("An adjustment must change the balance.", code="amount_zero")
    account = _locked_account(user_id)
    return _existing(key) or _append(account, kind=CreditEntry.Kind.ADJUSTMENT, available_delta=amount,
                                     reserved_delta=0, key=key, reason=reason.strip(), created_by_id=staff_id,
                                     reference="adjustment")
