import pytest
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts.models import User
from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

SIGNUP = "/api/v1/auth/signup"
LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"


def _signup_body(**overrides):
    body = {"email": "Ana@Example.com", "password": "a-long-pass-phrase-7", "handle": "ana_v",
            "display_name": "Ana", "birth_year": 1995, "country": "br", "locale": "pt-BR"}
    body.update(overrides)
    return body


def test_signup_creates_user_and_returns_working_tokens(api):
    response = api.post(SIGNUP, _signup_body())

    assert response.status_code == 201, response.json()
    body = response.json()
    user = User.objects.get()
    assert user.email == "ana@example.com"
    assert user.handle == "ana_v"
    assert user.country == "BR"
    assert user.check_password("a-long-pass-phrase-7")
    assert body["user"]["id"] == user.pk
    assert body["user"]["handle"] == "ana_v"
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {body['access']}")
    me = api.get("/api/v1/me")
    assert me.status_code == 200
    assert me.json()["email"] == "ana@example.com"


def test_signup_duplicate_handle_is_case_insensitive(api):
    UserFactory(handle="Ana_V")

    response = api.post(SIGNUP, _signup_body(handle="ana_v", email="other@example.com"))

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["fields"]["handle"][0]["code"] == "handle_taken"
    assert not User.objects.filter(email="other@example.com").exists()
    assert User.objects.count() == 1


def test_signup_duplicate_email_is_case_insensitive(api):
    UserFactory(email="ana@example.com")

    response = api.post(SIGNUP, _signup_body(email="ANA@example.com"))

    assert response.status_code == 400
    assert response.json()["error"]["fields"]["email"][0]["code"] == "email_taken"
    assert User.objects.count() == 1


@pytest.mark.parametrize(
    ("overrides", "field", "code"),
    [
        ({"password": "short"}, "password", "password_too_short"),
        ({"password": "12345678901"}, "password", "password_entirely_numeric"),
        ({"handle": "a"}, "handle", "invalid"),
        ({"handle": "bad handle!"}, "handle", "invalid"),
        ({"email": "not-an-email"}, "email", "invalid"),
        ({"birth_year": 1800}, "birth_year", "birth_year_invalid"),
        ({"country": "BRA"}, "country", "invalid"),
    ],
)
def test_signup_rejects_bad_input_and_creates_nothing(api, overrides, field, code):
    response = api.post(SIGNUP, _signup_body(**overrides))

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert code in [e["code"] for e in error["fields"][field]]
    assert User.objects.count() == 0


def test_signup_refuses_children(api):
    from datetime import date

    response = api.post(SIGNUP, _signup_body(birth_year=date.today().year - 10))

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "age_restricted"
    assert User.objects.count() == 0


def test_signup_with_malformed_json_gets_error_shape(api):
    response = api.post(SIGNUP, data="{not json", content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_request"
    assert User.objects.count() == 0


def test_login_returns_tokens_for_right_password():
    from rest_framework.test import APIClient

    user = UserFactory(email="bo@example.com")
    response = APIClient().post(LOGIN, {"email": "BO@example.com", "password": DEFAULT_PASSWORD})

    assert response.status_code == 200
    assert response.json()["user"]["id"] == user.pk
    assert set(response.json()) >= {"access", "refresh"}


@pytest.mark.parametrize("email,password", [("bo@example.com", "wrong-password"), ("nobody@example.com", DEFAULT_PASSWORD)])
def test_login_bad_credentials_gets_401_and_issues_no_token(api, email, password):
    UserFactory(email="bo@example.com")

    response = api.post(LOGIN, {"email": email, "password": password})

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_credentials"
    assert OutstandingToken.objects.count() == 0


def test_login_suspended_user_is_refused(api):
    UserFactory(email="bo@example.com", is_active=False)

    response = api.post(LOGIN, {"email": "bo@example.com", "password": DEFAULT_PASSWORD})

    assert response.status_code == 401
    assert OutstandingToken.objects.count() == 0


def _login(api, user):
    return api.post(LOGIN, {"email": user.email, "password": DEFAULT_PASSWORD}).json()


def test_refresh_rotates_and_old_refresh_token_is_dead(api):
    user = UserFactory()
    first = _login(api, user)

    rotated = api.post(REFRESH, {"refresh": first["refresh"]})

    assert rotated.status_code == 200
    second = rotated.json()
    assert second["refresh"] != first["refresh"]
    assert BlacklistedToken.objects.filter(token__token=first["refresh"]).exists()
    third = api.post(REFRESH, {"refresh": second["refresh"]})
    assert third.status_code == 200
    # Replaying a rotated token ends its family (accounts/tests/test_sessions.py).
    replay = api.post(REFRESH, {"refresh": first["refresh"]})
    assert replay.status_code == 401
    assert replay.json()["error"]["code"] == "refresh_token_reused"


def test_refresh_with_garbage_is_401(api):
    response = api.post(REFRESH, {"refresh": "garbage"})

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_invalid"


def test_refresh_of_suspended_user_is_refused(api):
    user = UserFactory()
    tokens = _login(api, user)
    User.objects.filter(pk=user.pk).update(is_active=False)

    response = api.post(REFRESH, {"refresh": tokens["refresh"]})

    assert response.status_code == 401
    assert not BlacklistedToken.objects.exists()


def test_logout_revokes_refresh_token(api):
    user = UserFactory()
    tokens = _login(api, user)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")

    response = api.post(LOGOUT, {"refresh": tokens["refresh"]})

    assert response.status_code == 204
    assert BlacklistedToken.objects.filter(token__token=tokens["refresh"]).exists()
    api.credentials()
    assert api.post(REFRESH, {"refresh": tokens["refresh"]}).status_code == 401


def test_logout_with_someone_elses_refresh_token_is_refused(api):
    victim, attacker = UserFactory(), UserFactory()
    victim_tokens = _login(api, victim)
    attacker_tokens = _login(api, attacker)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {attacker_tokens['access']}")

    response = api.post(LOGOUT, {"refresh": victim_tokens["refresh"]})

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "token_not_yours"
    assert not BlacklistedToken.objects.exists()


def test_login_is_throttled_with_error_shape(api, settings):
    UserFactory(email="bo@example.com")
    # Unknown accounts, so that no account's lockout (accounts.lockout) comes first.
    statuses = [api.post(LOGIN, {"email": f"nobody{i}@example.com", "password": "wrong"}).status_code
                for i in range(10)]

    throttled = api.post(LOGIN, {"email": "bo@example.com", "password": DEFAULT_PASSWORD})

    assert statuses == [401] * 10
    assert throttled.status_code == 429
    assert throttled.json()["error"]["code"] == "throttled"
    assert throttled.json()["error"]["retry_after"] > 0
    assert "Retry-After" in throttled.headers
    assert OutstandingToken.objects.count() == 0
