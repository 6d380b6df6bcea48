"""Credit kinds in the ledger: lots, spending order, expiry, release into closed lots, claw-back."""

from __future__ import annotations

import random
from datetime import timedelta
from functools import partial

import pytest
from django.db.models import Sum
from django.utils import timezone

from accounts.tests.factories import UserFactory
from billing import services
from billing.models import CreditAccount, CreditEntry, CreditLot, CreditMovement
from billing.selectors import credit_balance
from billing.services import ledger
from billing.tasks import expire_credits
from tests.concurrency import at_once

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _signup(settings):
    settings.CREDITS_SIGNUP_GRANT = 100


@pytest.fixture
def clock(monkeypatch):
    """Moves the ledger's idea of now (expiry is decided by it)."""
    state = {"now": timezone.now()}
    monkeypatch.setattr(ledger, "_now", lambda: state["now"])

    class Clock:
        @property
        def now(self):
            return state["now"]

        def advance(self, **delta):
            state["now"] += timedelta(**delta)

    return Clock()


def _kinds(user) -> dict[str, int]:
    return credit_balance(user_id=user.pk).by_kind


def _entries(user) -> list[tuple[str, int, int]]:
    return list(CreditEntry.objects.filter(user=user).order_by("id")
                .values_list("kind", "available_delta", "reserved_delta"))


def _plan(user, amount, clock, days=30, key="invoice:1"):
    return services.credits_grant(user_id=user.pk, amount=amount, kind="plan", key=key, reference=key,
                                  expires_at=clock.now + timedelta(days=days))


def _assert_consistent(user) -> None:
    """The account's totals are the sum of the entries, and available is what the open lots hold."""
    account = CreditAccount.objects.get(user=user)
    sums = CreditEntry.objects.filter(user=user).aggregate(a=Sum("available_delta"), r=Sum("reserved_delta"))
    open_lots = CreditLot.objects.filter(user=user, closed_at__isnull=True).aggregate(t=Sum("remaining"))["t"] or 0
    assert (account.available, account.reserved) == (sums["a"], sums["r"])
    assert account.available == open_lots
    for lot in CreditLot.objects.filter(user=user):
        moved = CreditMovement.objects.filter(lot=lot).aggregate(t=Sum("amount"))["t"] or 0
        assert lot.remaining == moved


def test_signup_credits_are_bonus_and_kinds_add_up(clock):
    user = UserFactory()
    _plan(user, 500, clock)
    services.credits_grant(user_id=user.pk, amount=300, kind="pack", key="pack:a", reference="pack:a")

    balance = credit_balance(user_id=user.pk)

    assert balance.by_kind == {"plan": 500, "bonus": 100, "pack": 300}
    assert (balance.available, balance.reserved) == (900, 0)
    assert balance.expiring == [(500, clock.now + timedelta(days=30))]
    _assert_consistent(user)


def test_spending_takes_soonest_expiring_first_then_bonus_then_pack(clock):
    user = UserFactory()
    services.credits_grant(user_id=user.pk, amount=300, kind="pack", key="pack:a", reference="pack:a")
    _plan(user, 50, clock, days=20, key="invoice:late")
    _plan(user, 40, clock, days=10, key="invoice:soon")

    services.credits_reserve(user_id=user.pk, amount=200, reference="generation:a")

    reserve = CreditEntry.objects.get(kind="reserve")
    taken = [(m.lot.source, m.amount) for m in reserve.movements.select_related("lot").order_by("id")]
    assert taken == [("invoice:soon", -40), ("invoice:late", -50), ("signup", -100), ("pack:a", -10)]
    assert _kinds(user) == {"plan": 0, "bonus": 0, "pack": 290}
    _assert_consistent(user)


