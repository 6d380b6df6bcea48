"""Email verification, password reset and email change.

Tokens are Django's password-reset kind (an HMAC of the account's state and a timestamp,
nothing stored): the verification token hashes the address and whether it is verified, so
it dies on use and on an email change; the reset token hashes the password hash and the
last sign-in, so it dies on use (the password changes), on any password change, and after
PASSWORD_RESET_TIMEOUT either way. A reset ends every session and refresh token.

Mail goes out from a Celery task after the transaction commits, in the recipient's
language (accounts.emails); asking for a reset answers the same whether or not the address
has an account.
"""

from __future__ import annotations

import logging

from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core.cache import cache
from django.db import transaction
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode
from django.utils.translation import gettext as _

from config.errors import ApplicationError
from config.tasks import task_send_on_commit

from .models import AuthSession, User
from .services import _field_error, _validate_password, sessions_end

logger = logging.getLogger(__name__)

EMAIL_TASK = "accounts.tasks.send_account_email"


class _VerifyTokens(PasswordResetTokenGenerator):
    key_salt = "accounts.email_flows.verify"

    def _make_hash_value(self, user: User, timestamp: int) -> str:
        return f"{user.pk}{user.email}{user.email_verified}{timestamp}"


verify_tokens = _VerifyTokens()
reset_tokens = PasswordResetTokenGenerator()


def uid_of(user: User) -> str:
    return urlsafe_base64_encode(force_bytes(user.pk))


def _token_invalid() -> ApplicationError:
    return ApplicationError(_("This link is not valid any more; ask for a new one."), code="token_invalid")


def _user_of(uid: str) -> User:
    try:
        pk = int(force_str(urlsafe_base64_decode(uid)))
    except (ValueError, TypeError, OverflowError, UnicodeDecodeError):
        raise _token_invalid() from None
    user = User.objects.filter(pk=pk, is_active=True).first()
    if user is None:
        raise _token_invalid()
    return user


def _mail_on_commit(kind: str, user: User) -> None:
    """At most one mail of a kind a minute per account, whatever the throttles let through."""
    if cache.add(f"account-email:{kind}:{user.pk}", 1, timeout=60):
        task_send_on_commit(EMAIL_TASK, kind, user.pk)


def verification_send(*, user: User) -> None:
    """After commit: mail the user a link that proves they read the address."""
    if user.email and not user.email_verified:
        _mail_on_commit("verify", user)


@transaction.atomic
def email_verify(*, uid: str, token: str) -> User:
    user = _user_of(uid)
    if user.email_verified or not verify_tokens.check_token(user, token):
        raise _token_invalid()
    user.email_verified = True
    user.save(update_fields=["email_verified", "updated_at"])
    logger.info("accounts.email_verified", extra={"user_id": user.pk})
    return user


def password_reset_request(*, email: str) -> None:
    """The same answer whether or not the address has an account (nothing to learn from it)."""
    user = User.objects.filter(email__iexact=email.strip(), is_active=True).first()
    if user is not None and user.has_usable_password():
        _mail_on_commit("reset", user)


@transaction.atomic
def password_reset_confirm(*, uid: str, token: str, new_password: str) -> User:
    user = _user_of(uid)
    if not reset_tokens.check_token(user, token):
        raise _token_invalid()
    _validate_password(new_password, user=user, field="new_password")
    user.set_password(new_password)
    user.save(update_fields=["password", "updated_at"])
    sessions_end(user_id=user.pk, reason=AuthSession.EndReason.PASSWORD_CHANGED, session_ids=None)
    logger.info("accounts.password_reset", extra={"user_id": user.pk})
    return user


@transaction.atomic
def email_change(*, user: User, email: str, password: str) -> User:
    """A new address, proven by the password, is unverified until its link is opened."""
    if not user.has_usable_password() or not user.check_password(password):
        raise _field_error("password", "password_incorrect", _("The password is wrong."))
    email = User.objects.normalize_email(email).lower()
    if User.objects.filter(email__iexact=email).exclude(pk=user.pk).exists():
        raise _field_error("email", "email_taken", _("An account with this email already exists."))
    if email == (user.email or "").lower():
        return user
    user.email, user.email_verified = email, False
    user.save(update_fields=["email", "email_verified", "updated_at"])
    verification_send(user=user)
    return user
