"""The credit ledger: grant, reserve, capture, release, adjust, expire, claw back.

Every function locks the user's CreditAccount row, checks the idempotency key
under that lock, appends CreditEntry rows and updates the balance in the same
transaction. Running any of them twice with the same key changes nothing the
second time, which is what makes settlement exactly-once even when a Celery
task runs twice or Stripe sends an event again.

Credits live in lots (CreditLot), one per grant, of three kinds: `plan` credits
expire at the end of the subscription period they were paid for; `bonus`
(sign-up, creator rewards, staff) and `pack` (bought) credits never expire.
Spending takes from the lot that expires soonest, then bonus before pack (free
credits go before paid ones, so a refunded pack's unspent credits are really
its own). Each entry's movements record which lots it touched; a release puts
credits back into the lots its reservation took them from. Expired lots are
closed once, under the lock, with an `expire` entry, lazily by any ledger call
(`credits_expire_due` before a balance is shown) and by the beat task
`billing.tasks.expire_credits`. `billing.selectors.credit_balance` only reads, and
leaves out what this would expire.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Case, F, IntegerField, Sum, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _

from config.errors import ApplicationError

from ..models import CreditAccount, CreditEntry, CreditKind, CreditLot, CreditMovement

logger = logging.getLogger(__name__)

# Among lots expiring at the same time (or never), free credits are spent before bought ones.
_SPEND_ORDER = Case(
    When(kind=CreditKind.PLAN, then=Value(0)),
    When(kind=CreditKind.BONUS, then=Value(1)),
    default=Value(2),
    output_field=IntegerField(),
)


class InsufficientCredits(ApplicationError):
    status_code = 402
    code = "insufficient_credits"


def _now() -> datetime:
    return timezone.now()


def _locked_account(user_id: int) -> CreditAccount:
    """The user's account, locked FOR UPDATE; created with the sign-up grant on first use."""
    account = CreditAccount.objects.select_for_update().filter(user_id=user_id).first()
    if account is not None:
        return account
    try:
        with transaction.atomic():
            account = CreditAccount.objects.create(user_id=user_id)
            grant = settings.CREDITS_SIGNUP_GRANT
            if grant:
                _grant(account, amount=grant, kind=CreditKind.BONUS, expires_at=None, key=f"signup:{user_id}",
                       reference="signup", reason="Welcome credits")
    except IntegrityError:
        pass  # a concurrent first use created it
    return CreditAccount.objects.select_for_update().get(user_id=user_id)


def _open_account(user_id: int) -> CreditAccount:
    """Locked, with lots past their expiry closed first: expired credits are never spent."""
    account = _locked_account(user_id)
    _expire_due(account, _now())
    return account


def _append(account: CreditAccount, *, kind: str, available_delta: int, reserved_delta: int, key: str,
            reference: str = "", reason: str = "", created_by_id: int | None = None,
            movements: Iterable[tuple[CreditLot, int]] = ()) -> CreditEntry:
    account.available += available_delta
    account.reserved += reserved_delta
    if account.available < 0 or account.reserved < 0:
        raise InsufficientCredits(
            f"Not enough credits: {account.available - available_delta} available.",
        )
    account.save(update_fields=["available", "reserved", "updated_at"])
    entry = CreditEntry.objects.create(
        user_id=account.user_id, kind=kind, available_delta=available_delta, reserved_delta=reserved_delta,
        available_after=account.available, reserved_after=account.reserved, reference=reference[:100],
        idempotency_key=key, reason=reason[:300], created_by_id=created_by_id,
    )
    rows = []
    for lot, amount in movements:
        if amount:
            lot.remaining += amount
            lot.save(update_fields=["remaining"])
            rows.append(CreditMovement(entry=entry, lot=lot, amount=amount))
    CreditMovement.objects.bulk_create(rows)
    logger.info("billing.ledger_entry", extra={"user_id": account.user_id, "kind": kind,
                                               "available_delta": available_delta, "reference": reference})
    return entry


def _existing(key: str) -> CreditEntry | None:
    return CreditEntry.objects.filter(idempotency_key=key).first()


def _grant(account: CreditAccount, *, amount: int, kind: str, expires_at: datetime | None, key: str,
           reference: str, reason: str, created_by_id: int | None = None,
           entry_kind: str = CreditEntry.Kind.GRANT) -> CreditEntry:
    lot = CreditLot.objects.create(user_id=account.user_id, kind=kind, amount=amount, remaining=0,
                                   expires_at=expires_at, source=(reference or key)[:150])
    entry = _append(account, kind=entry_kind, available_delta=amount, reserved_delta=0, key=key, reference=reference,
                    reason=reason, created_by_id=created_by_id, movements=[(lot, amount)])
    lot.grant_entry = entry
    lot.save(update_fields=["grant_entry"])
    return entry


