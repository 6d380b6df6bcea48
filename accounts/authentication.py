"""REST authentication: simplejwt's, plus the user's id on the request's log records.

JWT is checked inside DRF views, after every middleware has run, so this is the first
place that knows who is calling.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from rest_framework_simplejwt.authentication import JWTAuthentication as SimpleJWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed

from config.logging import bind_user_id

from .tokens import token_is_current


class JWTAuthentication(SimpleJWTAuthentication):
    def authenticate(self, request):
        result = super().authenticate(request)
        if result is not None:
            bind_user_id(result[0].pk)
        return result

    def get_user(self, validated_token):
        user = super().get_user(validated_token)
        if not token_is_current(validated_token, user):
            raise AuthenticationFailed(_("This session has ended; sign in again."), code="session_ended")
        return user


class JWTAuthenticationScheme(SimpleJWTScheme):
    """drf-spectacular matches its simplejwt scheme on the exact class: without this the
    schema would lose its bearer security scheme."""

    target_class = "accounts.authentication.JWTAuthentication"
