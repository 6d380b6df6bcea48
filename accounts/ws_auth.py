"""Websocket authentication: the same JWT access token as REST.

The token comes in the query string (`/ws/?token=...`) or, for clients that
cannot put secrets in URLs (they end up in proxy logs), in the
Sec-WebSocket-Protocol header as the pair `bearer, <token>`; the server then
answers with the `bearer` subprotocol.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.security.websocket import OriginValidator
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import AccessToken

from .models import User
from .tokens import SESSION_CLAIM, token_is_current

WS_SUBPROTOCOL = "bearer"


def token_from_scope(scope) -> str | None:
    query = parse_qs(scope.get("query_string", b"").decode("latin1"))
    if query.get("token"):
        return query["token"][0]
    protocols = [p.strip() for p in scope.get("subprotocols") or []]
    if WS_SUBPROTOCOL in protocols:
        index = protocols.index(WS_SUBPROTOCOL)
        if index + 1 < len(protocols):
            return protocols[index + 1]
    return None


@database_sync_to_async
def _user_for_token(raw: str) -> dict:
    try:
        token = AccessToken(raw)
    except TokenError:
        return {"user": AnonymousUser(), "auth_error": "token_invalid"}
    user = User.objects.filter(pk=token.get(api_settings.USER_ID_CLAIM), is_active=True).first()
    if user is None:
        return {"user": AnonymousUser(), "auth_error": "token_invalid"}
    if not token_is_current(token, user):
        return {"user": AnonymousUser(), "auth_error": "session_ended"}
    # The consumer closes the socket when the token expires and when its session ends.
    return {"user": user, "auth_error": None, "auth_expires_at": token["exp"],
            "auth_session": token.get(SESSION_CLAIM)}


class JwtAuthMiddleware:
    """Puts `user`, `auth_error` and, when signed in, `auth_expires_at` (the token's exp)
    and `auth_session` (its session id) in the scope; the consumer decides what to do."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        raw = token_from_scope(scope)
        if raw is None:
            auth = {"user": AnonymousUser(), "auth_error": "token_missing"}
        else:
            auth = await _user_for_token(raw)
        return await self.app({**scope, **auth}, receive, send)


class NativeAppOriginValidator(OriginValidator):
    """Browsers always send Origin, so a browser socket must come from an allowed
    origin (this is what stops cross-site websocket hijacking). Native iOS and
    Android clients send no Origin at all and are let through: their token is
    their credential. channels' own validator refuses a missing Origin, which
    would lock out the mobile apps this backend exists for."""

    def valid_origin(self, parsed_origin):
        if parsed_origin is None:
            return True
        return self.validate_origin(parsed_origin)


def origin_validated(app):
    return NativeAppOriginValidator(app, list(settings.WS_ALLOWED_ORIGINS))