def test_release_puts_credits_back_into_the_lots_they_came_from(clock):
    user = UserFactory()
    _plan(user, 30, clock)
    services.credits_grant(user_id=user.pk, amount=300, kind="pack", key="pack:a", reference="pack:a")
    services.credits_reserve(user_id=user.pk, amount=150, reference="generation:a")
    assert _kinds(user) == {"plan": 0, "bonus": 0, "pack": 280}

    services.credits_release(user_id=user.pk, reference="generation:a")
    services.credits_release(user_id=user.pk, reference="generation:a")

    assert _kinds(user) == {"plan": 30, "bonus": 100, "pack": 300}
    assert _entries(user)[-2:] == [("reserve", -150, 150), ("release", 150, -150)]
    _assert_consistent(user)


def test_plan_credits_expire_at_the_period_end_exactly_once_with_an_entry(clock):
    user = UserFactory()
    _plan(user, 500, clock, days=30)
    services.credits_reserve(user_id=user.pk, amount=120, reference="generation:a")
    services.credits_capture(user_id=user.pk, reference="generation:a")

    clock.advance(days=30)
    first = credit_balance(user_id=user.pk, now=clock.now)  # leaves them out, and writes nothing
    assert not CreditEntry.objects.filter(kind="expire").exists()
    services.credits_expire_due(user_id=user.pk)  # as the credits endpoint does before it reads
    expire_credits()  # the beat task finds nothing left to do
    services.credits_expire_due(user_id=user.pk)

    assert first.by_kind == {"plan": 0, "bonus": 100, "pack": 0}
    expired = CreditEntry.objects.get(kind="expire")
    assert (expired.available_delta, expired.reference, expired.idempotency_key) == (
        -380, "invoice:1", f"expire:lot:{CreditLot.objects.get(kind='plan').pk}")
    assert CreditEntry.objects.filter(kind="expire").count() == 1
    assert CreditLot.objects.get(kind="plan").closed_reason == "expired"
    _assert_consistent(user)


def test_expired_credits_cannot_be_spent(clock):
    user = UserFactory()
    _plan(user, 500, clock, days=1)
    clock.advance(days=1, seconds=1)

    with pytest.raises(services.InsufficientCredits):
        services.credits_reserve(user_id=user.pk, amount=101, reference="generation:a")

    assert not CreditEntry.objects.filter(kind="reserve").exists()
    assert credit_balance(user_id=user.pk, now=clock.now).available == 100
    _assert_consistent(user)


def test_released_credits_of_an_expired_lot_expire_at_once(clock):
    user = UserFactory()
    _plan(user, 40, clock, days=1)
    services.credits_reserve(user_id=user.pk, amount=60, reference="generation:a")  # 40 plan + 20 bonus
    clock.advance(days=2)
    services.credits_expire_due(user_id=user.pk)  # the plan lot closes with nothing left in it

    services.credits_release(user_id=user.pk, reference="generation:a")

    assert _entries(user)[1:] == [("grant", 40, 0), ("reserve", -60, 60), ("release", 60, -60), ("expire", -40, 0)]
    assert _kinds(user) == {"plan": 0, "bonus": 100, "pack": 0}
    _assert_consistent(user)


def test_the_beat_task_expires_every_users_due_lots(clock):
    users = [UserFactory() for _ in range(3)]
    for user in users:
        _plan(user, 10, clock, days=1, key=f"invoice:{user.pk}")
    clock.advance(days=1)

    assert expire_credits() == 3
    assert expire_credits() == 0
    assert CreditEntry.objects.filter(kind="expire").count() == 3


@pytest.mark.django_db(transaction=True)
def test_concurrent_expiry_writes_one_entry(clock):
    user = UserFactory()
    _plan(user, 500, clock, days=1)
    clock.advance(days=1)

    at_once([partial(services.credits_expire_due, user_id=user.pk)] * 6)

    assert CreditEntry.objects.filter(kind="expire").count() == 1
    assert CreditAccount.objects.get(user=user).available == 100
    _assert_consistent(user)


