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
from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory

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


# --- account pre-hijacking -----------------------------------------------------------


def test_verified_sign_in_takes_an_unverified_password_account_from_whoever_set_its_password(api, firebase_emulator):
    """Someone signs up with the victim's address and a password of theirs; the victim later
    signs in with Google for that address. The account becomes the victim's alone."""
    from rest_framework.test import APIClient

    signup = APIClient().post("/api/v1/auth/signup", {"email": "mia@example.com", "password": "attackers-phrase-1",
                                                      "handle": "mia_x"})
    assert signup.status_code == 201
    squatter = signup.json()
    account = User.objects.get()

    response = api.post(URL, {"id_token": unsigned_token("uid-google", email="mia@example.com", verified=True)})

    assert response.status_code == 200
    assert response.json()["user"]["id"] == account.pk
    login = APIClient().post("/api/v1/auth/login", {"email": "mia@example.com", "password": "attackers-phrase-1"})
    assert login.status_code == 401
    refresh = APIClient().post("/api/v1/auth/refresh", {"refresh": squatter["refresh"]})
    assert refresh.json()["error"]["code"] == "session_ended"
    squatters_client = APIClient()
    squatters_client.credentials(HTTP_AUTHORIZATION=f"Bearer {squatter['access']}")
    assert squatters_client.get("/api/v1/me").json()["error"]["code"] == "session_ended"
    victims_client = APIClient()
    victims_client.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['access']}")
    assert victims_client.get("/api/v1/me").status_code == 200
    account.refresh_from_db()
    assert (account.firebase_uid, account.email_verified, account.has_usable_password()) == ("uid-google", True, False)


def test_an_account_linked_before_emails_were_tracked_loses_its_password_on_the_next_verified_sign_in(
        api, firebase_emulator):
    linked = UserFactory(email="mia@example.com", firebase_uid="uid-8")  # a password, and a link

    response = api.post(URL, {"id_token": unsigned_token("uid-8", email="mia@example.com", verified=True)})

    assert response.status_code == 200
    linked.refresh_from_db()
    assert not linked.has_usable_password()
    assert linked.email_verified is True


def test_an_account_whose_email_was_verified_is_linked_and_keeps_its_password(api, firebase_emulator):
    existing = UserFactory(email="mia@example.com", email_verified=True)

    response = api.post(URL, {"id_token": unsigned_token("uid-9", email="mia@example.com", verified=True)})

    assert response.status_code == 200
    existing.refresh_from_db()
    assert existing.firebase_uid == "uid-9"
    assert existing.check_password(DEFAULT_PASSWORD)
    assert existing.session_version == 0


def test_unverified_firebase_email_neither_links_nor_touches_the_password(api, firebase_emulator):
    existing = UserFactory(email="mia@example.com")

    response = api.post(URL, {"id_token": unsigned_token("uid-10", email="mia@example.com", verified=False)})

    assert response.status_code == 409
    existing.refresh_from_db()
    assert (existing.firebase_uid, existing.email_verified) == (None, False)
    assert existing.check_password(DEFAULT_PASSWORD)
    assert existing.session_version == 0


@pytest.mark.parametrize("verified", [True, False])
def test_a_new_firebase_account_records_whether_its_email_was_verified(api, firebase_emulator, verified):
    response = api.post(URL, {"id_token": unsigned_token("uid-11", email="new@example.com", verified=verified)})

    assert response.status_code == 201
    assert User.objects.get(firebase_uid="uid-11").email_verified is verified


def test_the_same_identity_verifying_its_email_later_keeps_its_sessions(api, firebase_emulator):
    first = api.post(URL, {"id_token": unsigned_token("uid-12", email="new@example.com", verified=False)})
    assert first.status_code == 201

    later = api.post(URL, {"id_token": unsigned_token("uid-12", email="new@example.com", verified=True)})

    assert later.status_code == 200
    user = User.objects.get(firebase_uid="uid-12")
    assert (user.email_verified, user.session_version) == (True, 0)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {first.json()['access']}")
    assert api.get("/api/v1/me").status_code == 200


def test_an_unverified_account_held_by_another_firebase_identity_goes_to_the_verified_one(api, firebase_emulator):
    squatter = api.post(URL, {"id_token": unsigned_token("uid-13", email="mia@example.com", verified=False)})
    assert squatter.status_code == 201

    owner = api.post(URL, {"id_token": unsigned_token("uid-14", email="mia@example.com", verified=True)})

    assert owner.status_code == 200
    assert owner.json()["user"]["id"] == squatter.json()["user"]["id"]
    again = api.post(URL, {"id_token": unsigned_token("uid-13", email="mia@example.com", verified=False)})
    assert again.status_code == 409  # uid-13 no longer holds it, and cannot claim it unverified
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {squatter.json()['access']}")
    assert api.get("/api/v1/me").json()["error"]["code"] == "session_ended"
    assert User.objects.get().firebase_uid == "uid-14"
