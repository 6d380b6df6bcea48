"""Firebase sign-in through the real firebase-admin verification path.

With FIREBASE_AUTH_EMULATOR_HOST set, firebase-admin accepts the Auth emulator's
unsigned tokens (it still checks audience, issuer and subject); without it, an
unsigned or wrongly signed token must be refused.
"""

import base64
import json
import time

import pytest

from accounts.models import User
from accounts.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/auth/firebase"
PROJECT = "clipsocial-test"


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def unsigned_token(uid: str, *, email: str | None = None, verified: bool = True, project: str = PROJECT,
                   alg: str = "none", kid: str | None = None, name: str = "Mia Tan") -> str:
    """The token shape the Firebase Auth emulator issues (alg none, empty signature)."""
    now = int(time.time())
    header = {"alg": alg, "typ": "JWT"}
    if kid:
        header["kid"] = kid
    claims = {
        "iss": f"https://securetoken.google.com/{project}", "aud": project, "auth_time": now,
        "user_id": uid, "sub": uid, "iat": now, "exp": now + 3600, "name": name,
        "firebase": {"identities": {}, "sign_in_provider": "password"},
    }
    if email:
        claims.update(email=email, email_verified=verified)
    return f"{_b64(header)}.{_b64(claims)}."


@pytest.fixture
def firebase_emulator(settings, monkeypatch):
    settings.FIREBASE_PROJECT_ID = PROJECT
    monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9099")


@pytest.fixture
def firebase_real(settings, monkeypatch):
    settings.FIREBASE_PROJECT_ID = PROJECT
    monkeypatch.delenv("FIREBASE_AUTH_EMULATOR_HOST", raising=False)


def test_first_sign_in_creates_user_then_later_ones_find_it(api, firebase_emulator):
    first = api.post(URL, {"id_token": unsigned_token("uid-1", email="mia@example.com")})

    assert first.status_code == 201, first.json()
    assert first.json()["created"] is True
    user = User.objects.get(firebase_uid="uid-1")
    assert user.email == "mia@example.com"
    assert user.handle == "mia"
    assert user.display_name == "Mia Tan"
    assert not user.has_usable_password()

    again = api.post(URL, {"id_token": unsigned_token("uid-1", email="mia@example.com")})

    assert again.status_code == 200
    assert again.json()["created"] is False
    assert again.json()["user"]["id"] == user.pk
    assert User.objects.count() == 1


def test_verified_email_links_to_existing_password_account(api, firebase_emulator):
    existing = UserFactory(email="mia@example.com")

    response = api.post(URL, {"id_token": unsigned_token("uid-2", email="MIA@example.com", verified=True)})

    assert response.status_code == 200
    assert response.json()["user"]["id"] == existing.pk
    existing.refresh_from_db()
    assert existing.firebase_uid == "uid-2"
    assert User.objects.count() == 1


def test_unverified_email_does_not_take_over_existing_account(api, firebase_emulator):
    existing = UserFactory(email="mia@example.com")

    response = api.post(URL, {"id_token": unsigned_token("uid-3", email="mia@example.com", verified=False)})

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "email_taken_unverified"
    existing.refresh_from_db()
    assert existing.firebase_uid is None
    assert User.objects.count() == 1


def test_phone_only_account_gets_generated_handle(api, firebase_emulator):
    response = api.post(URL, {"id_token": unsigned_token("uid-4", name="")})

    assert response.status_code == 201
    user = User.objects.get(firebase_uid="uid-4")
    assert user.email is None
    assert user.handle == "user"


def test_token_for_another_project_is_rejected(api, firebase_emulator):
    response = api.post(URL, {"id_token": unsigned_token("uid-5", project="someone-else")})

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "firebase_token_invalid"
    assert User.objects.count() == 0


@pytest.mark.parametrize("token", [
    unsigned_token("uid-6", email="eve@example.com"),                    # emulator-style, unsigned
    unsigned_token("uid-6", email="eve@example.com", alg="HS256", kid="k1"),  # wrong algorithm
    "not-a-jwt",
])
def test_forged_tokens_are_rejected_without_emulator(api, firebase_real, token):
    response = api.post(URL, {"id_token": token})

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "firebase_token_invalid"
    assert User.objects.count() == 0


def test_firebase_not_configured_is_a_clear_error(api, settings, monkeypatch):
    settings.FIREBASE_PROJECT_ID = ""
    monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9099")

    response = api.post(URL, {"id_token": unsigned_token("uid-7")})

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "firebase_not_configured"
    assert User.objects.count() == 0