def test_grant_rules():
    user = UserFactory()
    soon = timezone.now() + timedelta(days=1)
    services.credits_expire_due(user_id=user.pk)  # opens the account

    with pytest.raises(ValueError):
        services.credits_grant(user_id=user.pk, amount=10, kind="plan", key="k1")  # plan needs an expiry
    with pytest.raises(ValueError):
        services.credits_grant(user_id=user.pk, amount=10, kind="pack", key="k2", expires_at=soon)
    with pytest.raises(ValueError):
        services.credits_grant(user_id=user.pk, amount=0, key="k3")
    with pytest.raises(ValueError):
        services.credits_grant(user_id=user.pk, amount=5, kind="gold", key="k4")

    assert list(CreditEntry.objects.filter(user=user).values_list("idempotency_key", flat=True)) == [
        f"signup:{user.pk}"]
    assert CreditLot.objects.filter(user=user).count() == 1


def test_a_grant_for_a_period_already_over_is_granted_and_expired_visibly(clock):
    user = UserFactory()
    services.credits_grant(user_id=user.pk, amount=500, kind="plan", key="invoice:old", reference="invoice:old",
                           expires_at=clock.now - timedelta(days=1))
    services.credits_grant(user_id=user.pk, amount=500, kind="plan", key="invoice:old", reference="invoice:old",
                           expires_at=clock.now - timedelta(days=1))

    assert _entries(user) == [("grant", 100, 0), ("grant", 500, 0), ("expire", -500, 0)]
    _assert_consistent(user)


def test_negative_adjustment_takes_in_spending_order_and_positive_is_bonus(clock):
    user, staff = UserFactory(), UserFactory(is_staff=True)
    _plan(user, 30, clock)

    services.credits_adjust(user_id=user.pk, amount=-50, reason="fraud", staff_id=staff.pk, key="adj:1")
    services.credits_adjust(user_id=user.pk, amount=25, reason="goodwill", staff_id=staff.pk, key="adj:2")

    assert _kinds(user) == {"plan": 0, "bonus": 105, "pack": 0}
    lot = CreditLot.objects.get(source="adjustment")
    assert (lot.kind, lot.amount, lot.grant_entry.reason, lot.grant_entry.created_by_id) == (
        "bonus", 25, "goodwill", staff.pk)
    _assert_consistent(user)


def test_clawback_takes_the_refunded_share_of_what_is_unspent(clock):
    user = UserFactory()
    services.credits_grant(user_id=user.pk, amount=300, kind="pack", key="pack:a", reference="pack:a")
    services.credits_reserve(user_id=user.pk, amount=200, reference="generation:a")  # 100 bonus + 100 pack
    services.credits_capture(user_id=user.pk, reference="generation:a")

    # Half refunded: 150 credits' worth, all still unspent.
    half = services.credits_clawback(user_id=user.pk, source="pack:a", refunded_fraction=(250, 500),
                                     key="clawback:ch:250", reason="refund")
    again = services.credits_clawback(user_id=user.pk, source="pack:a", refunded_fraction=(250, 500),
                                      key="clawback:ch:250", reason="refund")
    # The rest: 150 more would be due, only 50 are left unspent.
    rest = services.credits_clawback(user_id=user.pk, source="pack:a", refunded_fraction=(500, 500),
                                     key="clawback:ch:500", reason="refund")

    assert half.pk == again.pk
    assert (half.available_delta, rest.available_delta) == (-150, -50)
    lot = CreditLot.objects.get(source="pack:a")
    assert (lot.remaining, lot.closed_reason) == (0, "refunded")
    assert _kinds(user) == {"plan": 0, "bonus": 0, "pack": 0}
    _assert_consistent(user)


def test_credits_released_into_a_refunded_pack_are_clawed_back(clock):
    user = UserFactory()
    services.credits_grant(user_id=user.pk, amount=300, kind="pack", key="pack:a", reference="pack:a")
    services.credits_reserve(user_id=user.pk, amount=160, reference="generation:a")  # 100 bonus + 60 pack
    services.credits_clawback(user_id=user.pk, source="pack:a", refunded_fraction=(499, 499), key="clawback:ch",
                              reason="refund")

    services.credits_release(user_id=user.pk, reference="generation:a")

    assert _entries(user)[2:] == [("reserve", -160, 160), ("clawback", -240, 0), ("release", 160, -160),
                                  ("clawback", -60, 0)]
    assert _kinds(user) == {"plan": 0, "bonus": 100, "pack": 0}
    _assert_consistent(user)


