"""Email verification, password reset and email change over HTTP (accounts.email_flows)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.http import validated
from config.schema import errors
from config.throttling import AccountActionThrottle, IpActionThrottle

from . import email_flows
from .apis import _AuthThrottled, _auth_response
from .serializers import MeSerializer


class TokenInputSerializer(serializers.Serializer):
    uid = serializers.CharField(max_length=64)
    token = serializers.CharField(max_length=128)


class ResetRequestInputSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)


class ResetConfirmInputSerializer(TokenInputSerializer):
    new_password = serializers.CharField(max_length=128, trim_whitespace=False)


class EmailChangeInputSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(max_length=128, trim_whitespace=False)


class AcceptedSerializer(serializers.Serializer):
    detail = serializers.CharField()


def _accepted(detail: str) -> Response:
    return Response({"detail": detail}, status=status.HTTP_202_ACCEPTED)


class EmailVerifyApi(_AuthThrottled):
    @extend_schema(request=TokenInputSerializer, responses={200: MeSerializer, 400: errors("token_invalid")},
                   tags=["auth"])
    def post(self, request: Request) -> Response:
        user = email_flows.email_verify(**validated(TokenInputSerializer, request))
        return Response(MeSerializer(user, context={"request": request}).data)


class PasswordResetApi(_AuthThrottled):
    throttle_classes = [IpActionThrottle]
    throttle_scope = "account_emails"

    @extend_schema(request=ResetRequestInputSerializer, responses={202: AcceptedSerializer}, tags=["auth"])
    def post(self, request: Request) -> Response:
        email_flows.password_reset_request(**validated(ResetRequestInputSerializer, request))
        return _accepted("If an account has this email, a link to reset its password is on its way.")


class PasswordResetConfirmApi(_AuthThrottled):
    @extend_schema(request=ResetConfirmInputSerializer, tags=["auth"],
                   responses={200: MeSerializer, 400: errors("token_invalid", "password_invalid")})
    def post(self, request: Request) -> Response:
        user = email_flows.password_reset_confirm(**validated(ResetConfirmInputSerializer, request))
        return _auth_response(request, user)


class EmailVerificationResendApi(APIView):
    throttle_classes = [AccountActionThrottle, IpActionThrottle]
    throttle_scope = "account_emails"

    @extend_schema(request=None, responses={202: AcceptedSerializer}, tags=["me"])
    def post(self, request: Request) -> Response:
        email_flows.verification_send(user=request.user)
        return _accepted("If your email still needs confirming, a new link is on its way.")


class EmailChangeApi(APIView):
    throttle_classes = [AccountActionThrottle, IpActionThrottle]
    throttle_scope = "account_emails"

    @extend_schema(request=EmailChangeInputSerializer, tags=["me"],
                   responses={200: MeSerializer, 400: errors("password_incorrect", "email_taken")})
    def post(self, request: Request) -> Response:
        user = email_flows.email_change(user=request.user, **validated(EmailChangeInputSerializer, request))
        return Response(MeSerializer(user, context={"request": request}).data)
