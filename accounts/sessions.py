"""Services of a sign-in session after it started: refresh token rotation and logout.

A session starts in services.tokens_for_user and ends in services.sessions_end.
"""

from __future__ import annotations

import logging
import uuid

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework_simplejwt.exceptions import TokenError

from config.errors import ApplicationError, Forbidden

from .models import AuthSession, User
from .services import TokenInvalid, sessions_end, tokens_for_user
from .tokens import SESSION_CLAIM, FamilyRefreshToken, access_for, token_pair

logger = logging.getLogger(__name__)


class SessionEnded(ApplicationError):
    status_code = 401
    code = "session_ended"


class RefreshReused(ApplicationError):
    status_code = 401
    code = "refresh_token_reused"


def _refresh_token(raw: str) -> tuple[FamilyRefreshToken, str, str | None]:
    """The token, its user id and its session id (None for tokens from before sessions)."""
    try:
        token = FamilyRefreshToken(raw)
        session_id = token.get(SESSION_CLAIM)
        user_id = str(token.get(settings.SIMPLE_JWT["USER_ID_CLAIM"]))
        return token, user_id, None if session_id is None else str(uuid.UUID(session_id))
    except (TokenError, ValueError, TypeError, AttributeError) as exc:
        raise TokenInvalid(_("The refresh token is invalid or expired.")) from exc


def _refresh_without_session(token: FamilyRefreshToken, user_id: str) -> dict[str, str]:
    """A token issued before sessions existed: rotated into a session of its own."""
    try:
        token.check_blacklist()
    except TokenError as exc:
        raise TokenInvalid(_("The refresh token is invalid, expired or already used.")) from exc
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        raise TokenInvalid(_("The account is gone or suspended."))
    with transaction.atomic():
        token.blacklist()
        return tokens_for_user(user)


def auth_refresh(*, refresh: str) -> dict[str, str]:
    """Rotate: the presented refresh token dies and its session goes on with a new pair.

    A token its family already rotated past was copied (the client holds only the newest):
    the whole family ends, the newest token and its access tokens with it (RFC 9700, 4.14.2).
    """
    token, user_id, session_id = _refresh_token(refresh)
    if session_id is None:
        return _refresh_without_session(token, user_id)
    with transaction.atomic():
        session = AuthSession.objects.select_for_update().filter(pk=session_id, user_id=user_id).first()
        if session is None:
            raise TokenInvalid(_("The refresh token is invalid or expired."))
        if session.ended_at is not None:
            raise SessionEnded(_("This session has ended; sign in again."))
        if session.refresh_jti != token["jti"]:
            sessions_end(user_id=session.user_id, reason=AuthSession.EndReason.REFRESH_REUSED,
                         session_ids=[session_id])
            reused = True
        else:
            reused = False
            user = User.objects.filter(pk=session.user_id, is_active=True).first()
            if user is None:
                raise TokenInvalid(_("The account is gone or suspended."))
            token.blacklist()
            fresh = token_pair(user_id=user.pk, session_id=session_id, version=user.session_version)
            session.refresh_jti, session.refreshed_at = fresh["jti"], timezone.now()
            session.save(update_fields=["refresh_jti", "refreshed_at"])
    if reused:  # raised after commit: the family must stay ended
        logger.warning("accounts.refresh_reused", extra={"user_id": session.user_id, "session_id": session_id})
        raise RefreshReused(_("This refresh token was already used; the session has ended. Sign in again."))
    return {"access": access_for(fresh), "refresh": str(fresh)}


def auth_logout(*, refresh: str, user: User) -> None:
    """Log this device out: its session (refresh token family) ends, and so does every access
    token of the user (the other devices get new ones on their next refresh)."""
    token, user_id, session_id = _refresh_token(refresh)
    if user_id != str(user.pk):
        raise Forbidden(_("This refresh token belongs to another account."), code="token_not_yours")
    with transaction.atomic():
        token.blacklist()
        sessions_end(user_id=user.pk, reason=AuthSession.EndReason.LOGOUT,
                     session_ids=[] if session_id is None else [session_id])


@transaction.atomic
def auth_logout_everywhere(*, user: User) -> None:
    sessions_end(user_id=user.pk, reason=AuthSession.EndReason.LOGOUT_ALL, session_ids=None)