def test_a_reservation_from_before_lots_is_released_as_bonus_credits():
    user = UserFactory()
    # What the migration leaves: a balance and an open reservation without movements.
    CreditAccount.objects.create(user=user, available=0, reserved=10)
    CreditEntry.objects.create(user=user, kind="reserve", available_delta=-10, reserved_delta=10, available_after=0,
                               reserved_after=10, reference="generation:old", idempotency_key="reserve:generation:old")

    services.credits_release(user_id=user.pk, reference="generation:old")

    lot = CreditLot.objects.get(user=user)
    assert (lot.kind, lot.amount, lot.remaining, lot.source) == ("bonus", 10, 10, "release:generation:old")
    assert CreditAccount.objects.filter(user=user, available=10, reserved=0).exists()


def test_random_operations_keep_the_ledger_consistent(clock):
    """Whatever happens, in any order: totals match the entries and the open lots."""
    rng = random.Random(5)
    user, staff = UserFactory(), UserFactory(is_staff=True)
    services.credits_expire_due(user_id=user.pk)  # opens the account
    open_refs: list[str] = []
    for step in range(150):
        op = rng.choice(["plan", "pack", "reserve", "reserve", "settle", "settle", "time", "adjust", "refund"])
        try:
            if op == "plan":
                _plan(user, rng.randint(1, 50), clock, days=rng.randint(1, 5), key=f"invoice:{step}")
            elif op == "pack":
                services.credits_grant(user_id=user.pk, amount=rng.randint(1, 50), kind="pack", key=f"pack:{step}",
                                       reference=f"pack:{step}")
            elif op == "reserve":
                services.credits_reserve(user_id=user.pk, amount=rng.randint(1, 40), reference=f"gen:{step}")
                open_refs.append(f"gen:{step}")
            elif op == "settle" and open_refs:
                ref = open_refs.pop(rng.randrange(len(open_refs)))
                settle = rng.choice([services.credits_capture, services.credits_release])
                settle(user_id=user.pk, reference=ref)
            elif op == "time":
                clock.advance(days=1)
            elif op == "adjust":
                services.credits_adjust(user_id=user.pk, amount=rng.choice([-1, 1]) * rng.randint(1, 20),
                                        reason="test", staff_id=staff.pk, key=f"adj:{step}")
            elif op == "refund":
                packs = list(CreditLot.objects.filter(user=user, kind="pack").values_list("source", flat=True))
                if packs:
                    source = rng.choice(packs)
                    share = rng.randint(1, 4)
                    services.credits_clawback(user_id=user.pk, source=source, refunded_fraction=(share, 4),
                                              key=f"clawback:{source}:{share}", reason="refund")
        except services.InsufficientCredits:
            pass
        _assert_consistent(user)
        account = CreditAccount.objects.get(user=user)
        assert account.available >= 0 and account.reserved >= 0
    # The walk went through every kind of entry, not just the easy ones.
    assert set(CreditEntry.objects.filter(user=user).values_list("kind", flat=True)) == {
        "grant", "reserve", "capture", "release", "adjustment", "expire", "clawback"}


def test_the_migration_turns_old_balances_into_bonus_lots():
    from importlib import import_module

    from django.apps import apps

    user = UserFactory()
    CreditAccount.objects.create(user=user, available=70, reserved=5)
    CreditAccount.objects.create(user=UserFactory(), available=0)

    import_module("billing.migrations.0003_opening_balance_lots").forwards(apps, None)

    lot = CreditLot.objects.get()
    assert (lot.user_id, lot.kind, lot.amount, lot.remaining, lot.expires_at, lot.source) == (
        user.pk, "bonus", 70, 70, None, "opening-balance")
    services.credits_reserve(user_id=user.pk, amount=70, reference="generation:new")
    assert CreditAccount.objects.filter(user=user, available=0, reserved=75).exists()