def _spendable(account: CreditAccount) -> list[CreditLot]:
    return list(
        CreditLot.objects.filter(user_id=account.user_id, closed_at__isnull=True, remaining__gt=0)
        .annotate(spend_order=_SPEND_ORDER)
        .order_by(F("expires_at").asc(nulls_last=True), "spend_order", "created_at", "id")
    )


def _take(account: CreditAccount, amount: int) -> list[tuple[CreditLot, int]]:
    """Which lots `amount` comes out of, soonest-expiring first; InsufficientCredits if short."""
    taken: list[tuple[CreditLot, int]] = []
    left = amount
    for lot in _spendable(account):
        take = min(lot.remaining, left)
        taken.append((lot, -take))
        left -= take
        if not left:
            return taken
    raise InsufficientCredits(f"Not enough credits: {account.available} available.")


def _close(lot: CreditLot, reason: str, now: datetime) -> None:
    lot.closed_at = now
    lot.closed_reason = reason
    lot.save(update_fields=["closed_at", "closed_reason"])


def _expire_due(account: CreditAccount, now: datetime) -> list[CreditEntry]:
    entries = []
    due = CreditLot.objects.filter(user_id=account.user_id, closed_at__isnull=True, expires_at__lte=now)
    for lot in due.order_by("expires_at", "id"):
        if lot.remaining:
            entries.append(_append(account, kind=CreditEntry.Kind.EXPIRE, available_delta=-lot.remaining,
                                   reserved_delta=0, key=f"expire:lot:{lot.pk}", reference=lot.source,
                                   reason="Plan credits expired at the end of their period.",
                                   movements=[(lot, -lot.remaining)]))
        _close(lot, CreditLot.Closed.EXPIRED, now)
    return entries


# --- public services -------------------------------------------------------------------


@transaction.atomic
def credits_grant(*, user_id: int, amount: int, key: str, reason: str = "", reference: str = "",
                  kind: str = CreditKind.BONUS, expires_at: datetime | None = None) -> CreditEntry:
    """Add credits of one kind (a new lot). `bonus` and `pack` never expire; `plan` needs an expiry."""
    if amount <= 0:
        raise ValueError("a grant must be positive")
    if kind not in CreditKind.values:
        raise ValueError(f"unknown credit kind {kind!r}")
    if (kind == CreditKind.PLAN) != (expires_at is not None):
        raise ValueError("plan credits, and only they, expire")
    account = _open_account(user_id)
    existing = _existing(key)
    if existing is not None:
        return existing
    entry = _grant(account, amount=amount, kind=kind, expires_at=expires_at, key=key, reference=reference,
                   reason=reason)
    # A late grant for a period already over (a replayed invoice) expires at once, visibly.
    _expire_due(account, _now())
    return entry


@transaction.atomic
def credits_reserve(*, user_id: int, amount: int, reference: str) -> CreditEntry:
    """Moves `amount` from available to reserved, or raises InsufficientCredits (402)."""
    if amount <= 0:
        raise ValueError("a reservation must be positive")
    account = _open_account(user_id)
    key = f"reserve:{reference}"
    existing = _existing(key)
    if existing is not None:
        return existing
    return _append(account, kind=CreditEntry.Kind.RESERVE, available_delta=-amount, reserved_delta=amount, key=key,
                   reference=reference, movements=_take(account, amount))


def _release(account: CreditAccount, reservation: CreditEntry, reference: str) -> CreditEntry:
    amount = reservation.reserved_delta
    taken = list(reservation.movements.select_related("lot"))
    if taken:
        back = [(m.lot, -m.amount) for m in taken]
    else:
        # A reservation made before lots existed: its credits come back as bonus credits.
        lot = CreditLot.objects.create(user_id=account.user_id, kind=CreditKind.BONUS, amount=amount, remaining=0,
                                       source=f"release:{reference}"[:150])
        back = [(lot, amount)]
    entry = _append(account, kind=CreditEntry.Kind.RELEASE, available_delta=amount, reserved_delta=-amount,
                    key=f"release:{reference}", reference=reference, movements=back)
    # Credits going back into a lot that closed meanwhile leave again at once: an expired
    # lot's expire them, a refunded pack's are clawed back.
    for lot, put_back in back:
        if lot.closed_at is None:
            continue
        kind = CreditEntry.Kind.EXPIRE if lot.closed_reason == CreditLot.Closed.EXPIRED else CreditEntry.Kind.CLAWBACK
        _append(account, kind=kind, available_delta=-put_back, reserved_delta=0,
                key=f"{kind}:release:{reference}:{lot.pk}", reference=reference,
                reason=f"Released into a {lot.closed_reason} lot.", movements=[(lot, -put_back)])
    return entry


