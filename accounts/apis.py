"""HTTP endpoints of accounts. Views parse input and call services/selectors."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.http import validated
from config.pagination import NewestFirstCursorPagination
from config.throttling import ACTION_THROTTLES, IpActionThrottle, ScopedRateThrottle

from . import selectors, services, sessions
from .models import User
from .serializers import (
    AuthResultSerializer,
    DeviceDeleteInputSerializer,
    DeviceInputSerializer,
    DeviceSerializer,
    FirebaseInputSerializer,
    FollowerEdgeSerializer,
    FollowingEdgeSerializer,
    LoginInputSerializer,
    MeSerializer,
    MeUpdateInputSerializer,
    PasswordChangeInputSerializer,
    PublicUserSerializer,
    RefreshInputSerializer,
    SignupInputSerializer,
    TokenPairSerializer,
)
from .tokens import SESSION_CLAIM


class _AuthThrottled(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth"


def _auth_response(request: Request, user, *, created: bool | None = None, status_code: int = 200) -> Response:
    body = {"user": MeSerializer(user, context={"request": request}).data, **services.tokens_for_user(user)}
    if created is not None:
        body["created"] = created
    return Response(body, status=status_code)


class SignupApi(_AuthThrottled):
    # Per client IP only (THROTTLE_SIGNUPS_IP_RATE, stricter than `auth`): there is no account yet.
    throttle_classes = [IpActionThrottle]
    throttle_scope = "signups"

    @extend_schema(request=SignupInputSerializer, responses={201: AuthResultSerializer}, tags=["auth"])
    def post(self, request: Request) -> Response:
        user = services.user_signup(**validated(SignupInputSerializer, request))
        return _auth_response(request, user, status_code=status.HTTP_201_CREATED)


class LoginApi(_AuthThrottled):
    @extend_schema(request=LoginInputSerializer, responses={200: AuthResultSerializer}, tags=["auth"])
    def post(self, request: Request) -> Response:
        user = services.user_authenticate(request=request, **validated(LoginInputSerializer, request))
        return _auth_response(request, user)


class FirebaseSignInApi(_AuthThrottled):
    @extend_schema(request=FirebaseInputSerializer, responses={200: AuthResultSerializer, 201: AuthResultSerializer},
                   tags=["auth"])
    def post(self, request: Request) -> Response:
        user, created = services.user_sign_in_with_firebase(**validated(FirebaseInputSerializer, request))
        return _auth_response(request, user, created=created, status_code=201 if created else 200)


class RefreshApi(_AuthThrottled):
    throttle_scope = "auth_refresh"

    @extend_schema(request=RefreshInputSerializer, responses={200: TokenPairSerializer}, tags=["auth"])
    def post(self, request: Request) -> Response:
        return Response(sessions.auth_refresh(**validated(RefreshInputSerializer, request)))


class LogoutApi(APIView):
    @extend_schema(request=RefreshInputSerializer, responses={204: None}, tags=["auth"])
    def post(self, request: Request) -> Response:
        sessions.auth_logout(user=request.user, **validated(RefreshInputSerializer, request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class LogoutEverywhereApi(APIView):
    @extend_schema(request=None, responses={204: None}, tags=["auth"])
    def post(self, request: Request) -> Response:
        sessions.auth_logout_everywhere(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasswordApi(APIView):
    # Each attempt checks the current password: throttled like a sign-in.
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth"

    @extend_schema(request=PasswordChangeInputSerializer, responses={200: TokenPairSerializer}, tags=["me"])
    def post(self, request: Request) -> Response:
        services.user_password_change(user=request.user, **validated(PasswordChangeInputSerializer, request))
        # Every session ended, this one too: the caller goes on in a new one.
        return Response(services.tokens_for_user(request.user))


class MeApi(APIView):
    @extend_schema(responses={200: MeSerializer}, tags=["me"])
    def get(self, request: Request) -> Response:
        return Response(MeSerializer(request.user, context={"request": request}).data)

    @extend_schema(request=MeUpdateInputSerializer, responses={200: MeSerializer}, tags=["me"])
    def patch(self, request: Request) -> Response:
        user = services.user_update(user=request.user, data=validated(MeUpdateInputSerializer, request, partial=True))
        return Response(MeSerializer(user, context={"request": request}).data)


class DevicesApi(APIView):
    @extend_schema(request=DeviceInputSerializer, responses={201: DeviceSerializer}, tags=["me"])
    def post(self, request: Request) -> Response:
        data = validated(DeviceInputSerializer, request)
        device = services.device_register(
            user=request.user, fcm_token=data["token"], platform=data["platform"],
            app_version=data["app_version"], locale=data["locale"], session_id=request.auth.get(SESSION_CLAIM),
        )
        return Response(DeviceSerializer(device).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=DeviceDeleteInputSerializer, responses={204: None}, tags=["me"])
    def delete(self, request: Request) -> Response:
        data = validated(DeviceDeleteInputSerializer, request)
        services.device_unregister(user=request.user, fcm_token=data["token"])
        return Response(status=status.HTTP_204_NO_CONTENT)


def _target(request: Request, handle: str) -> User:
    """The profile at `handle` as the viewer may see it (404 when its owner blocked them)."""
    return selectors.user_visible_by_handle(handle=handle, viewer=request.user)


def _profile(request: Request, handle: str) -> Response:
    # Read after the view's change, if any, so the follow flag and the counts show it.
    return Response(PublicUserSerializer(_target(request, handle), context={"request": request}).data)


class ProfileApi(APIView):
    @extend_schema(responses={200: PublicUserSerializer}, tags=["users"])
    def get(self, request: Request, handle: str) -> Response:
        return _profile(request, handle)


class FollowApi(APIView):
    throttle_classes = ACTION_THROTTLES
    throttle_scope = "follows"

    @extend_schema(request=None, responses={200: PublicUserSerializer}, tags=["users"])
    def post(self, request: Request, handle: str) -> Response:
        services.follow_create(follower=request.user, followee=_target(request, handle))
        return _profile(request, handle)

    @extend_schema(request=None, responses={200: PublicUserSerializer}, tags=["users"])
    def delete(self, request: Request, handle: str) -> Response:
        services.follow_delete(follower=request.user, followee=_target(request, handle))
        return _profile(request, handle)


class BlockApi(APIView):
    @extend_schema(request=None, responses={204: None}, tags=["users"])
    def post(self, request: Request, handle: str) -> Response:
        services.block_create(blocker=request.user, blocked=_target(request, handle))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={204: None}, tags=["users"])
    def delete(self, request: Request, handle: str) -> Response:
        services.block_delete(blocker=request.user, blocked=_target(request, handle))
        return Response(status=status.HTTP_204_NO_CONTENT)


class _EdgeListApi(APIView):
    serializer_class: type
    selector = None

    def get(self, request: Request, handle: str) -> Response:
        owner = _target(request, handle)
        paginator = NewestFirstCursorPagination()
        page = paginator.paginate_queryset(type(self).selector(user=owner), request, view=self)
        return paginator.get_paginated_response(self.serializer_class(page, many=True, context={"request": request}).data)


@extend_schema_view(get=extend_schema(responses={200: FollowerEdgeSerializer(many=True)}, tags=["users"]))
class FollowersApi(_EdgeListApi):
    serializer_class = FollowerEdgeSerializer
    selector = staticmethod(selectors.user_followers)


@extend_schema_view(get=extend_schema(responses={200: FollowingEdgeSerializer(many=True)}, tags=["users"]))
class FollowingApi(_EdgeListApi):
    serializer_class = FollowingEdgeSerializer
    selector = staticmethod(selectors.user_following)
