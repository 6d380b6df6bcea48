"""Sign-in abuse: the client address cannot be forged, accounts lock after repeated failures
(API and admin alike) and unlock again, and the admin's sign-in form is rate-limited."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.utils import timezone

from accounts.models import User
from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

LOGIN = "/api/v1/auth/login"
ADMIN_LOGIN = "/admin/login/"


def _ip(n: int) -> str:
    return f"198.51.100.{n}"


def _login(api, email, password, n=1, **headers):
    return api.post(LOGIN, {"email": email, "password": password}, REMOTE_ADDR=_ip(n), **headers)


def _last_login(user):
    return User.objects.get(pk=user.pk).last_login


# --- the client address ------------------------------------------------------------------


def test_a_fresh_forwarded_for_header_does_not_make_a_fresh_client(api):
    user = UserFactory(email="bo@example.com")
    # Ten wrong passwords for ten unknown accounts (no lockout involved), each "from" a new address.
    statuses = [
        _login(api, f"nobody{i}@example.com", "wrong", HTTP_X_FORWARDED_FOR=f"203.0.113.{i}").status_code
        for i in range(10)
    ]

    refused = _login(api, "bo@example.com", DEFAULT_PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.99")

    assert statuses == [401] * 10
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "throttled"
    assert int(refused.headers["Retry-After"]) > 0
    assert "access" not in refused.json()
    assert _last_login(user) is None


# --- lockout per account -----------------------------------------------------------------


def _fail(api, email, times, first_ip=1):
    """`times` wrong passwords for `email`, each from its own address (no per-IP throttle)."""
    return [_login(api, email, "wrong", n=first_ip + i) for i in range(times)]


def test_repeated_failures_lock_the_account_from_any_address_and_its_right_password_is_refused(api):
    user = UserFactory(email="bo@example.com")
    # Spellings of one account count as one.
    failures = [_login(api, email, "wrong", n=i) for i, email in
                enumerate(["bo@example.com", "BO@example.com", "bo@EXAMPLE.com", " Bo@Example.com", "bo@example.com"])]

    right = _login(api, "bo@example.com", DEFAULT_PASSWORD, n=50)

    assert [r.status_code for r in failures] == [401, 401, 401, 401, 429]
    assert failures[-1].json()["error"]["code"] == "account_locked"
    assert right.status_code == 429
    body = right.json()["error"]
    assert body["code"] == "account_locked"
    assert 0 < body["retry_after"] <= 15 * 60
    assert int(right.headers["Retry-After"]) == body["retry_after"]
    assert "access" not in right.json()
    assert _last_login(user) is None


def test_a_lock_holds_one_account_only(api):
    UserFactory(email="bo@example.com")
    other = UserFactory(email="cy@example.com")
    _fail(api, "bo@example.com", 5)

    response = _login(api, "cy@example.com", DEFAULT_PASSWORD, n=1)

    assert response.status_code == 200
    assert _last_login(other) is not None


def test_the_lock_ends_after_the_cool_off(api, settings):
    user = UserFactory(email="bo@example.com")
    _fail(api, "bo@example.com", 5)
    assert _login(api, "bo@example.com", DEFAULT_PASSWORD, n=40).status_code == 429

    # The cool-off has passed since the last failure.
    AccessAttempt.objects.update(attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(seconds=1))
    response = _login(api, "bo@example.com", DEFAULT_PASSWORD, n=41)

    assert response.status_code == 200
    assert _last_login(user) is not None
    assert AccessAttempt.objects.count() == 0


def test_tries_during_the_lock_do_not_extend_it(api):
    UserFactory(email="bo@example.com")
    _fail(api, "bo@example.com", 5)
    locked_until = AccessAttempt.objects.order_by("-attempt_time").values_list("attempt_time", flat=True)[0]

    retried = _fail(api, "bo@example.com", 3, first_ip=20)

    assert [r.json()["error"]["code"] for r in retried] == ["account_locked"] * 3
    assert AccessAttempt.objects.order_by("-attempt_time").values_list("attempt_time", flat=True)[0] == locked_until
    assert sum(AccessAttempt.objects.values_list("failures_since_start", flat=True)) == 5


def test_a_successful_sign_in_forgets_earlier_failures(api):
    UserFactory(email="bo@example.com")
    _fail(api, "bo@example.com", 4)
    assert _login(api, "bo@example.com", DEFAULT_PASSWORD, n=30).status_code == 200

    again = _fail(api, "bo@example.com", 4, first_ip=31)

    assert [r.status_code for r in again] == [401] * 4


@pytest.fixture
def staff_client(client):
    staff = UserFactory(email="staff@example.com", is_staff=True, is_superuser=True)
    client.force_login(staff)
    return client


def test_staff_unlock_an_account_in_the_admin(api, staff_client):
    user = UserFactory(email="bo@example.com")
    _fail(api, "bo@example.com", 5)

    page = staff_client.post("/admin/accounts/user/", {"action": "unlock_sign_in", "_selected_action": [user.pk]})
    response = _login(api, "bo@example.com", DEFAULT_PASSWORD, n=60)

    assert page.status_code == 302
    assert AccessAttempt.objects.count() == 0
    assert response.status_code == 200


# --- the admin's sign-in form ------------------------------------------------------------


def _admin_login(client, email, password, n=1):
    return client.post(ADMIN_LOGIN, {"username": email, "password": password, "next": "/admin/"}, REMOTE_ADDR=_ip(n))


def _signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_admin_sign_in_is_rate_limited_per_address(client):
    staff = UserFactory(email="staff@example.com", is_staff=True, is_superuser=True)
    # Ten wrong passwords for ten accounts from one address (no account reaches its lockout).
    statuses = [_admin_login(client, f"nobody{i}@example.com", "wrong").status_code for i in range(10)]

    refused = _admin_login(client, "staff@example.com", DEFAULT_PASSWORD)

    assert statuses == [200] * 10  # the form again, with its error
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert not _signed_in(client)
    assert _last_login(staff) is None
    # Another address is not held back.
    assert _admin_login(client, "staff@example.com", DEFAULT_PASSWORD, n=2).status_code == 302


def test_admin_account_locks_after_failures_from_many_addresses(client):
    staff = UserFactory(email="staff@example.com", is_staff=True, is_superuser=True)
    failures = [_admin_login(client, "staff@example.com", "wrong", n=i).status_code for i in range(5)]

    right = _admin_login(client, "staff@example.com", DEFAULT_PASSWORD, n=50)

    assert failures == [200, 200, 200, 200, 429]
    assert right.status_code == 429
    assert 0 < int(right.headers["Retry-After"]) <= 15 * 60
    assert not _signed_in(client)
    assert _last_login(staff) is None