def _settle(user_id: int, reference: str, kind: str) -> CreditEntry | None:
    account = _open_account(user_id)
    reservation = _existing(f"reserve:{reference}")
    if reservation is None:
        return None
    # One settlement per reservation, whichever comes first: a capture after a
    # release (or the reverse) is refused by returning the first one.
    for settled_kind in (CreditEntry.Kind.CAPTURE, CreditEntry.Kind.RELEASE):
        done = _existing(f"{settled_kind}:{reference}")
        if done is not None:
            return done
    if kind == CreditEntry.Kind.CAPTURE:
        return _append(account, kind=kind, available_delta=0, reserved_delta=-reservation.reserved_delta,
                       key=f"capture:{reference}", reference=reference)
    return _release(account, reservation, reference)


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
    """A manual correction by staff; always carries a reason and who made it.

    Added credits are bonus credits; removed ones come out in spending order."""
    if not reason.strip():
        raise ApplicationError(_("An adjustment needs a reason."), code="reason_required")
    if amount == 0:
        raise ApplicationError(_("An adjustment must change the balance."), code="amount_zero")
    account = _open_account(user_id)
    existing = _existing(key)
    if existing is not None:
        return existing
    if amount > 0:
        return _grant(account, amount=amount, kind=CreditKind.BONUS, expires_at=None, key=key,
                      reference="adjustment", reason=reason.strip(), created_by_id=staff_id,
                      entry_kind=CreditEntry.Kind.ADJUSTMENT)
    return _append(account, kind=CreditEntry.Kind.ADJUSTMENT, available_delta=amount, reserved_delta=0, key=key,
                   reason=reason.strip(), created_by_id=staff_id, reference="adjustment",
                   movements=_take(account, -amount))


def credits_expire_due(*, user_id: int) -> list[CreditEntry]:
    """Close this user's lots whose expiry has passed. Exactly once per lot.

    Like every ledger call it opens the account, with its sign-up grant, on first use. The
    credits endpoint and the admin account page call it before they read, so the ledger
    they show has those entries."""
    now = _now()
    if (CreditAccount.objects.filter(user_id=user_id).exists()
            and not CreditLot.objects.filter(user_id=user_id, closed_at__isnull=True, expires_at__lte=now).exists()):
        # Nothing to write: the usual case when a balance is shown, which must not queue on the row lock.
        return []
    with transaction.atomic():
        return _expire_due(_locked_account(user_id), _now())


@transaction.atomic
def credits_clawback(*, user_id: int, source: str, refunded_fraction: tuple[int, int], key: str,
                     reason: str) -> CreditEntry | None:
    """A refund of the purchase that granted the lot `source`: take back its unspent credits.

    `refunded_fraction` is (amount refunded so far, amount paid), cumulative as Stripe
    reports it: the lot gives back that share of its credits, less what earlier refunds
    took, and never more than it has left (spent credits stay spent). A full refund
    closes the lot, so credits a pending generation later releases into it go too.
    """
    refunded, paid = refunded_fraction
    account = _open_account(user_id)
    existing = _existing(key)
    if existing is not None:
        return existing
    lot = CreditLot.objects.filter(user_id=user_id, source=source).first()
    if lot is None or paid <= 0:
        return None
    target = lot.amount if refunded >= paid else math.ceil(lot.amount * refunded / paid)
    already = -(CreditMovement.objects.filter(lot=lot, entry__kind=CreditEntry.Kind.CLAWBACK)
                .aggregate(total=Sum("amount"))["total"] or 0)
    amount = max(0, min(lot.remaining, target - already)) if lot.closed_at is None else 0
    entry = None
    if amount:
        entry = _append(account, kind=CreditEntry.Kind.CLAWBACK, available_delta=-amount, reserved_delta=0, key=key,
                        reference=source, reason=reason, movements=[(lot, -amount)])
    if refunded >= paid and lot.closed_at is None:
        _close(lot, CreditLot.Closed.REFUNDED, _now())
    return entry


def credits_expire_sweep(*, limit: int = 1000) -> int:
    """Periodic: close every lot past its expiry (one user, one transaction at a time).
    Returns the number of expire entries written."""
    users = (CreditLot.objects.filter(closed_at__isnull=True, expires_at__lte=_now())
             .values_list("user_id", flat=True).distinct()[:limit])
    written = sum(len(credits_expire_due(user_id=user_id)) for user_id in list(users))
    if written:
        logger.info("billing.credits_expired", extra={"entries": written})
    return written
