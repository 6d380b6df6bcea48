from functools import partial

import pytest

from accounts.tests.factories import UserFactory
from billing import services
from billing.models import CreditAccount, CreditEntry
from billing.selectors import credit_balance, generation_cost
from tests.concurrency import at_once
from config.errors import ApplicationError

pytestmark = pytest.mark.django_db


def _balance(user):
    b = credit_balance(user_id=user.pk)
    return b.available, b.reserved


def test_first_use_grants_signup_credits_once(settings):
    settings.CREDITS_SIGNUP_GRANT = 40
    user = UserFactory()

    assert _balance(user) == (40, 0)  # shown before the account exists, which a read does not write
    assert not CreditEntry.objects.filter(user=user).exists()
    services.credits_expire_due(user_id=user.pk)
    services.credits_expire_due(user_id=user.pk)

    assert _balance(user) == (40, 0)
    assert list(CreditEntry.objects.filter(user=user).values_list("kind", "available_delta")) == [("grant", 40)]


def test_reserve_capture_release_move_credits_and_settle_once(settings):
    settings.CREDITS_SIGNUP_GRANT = 100
    user = UserFactory()

    services.credits_reserve(user_id=user.pk, amount=30, reference="generation:a")
    services.credits_reserve(user_id=user.pk, amount=30, reference="generation:a")  # same reservation
    assert _balance(user) == (70, 30)

    services.credits_capture(user_id=user.pk, reference="generation:a")
    services.credits_capture(user_id=user.pk, reference="generation:a")
    services.credits_release(user_id=user.pk, reference="generation:a")  # already captured: no-op
    assert _balance(user) == (70, 0)

    services.credits_reserve(user_id=user.pk, amount=20, reference="generation:b")
    services.credits_release(user_id=user.pk, reference="generation:b")
    services.credits_release(user_id=user.pk, reference="generation:b")
    assert _balance(user) == (70, 0)
    kinds = list(CreditEntry.objects.filter(user=user).order_by("id").values_list("kind", flat=True))
    assert kinds == ["grant", "reserve", "capture", "reserve", "release"]
    last = CreditEntry.objects.filter(user=user).latest("id")
    assert (last.available_after, last.reserved_after) == (70, 0)


def test_reserve_more_than_available_is_refused_and_changes_nothing(settings):
    settings.CREDITS_SIGNUP_GRANT = 10
    user = UserFactory()
    services.credits_expire_due(user_id=user.pk)  # opens the account

    with pytest.raises(services.InsufficientCredits):
        services.credits_reserve(user_id=user.pk, amount=11, reference="generation:x")

    assert _balance(user) == (10, 0)
    assert not CreditEntry.objects.filter(kind="reserve").exists()


def test_settling_an_unknown_reservation_does_nothing():
    user = UserFactory()

    assert services.credits_capture(user_id=user.pk, reference="generation:none") is None
    assert services.credits_release(user_id=user.pk, reference="generation:none") is None
    assert not CreditEntry.objects.exclude(kind="grant").exists()


def test_adjustment_needs_a_reason_and_cannot_overdraw(settings):
    settings.CREDITS_SIGNUP_GRANT = 5
    user, staff = UserFactory(), UserFactory(is_staff=True)

    with pytest.raises(ApplicationError) as no_reason:
        services.credits_adjust(user_id=user.pk, amount=10, reason=" ", staff_id=staff.pk, key="k1")
    with pytest.raises(services.InsufficientCredits):
        services.credits_adjust(user_id=user.pk, amount=-6, reason="chargeback", staff_id=staff.pk, key="k2")
    entry = services.credits_adjust(user_id=user.pk, amount=-5, reason="chargeback", staff_id=staff.pk, key="k3")

    assert no_reason.value.code == "reason_required"
    assert (entry.created_by_id, entry.reason) == (staff.pk, "chargeback")
    assert _balance(user) == (0, 0)
    assert CreditEntry.objects.filter(kind="adjustment").count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_reservations_never_overdraw(settings):
    settings.CREDITS_SIGNUP_GRANT = 50
    user = UserFactory()
    services.credits_expire_due(user_id=user.pk)  # opens the account

    def attempt(i: int) -> str:
        try:
            services.credits_reserve(user_id=user.pk, amount=10, reference=f"generation:{i}")
        except services.InsufficientCredits:
            return "refused"
        return "ok"

    results = at_once([partial(attempt, i) for i in range(10)])

    assert sorted(results) == ["ok"] * 5 + ["refused"] * 5
    account = CreditAccount.objects.get(user=user)
    assert (account.available, account.reserved) == (0, 50)
    assert CreditEntry.objects.filter(kind="reserve").count() == 5


@pytest.mark.parametrize(("kind", "duration", "size", "cost"), [
    ("text_to_video", 4, (854, 480), 4),
    ("text_to_video", 8, (720, 1280), 16),
    ("remix", 12, (1080, 1920), 48),
])
def test_generation_cost(kind, duration, size, cost):
    assert generation_cost(kind=kind, duration_seconds=duration, width=size[0], height=size[1]) == cost
