"""REST authentication: simplejwt's, plus the user's id on the request's log records.

JWT is checked inside DRF views, after every middleware has run, so this is the first
place that knows who is calling: it binds the user's id to the log records and switches
the response to the user's language (accounts.i18n).
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from rest_framework_simplejwt.authentication import JWTAuthentication as SimpleJWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken

from config.logging import bind_user_id

from .i18n import activate_for_user
from .tokens import token_is_current


def _token_invalid() -> AuthenticationFailed:
    return AuthenticationFailed(_("The access token is invalid or expired; refresh it or sign in again."),
                                code="token_invalid")


class JWTAuthentication(SimpleJWTAuthentication):
    def authenticate(self, request):
        result = super().authenticate(request)
        if result is not None:
            bind_user_id(result[0].pk)
            activate_for_user(request, result[0])
        return result

    # One code for "this access token does not sign you in", as on refresh and the socket:
    # `token_invalid` (bad, expired, or its account gone or suspended: refresh, or sign in
    # again). simplejwt answered `token_not_valid`, `bad_authorization_header`, `user_not_found`
    # or `user_inactive`.
    def get_raw_token(self, header):
        try:
            return super().get_raw_token(header)
        except AuthenticationFailed as exc:  # "Bearer" with no token, or with two
            raise _token_invalid() from exc

    def get_validated_token(self, raw_token):
        try:
            return super().get_validated_token(raw_token)
        except InvalidToken as exc:
            raise _token_invalid() from exc

    def get_user(self, validated_token):
        try:
            user = super().get_user(validated_token)
        except AuthenticationFailed as exc:
            raise _token_invalid() from exc
        if not token_is_current(validated_token, user):
            raise AuthenticationFailed(_("This session has ended; sign in again."), code="session_ended")
        return user


class JWTAuthenticationScheme(SimpleJWTScheme):
    """drf-spectacular matches its simplejwt scheme on the exact class: without this the
    schema would lose its bearer security scheme."""

    target_class = "accounts.authentication.JWTAuthentication"
