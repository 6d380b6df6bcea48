"""The JWTs of a sign-in session: what they carry and the check every request makes.

A refresh token and the access tokens made from it carry, besides simplejwt's claims,
`sid` (the AuthSession, i.e. the refresh token family) and `ver` (the user's
session_version when it was issued). Ending sessions bumps the version, so every access
token issued before dies at once: REST and the websocket compare `ver` with the User row
they load anyway, no extra query. Refresh tokens are checked against their family row.
"""

from __future__ import annotations

from django.conf import settings
from rest_framework_simplejwt.tokens import RefreshToken, Token

SESSION_CLAIM = "sid"
VERSION_CLAIM = "ver"


def token_pair(*, user_id: int, session_id: str, version: int) -> RefreshToken:
    """A new refresh token (recorded as outstanding, for simplejwt's blacklist); its
    `access_token` carries the same claims."""
    refresh = RefreshToken()
    # Lifetimes are read now, not at import (simplejwt binds them to its classes then).
    refresh.set_exp(from_time=refresh.current_time, lifetime=settings.SIMPLE_JWT["REFRESH_TOKEN_LIFETIME"])
    refresh[settings.SIMPLE_JWT["USER_ID_CLAIM"]] = str(user_id)
    refresh[SESSION_CLAIM] = session_id
    refresh[VERSION_CLAIM] = version
    refresh.outstand()
    return refresh


def access_for(refresh: RefreshToken) -> str:
    access = refresh.access_token
    access.set_exp(from_time=refresh.current_time, lifetime=settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"])
    return str(access)


class FamilyRefreshToken(RefreshToken):
    """A refresh token checked for signature, expiry and type but not against the blacklist:
    a rotated (blacklisted) token of a family must be recognised to end that family."""

    def verify(self, *args, **kwargs) -> None:
        Token.verify(self, *args, **kwargs)


def token_is_current(token, user) -> bool:
    """False once the user's sessions were ended after `token` was issued (logout,
    password change, suspension, a reused refresh token): the token must not be honoured."""
    return token.get(VERSION_CLAIM) == user.session_version
