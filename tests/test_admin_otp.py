"""The admin's second factor (django-otp TOTP), required when ADMIN_OTP_REQUIRED (production)."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"


@pytest.fixture
def staff(settings):
    settings.ADMIN_OTP_REQUIRED = True
    user = UserFactory(is_staff=True, is_superuser=True, email="ops@example.com")
    user.set_password("a-long-pass-phrase-9")
    user.save()
    out = StringIO()
    call_command("staff_totp", "ops@example.com", stdout=out)
    assert out.getvalue().startswith("otpauth://totp/")
    return user


def _code(user) -> str:
    device = TOTPDevice.objects.get(user=user)
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"


def test_a_password_alone_does_not_sign_staff_in(client, staff):
    response = client.post(LOGIN, {"username": "ops@example.com", "password": "a-long-pass-phrase-9"})

    assert response.status_code == 200  # the form again, with the error
    assert [error.code for error in response.context["form"].errors.as_data()["__all__"]] == ["token_required"]
    assert client.get("/admin/").status_code == 302


def test_password_and_a_wrong_code_are_refused(client, staff):
    client.post(LOGIN, {"username": "ops@example.com", "password": "a-long-pass-phrase-9", "otp_token": "000000",
                        "otp_device": TOTPDevice.objects.get(user=staff).persistent_id})

    assert client.get("/admin/").status_code == 302


def test_password_and_the_current_code_sign_in(client, staff):
    response = client.post(LOGIN, {"username": "ops@example.com", "password": "a-long-pass-phrase-9",
                                   "otp_device": TOTPDevice.objects.get(user=staff).persistent_id,
                                   "otp_token": _code(staff)})

    assert response.status_code == 302, response.context["form"].errors
    assert client.get("/admin/").status_code == 200


def test_a_session_that_skipped_the_second_factor_is_no_staff_session(client, staff):
    client.force_login(staff)

    assert client.get("/admin/").status_code == 302


def test_off_when_not_required(client, settings):
    settings.ADMIN_OTP_REQUIRED = False
    user = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(user)
    assert client.get("/admin/").status_code == 200


def test_only_staff_get_a_device():
    UserFactory(email="someone@example.com")
    with pytest.raises(CommandError):
        call_command("staff_totp", "someone@example.com", stdout=StringIO())
