"""Sessions that end: logout, logout everywhere, password change, suspension, a reused
refresh token, and the FCM token of a device signed in to someone else."""

from datetime import timedelta

import jwt
import pytest
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts import services, sessions
from accounts.models import AuthSession, Device, User
from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
LOGOUT_EVERYWHERE = "/api/v1/auth/logout-everywhere"
PASSWORD = "/api/v1/me/password"
ME = "/api/v1/me"
DEVICES = "/api/v1/me/devices"
NEW_PASSWORD = "another-long-phrase-42"


def _sign_in(user, password=DEFAULT_PASSWORD) -> dict:
    """A password sign-in on a device of its own: the tokens and a client holding them."""
    response = APIClient().post(LOGIN, {"email": user.email, "password": password})
    assert response.status_code == 200, response.json()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['access']}")
    return {**response.json(), "client": client}


def _me_code(access: str) -> int | str:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    response = client.get(ME)
    return 200 if response.status_code == 200 else (response.status_code, response.json()["error"]["code"])


def _refresh(refresh: str):
    return APIClient().post(REFRESH, {"refresh": refresh})


def _error(response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def _session_of(tokens: dict) -> AuthSession:
    return AuthSession.objects.get(pk=RefreshToken(tokens["refresh"], verify=False)["sid"])


# --- logout --------------------------------------------------------------------------


def test_logout_ends_this_session_and_every_access_token_at_once():
    user = UserFactory()
    phone, tablet = _sign_in(user), _sign_in(user)

    response = phone["client"].post(LOGOUT, {"refresh": phone["refresh"]})

    assert response.status_code == 204
    assert _me_code(phone["access"]) == (401, "session_ended")
    assert _error(_refresh(phone["refresh"])) == (401, "session_ended")
    assert _session_of(phone).end_reason == "logout"
    # The tablet's session lives on: its access token is refused once, its refresh token works.
    assert _me_code(tablet["access"]) == (401, "session_ended")
    assert _session_of(tablet).ended_at is None
    renewed = _refresh(tablet["refresh"])
    assert renewed.status_code == 200
    assert _me_code(renewed.json()["access"]) == 200


def test_the_session_check_costs_no_query_of_its_own(django_assert_num_queries):
    phone = _sign_in(UserFactory())

    with django_assert_num_queries(1):  # the User row, which authentication loads anyway
        assert phone["client"].get(ME).status_code == 200


def test_logout_with_a_token_that_is_not_a_refresh_token_changes_nothing():
    user = UserFactory()
    phone = _sign_in(user)

    response = phone["client"].post(LOGOUT, {"refresh": phone["access"]})

    assert _error(response) == (401, "token_invalid")
    assert _me_code(phone["access"]) == 200
    assert User.objects.get(pk=user.pk).session_version == 0
    assert not BlacklistedToken.objects.exists()


def test_logout_everywhere_ends_every_session():
    user = UserFactory()
    other = UserFactory()
    phone, tablet, theirs = _sign_in(user), _sign_in(user), _sign_in(other)

    response = phone["client"].post(LOGOUT_EVERYWHERE)

    assert response.status_code == 204
    for device in (phone, tablet):
        assert _me_code(device["access"]) == (401, "session_ended")
        assert _error(_refresh(device["refresh"])) == (401, "session_ended")
    assert set(AuthSession.objects.filter(user=user).values_list("end_reason", flat=True)) == {"logout_all"}
    assert _me_code(theirs["access"]) == 200
    assert _refresh(theirs["refresh"]).status_code == 200


def test_logout_everywhere_needs_a_signed_in_caller():
    user = UserFactory()
    phone = _sign_in(user)

    response = APIClient().post(LOGOUT_EVERYWHERE)

    assert _error(response) == (401, "not_authenticated")
    assert _me_code(phone["access"]) == 200
    assert not AuthSession.objects.filter(ended_at__isnull=False).exists()


def test_a_token_from_before_sessions_is_refused_and_its_refresh_token_moves_into_a_session():
    user = UserFactory()
    legacy = RefreshToken.for_user(user)  # no sid, no ver: what clients held before this change

    assert _me_code(str(AccessToken.for_user(user))) == (401, "session_ended")
    renewed = _refresh(str(legacy))

    assert renewed.status_code == 200
    assert _me_code(renewed.json()["access"]) == 200
    assert AuthSession.objects.get(user=user).ended_at is None
    assert _error(_refresh(str(legacy))) == (401, "token_invalid")  # rotated: blacklisted


def test_logout_everywhere_also_revokes_refresh_tokens_from_before_sessions():
    user = UserFactory()
    legacy = RefreshToken.for_user(user)

    sessions.auth_logout_everywhere(user=user)

    assert _error(_refresh(str(legacy))) == (401, "token_invalid")
    assert BlacklistedToken.objects.filter(token__jti=legacy["jti"]).exists()


# --- password change -----------------------------------------------------------------


def test_password_change_ends_every_session_and_hands_the_caller_a_new_one():
    user = UserFactory()
    phone, tablet = _sign_in(user), _sign_in(user)

    response = phone["client"].post(PASSWORD, {"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD})

    assert response.status_code == 200, response.json()
    for device in (phone, tablet):
        assert _me_code(device["access"]) == (401, "session_ended")
        assert _error(_refresh(device["refresh"])) == (401, "session_ended")
    assert _me_code(response.json()["access"]) == 200
    assert _refresh(response.json()["refresh"]).status_code == 200
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert APIClient().post(LOGIN, {"email": user.email, "password": DEFAULT_PASSWORD}).status_code == 401


@pytest.mark.parametrize("body,field,code", [
    ({"current_password": "not-my-password", "new_password": NEW_PASSWORD}, "current_password", "password_incorrect"),
    ({"current_password": DEFAULT_PASSWORD, "new_password": "short"}, "new_password", "password_too_short"),
    ({"current_password": DEFAULT_PASSWORD}, "new_password", "required"),
])
def test_refused_password_change_changes_nothing(body, field, code):
    user = UserFactory()
    phone = _sign_in(user)

    response = phone["client"].post(PASSWORD, body)

    assert response.status_code == 400
    assert response.json()["error"]["fields"][field][0]["code"] == code
    user.refresh_from_db()
    assert user.check_password(DEFAULT_PASSWORD)
    assert user.session_version == 0
    assert _me_code(phone["access"]) == 200
    assert not AuthSession.objects.filter(ended_at__isnull=False).exists()


def test_account_without_a_password_cannot_change_it():
    user = UserFactory(firebase_uid="uid-1")
    user.set_unusable_password()
    user.save()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {services.tokens_for_user(user)['access']}")

    response = client.post(PASSWORD, {"current_password": "", "new_password": NEW_PASSWORD})

    assert response.status_code == 400
    user.refresh_from_db()
    assert not user.has_usable_password()


# --- suspension ----------------------------------------------------------------------


def test_staff_suspension_ends_every_session(client):
    staff = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(staff)
    user, bystander = UserFactory(), UserFactory()
    phone, theirs = _sign_in(user), _sign_in(bystander)

    page = client.post("/admin/accounts/user/", {"action": "suspend", "_selected_action": [user.pk]})

    assert page.status_code == 302
    user.refresh_from_db()
    assert user.is_active is False
    assert _session_of(phone).end_reason == "suspended"
    assert _error(_refresh(phone["refresh"])) == (401, "session_ended")
    assert _me_code(theirs["access"]) == 200
    assert _session_of(theirs).ended_at is None


def test_unticking_active_in_the_admin_form_ends_the_sessions(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    user = UserFactory(handle="bob", email="bob@example.com")
    phone = _sign_in(user)
    url = f"/admin/accounts/user/{user.pk}/change/"
    form = client.get(url).context["adminform"].form
    data = {name: form[name].value() for name in form.fields
            if form[name].value() not in (None, False, []) and name not in ("password", "avatar")}
    del data["is_active"]  # unticked

    page = client.post(url, data)

    assert page.status_code == 302, page.context["adminform"].form.errors
    assert User.objects.get(pk=user.pk).is_active is False
    assert _session_of(phone).end_reason == "suspended"


def test_a_password_set_by_staff_ends_the_sessions(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    user = UserFactory()
    phone = _sign_in(user)

    page = client.post(f"/admin/accounts/user/{user.pk}/password/",
                       {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"})

    assert page.status_code == 302
    assert _session_of(phone).end_reason == "password_changed"
    assert _me_code(phone["access"]) == (401, "session_ended")


# --- refresh token reuse -------------------------------------------------------------


def test_a_reused_refresh_token_ends_its_whole_family():
    user = UserFactory()
    first = _sign_in(user)
    second = _refresh(first["refresh"]).json()
    other = _sign_in(user)

    replay = _refresh(first["refresh"])

    assert _error(replay) == (401, "refresh_token_reused")
    assert _error(_refresh(second["refresh"])) == (401, "session_ended")
    assert _me_code(second["access"]) == (401, "session_ended")
    session = _session_of(second)
    assert session.end_reason == "refresh_reused"
    assert BlacklistedToken.objects.filter(token__jti=RefreshToken(second["refresh"], verify=False)["jti"]).exists()
    # Another sign-in of the same user is not that family: it refreshes on.
    assert _refresh(other["refresh"]).status_code == 200


def test_a_refresh_token_signed_with_another_key_is_refused_and_ends_nothing():
    user = UserFactory()
    first = _sign_in(user)
    # The family's live token, re-signed by someone without the key.
    forged = jwt.encode(RefreshToken(first["refresh"], verify=False).payload, "x" * 64, algorithm="HS256")

    response = _refresh(forged)

    assert _error(response) == (401, "token_invalid")
    assert _session_of(first).ended_at is None


# --- devices -------------------------------------------------------------------------


def _register(device: dict, token="fcm-abc", **extra):
    return device["client"].post(DEVICES, {"token": token, "platform": "ios", **extra})


def test_a_device_signed_in_to_someone_else_is_not_taken():
    victim, caller = UserFactory(), UserFactory()
    victims_phone = _sign_in(victim)
    assert _register(victims_phone, app_version="1.2.0").status_code == 201

    response = _register(_sign_in(caller), app_version="6.6.6")

    assert _error(response) == (409, "device_registered_elsewhere")
    device = Device.objects.get()
    assert (device.user_id, device.app_version) == (victim.pk, "1.2.0")
    assert device.session == _session_of(victims_phone)


def test_a_device_moves_once_its_owner_logged_out_there():
    first, second = UserFactory(), UserFactory()
    firsts_phone = _sign_in(first)
    _register(firsts_phone)

    firsts_phone["client"].post(LOGOUT, {"refresh": firsts_phone["refresh"]})
    # Logging out stops the pushes to that phone at once.
    assert not Device.objects.exists()
    seconds_phone = _sign_in(second)
    moved = _register(seconds_phone)

    assert moved.status_code == 201
    device = Device.objects.get()
    assert (device.user_id, device.session) == (second.pk, _session_of(seconds_phone))


def test_a_device_whose_sign_in_expired_or_predates_sessions_moves():
    first, second = UserFactory(), UserFactory()
    lapsed = AuthSession.objects.create(user=first, refresh_jti="x",
                                        refreshed_at=timezone.now() - timedelta(days=31))
    Device.objects.create(user=first, fcm_token="fcm-lapsed", platform="ios", session=lapsed)
    Device.objects.create(user=first, fcm_token="fcm-old", platform="ios",
                          last_seen_at=timezone.now() - timedelta(days=31))
    Device.objects.create(user=first, fcm_token="fcm-recent", platform="ios")
    phone = _sign_in(second)

    assert _register(phone, token="fcm-lapsed").status_code == 201
    assert _register(phone, token="fcm-old").status_code == 201
    assert _error(_register(phone, token="fcm-recent")) == (409, "device_registered_elsewhere")
    assert dict(Device.objects.values_list("fcm_token", "user_id")) == {
        "fcm-lapsed": second.pk, "fcm-old": second.pk, "fcm-recent": first.pk}


def test_the_same_account_registering_again_updates_its_device():
    user = UserFactory()
    old_phone, new_phone = _sign_in(user), _sign_in(user)
    _register(old_phone, app_version="1.0.0")

    again = _register(new_phone, app_version="1.1.0")

    assert again.status_code == 201
    device = Device.objects.get()
    assert (device.app_version, device.session) == ("1.1.0", _session_of(new_phone))
