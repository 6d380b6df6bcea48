"""Verification, password reset and email change, with mail sent over SMTP to a local server."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import pytest

from accounts.models import AuthSession, User
from accounts.email_flows import uid_of, verify_tokens
from accounts.tasks import send_account_email
from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

EMAIL_TASK = "accounts.tasks.send_account_email"


@pytest.fixture(autouse=True)
def _mail_at_once(request, monkeypatch):
    """The test's transaction never commits: mail tasks are sent at once here, except in the
    tests that check they wait for the commit."""
    if "django_capture_on_commit_callbacks" not in request.fixturenames:
        from config.tasks import task_send_now

        monkeypatch.setattr("accounts.email_flows.task_send_on_commit", task_send_now)


def _deliver(sent_tasks) -> None:
    """Run the recorded mail tasks as a worker would."""
    for name, args, _ in list(sent_tasks):
        if name == EMAIL_TASK:
            send_account_email.run(*args)
    sent_tasks[:] = [t for t in sent_tasks if t[0] != EMAIL_TASK]


def _link(message) -> dict[str, str]:
    url = re.search(r"https?://\S+", message.get_content()).group(0)
    return {key: values[0] for key, values in parse_qs(urlparse(url).query).items()}


def test_sign_up_mails_a_link_that_verifies_once(api, mailbox, sent_tasks, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        api.post("/api/v1/auth/signup", {"email": "early@example.com", "password": DEFAULT_PASSWORD,
                                         "handle": "early", "birth_year": 1990}, format="json")
    assert sent_tasks == [] and callbacks  # nothing is mailed before the account is committed
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/v1/auth/signup", {"email": "Ana@Example.com", "password": DEFAULT_PASSWORD,
                                                    "handle": "ana", "birth_year": 1990}, format="json")
    assert response.status_code == 201
    _deliver(sent_tasks)

    [message] = mailbox.messages
    assert message["To"] == "ana@example.com" and message["Subject"] == "Confirm your email address"
    link = _link(message)
    first = api.post("/api/v1/auth/email/verify", link, format="json")
    assert first.status_code == 200 and User.objects.get(handle="ana").email_verified
    again = api.post("/api/v1/auth/email/verify", link, format="json")
    assert (again.status_code, again.json()["error"]["code"]) == (400, "token_invalid")


@pytest.mark.parametrize("link", [
    lambda user: {"uid": "not-base64!", "token": "x"},
    lambda user: {"uid": uid_of(user), "token": "abc-123"},
    lambda user: {"uid": "OTk5OTk5OTk", "token": verify_tokens.make_token(user)},  # someone else's uid
    lambda user: {"uid": "", "token": ""},
])
def test_a_bad_verification_link_changes_nothing(api, link):
    user = UserFactory(email_verified=False)
    response = api.post("/api/v1/auth/email/verify", link(user), format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] in ("token_invalid", "validation_error")
    assert not User.objects.filter(email_verified=True).exists()


def test_reset_answers_the_same_for_unknown_addresses_and_mails_only_real_ones(api, mailbox, sent_tasks):
    UserFactory(email="real@example.com")

    known = api.post("/api/v1/auth/password/reset", {"email": "real@example.com"}, format="json")
    unknown = api.post("/api/v1/auth/password/reset", {"email": "nobody@example.com"}, format="json")
    _deliver(sent_tasks)

    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    assert [m["To"] for m in mailbox.messages] == ["real@example.com"]


def test_reset_sets_the_password_ends_every_session_and_the_link_dies(api, mailbox, sent_tasks, client_for):
    user = UserFactory(email="real@example.com")
    other_device = client_for(user)
    assert other_device.get("/api/v1/me").status_code == 200
    api.post("/api/v1/auth/password/reset", {"email": "real@example.com"}, format="json")
    _deliver(sent_tasks)
    link = _link(mailbox.messages[0])

    response = api.post("/api/v1/auth/password/reset/confirm", {**link, "new_password": "another-long-phrase-42"},
                        format="json")

    assert response.status_code == 200 and response.json()["access"]
    user.refresh_from_db()
    assert user.check_password("another-long-phrase-42")
    assert other_device.get("/api/v1/me").status_code == 401
    assert AuthSession.objects.filter(user=user, end_reason="password_changed").exists()
    reused = api.post("/api/v1/auth/password/reset/confirm", {**link, "new_password": "third-long-phrase-77"},
                      format="json")
    assert (reused.status_code, reused.json()["error"]["code"]) == (400, "token_invalid")
    user.refresh_from_db()
    assert user.check_password("another-long-phrase-42")


def test_a_reset_link_dies_when_the_password_changes_meanwhile_or_it_expires(api, mailbox, sent_tasks, settings,
                                                                           auth_api):
    user = auth_api.user
    api.post("/api/v1/auth/password/reset", {"email": user.email}, format="json")
    _deliver(sent_tasks)
    link = _link(mailbox.messages[0])
    auth_api.post("/api/v1/me/password", {"current_password": DEFAULT_PASSWORD, "new_password": "changed-phrase-88"},
                  format="json")

    response = api.post("/api/v1/auth/password/reset/confirm", {**link, "new_password": "another-long-phrase-42"},
                        format="json")
    assert response.status_code == 400

    settings.PASSWORD_RESET_TIMEOUT = -1  # every link is expired
    from django.core.cache import cache

    cache.clear()
    api.post("/api/v1/auth/password/reset", {"email": user.email}, format="json")
    _deliver(sent_tasks)
    expired = api.post("/api/v1/auth/password/reset/confirm",
                       {**_link(mailbox.messages[-1]), "new_password": "another-long-phrase-42"}, format="json")
    assert expired.status_code == 400
    user.refresh_from_db()
    assert user.check_password("changed-phrase-88")


def test_a_weak_new_password_is_refused_and_the_link_still_works(api, mailbox, sent_tasks):
    UserFactory(email="real@example.com")
    api.post("/api/v1/auth/password/reset", {"email": "real@example.com"}, format="json")
    _deliver(sent_tasks)
    link = _link(mailbox.messages[0])

    weak = api.post("/api/v1/auth/password/reset/confirm", {**link, "new_password": "123"}, format="json")
    assert weak.status_code == 400 and "new_password" in weak.json()["error"]["fields"]
    assert api.post("/api/v1/auth/password/reset/confirm", {**link, "new_password": "another-long-phrase-42"},
                    format="json").status_code == 200


def test_email_change_needs_the_password_and_verifies_the_new_address(auth_api, mailbox, sent_tasks):
    UserFactory(email="taken@example.com")
    wrong = auth_api.post("/api/v1/me/email", {"email": "new@example.com", "password": "nope"}, format="json")
    taken = auth_api.post("/api/v1/me/email", {"email": "TAKEN@example.com", "password": DEFAULT_PASSWORD},
                          format="json")
    assert wrong.json()["error"]["fields"]["password"][0]["code"] == "password_incorrect"
    assert taken.json()["error"]["fields"]["email"][0]["code"] == "email_taken"
    before = auth_api.user.email

    changed = auth_api.post("/api/v1/me/email", {"email": "new@example.com", "password": DEFAULT_PASSWORD},
                            format="json")
    _deliver(sent_tasks)

    assert changed.status_code == 200 and changed.json()["email"] == "new@example.com"
    user = User.objects.get(pk=auth_api.user.pk)
    assert before != user.email and not user.email_verified
    [message] = mailbox.messages
    assert message["To"] == "new@example.com"
    assert auth_api.post("/api/v1/auth/email/verify", _link(message), format="json").status_code == 200


def test_a_link_for_the_old_address_dies_with_an_email_change(api, auth_api, mailbox, sent_tasks):
    auth_api.post("/api/v1/me/email/verification")
    _deliver(sent_tasks)
    old_link = _link(mailbox.messages[0])
    auth_api.post("/api/v1/me/email", {"email": "new@example.com", "password": DEFAULT_PASSWORD}, format="json")

    assert api.post("/api/v1/auth/email/verify", old_link, format="json").status_code == 400
