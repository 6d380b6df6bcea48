"""Account emails (verification, password reset), sent by accounts.tasks.send_account_email
outside any transaction, through Django's email framework (EMAIL_URL), in the recipient's
language. Links open the app (ACCOUNT_LINK_BASE_URL: universal / app links), which posts the
uid and token to the API."""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from django.conf import settings
from django.core.mail import send_mail
from django.utils import translation
from django.utils.translation import gettext as _

from .email_flows import reset_tokens, uid_of, verify_tokens
from .i18n import user_language
from .models import User

logger = logging.getLogger(__name__)


def _link(path: str, user: User, token: str) -> str:
    return f"{settings.ACCOUNT_LINK_BASE_URL.rstrip('/')}/{path}?{urlencode({'uid': uid_of(user), 'token': token})}"


def _verify(user: User) -> tuple[str, str]:
    link = _link("verify-email", user, verify_tokens.make_token(user))
    return _("Confirm your email address"), _(
        "Hi %(name)s,\n\nOpen this link to confirm that %(email)s is yours:\n\n%(link)s\n\n"
        "If you did not sign up, ignore this email.") % {"name": user.display_name or user.handle,
                                                         "email": user.email, "link": link}


def _reset(user: User) -> tuple[str, str]:
    link = _link("reset-password", user, reset_tokens.make_token(user))
    hours = settings.PASSWORD_RESET_TIMEOUT // 3600
    return _("Reset your password"), _(
        "Hi %(name)s,\n\nOpen this link within %(hours)d hours to choose a new password:\n\n%(link)s\n\n"
        "Every device signed in to your account will be signed out. If you did not ask for this, "
        "ignore this email: your password stays the same.") % {
            "name": user.display_name or user.handle, "hours": hours, "link": link}


_KINDS = {"verify": _verify, "reset": _reset}


def account_email_send(*, kind: str, user_id: int) -> int:
    """Returns how many messages went out (0: nobody to send to any more)."""
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None or not user.email or (kind == "verify" and user.email_verified):
        return 0
    with translation.override(user_language(user)):
        subject, body = _KINDS[kind](user)
    sent = send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [user.email])
    logger.info("accounts.email_sent", extra={"user_id": user.pk, "kind": kind})
    return sent
