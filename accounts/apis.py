"""HTTP endpoints of accounts. Views parse input and call services/selectors."""

from __future__ import annotations

from urllib.parse import urlencode

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.http import validated
from config.pagination import PAGE_SIZE_PARAM, NewestFirstCursorPagination, page_size_from
from config.schema import errors, paginated
from config.throttling import ACTION_THROTTLES, IpActionThrottle, ScopedRateThrottle

from . import events, selectors, services, sessions
from .models import User
from .serializers import (
    AuthResultSerializer,
    DeviceDeleteInputSerializer,
    DeviceInputSerializer,
    DeviceSerializer,
    EventSerializer,
    EventsQuerySerializer,
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
from .email_flows import verification_send
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

    @extend_schema(request=SignupInputSerializer, responses={201: AuthResultSerializer,
                                                             400: errors("age_restricted", "email_taken",
                                                                         "handle_taken")}, tags=["auth"])
    def post(self, request: Request) -> Response:
        user = services.user_signup(**validated(SignupInputSerializer, request))
        verification_send(user=user)
        return _auth_response(request, user, status_code=status.HTTP_201_CREATED)


class LoginApi(_AuthThrottled):
    @extend_schema(request=LoginInputSerializer, responses={200: AuthResultSerializer,
                                                            401: errors("invalid_credentials"),
                                                            403: errors("account_suspended"),
                                                            429: errors("account_locked")}, tags=["auth"])
    def post(self, request: Request) -> Response:
        user = services.user_authenticate(request=request, **validated(LoginInputSerializer, request))
        return _auth_response(request, user)


class FirebaseSignInApi(_AuthThrottled):
    @extend_schema(request=FirebaseInputSerializer, responses={200: AuthResultSerializer,
                                                               201: AuthResultSerializer,
                                                               401: errors("firebase_token_invalid",
                                                                           "firebase_token_expired"),
                                                               403: errors("account_suspended"),
                                                               409: errors("email_taken_unverified"),
                                                               503: errors("firebase_not_configured",
                                                                           "firebase_unavailable")},
                   tags=["auth"])
    def post(self, request: Request) -> Response:
        user, created = services.user_sign_in_with_firebase(**validated(FirebaseInputSerializer, request))
        return _auth_response(request, user, created=created, status_code=201 if created else 200)


class RefreshApi(_AuthThrottled):
    throttle_scope = "auth_refresh"

    @extend_schema(request=RefreshInputSerializer, responses={200: TokenPairSerializer,
                                                              401: errors("token_invalid", "refresh_token_reused",
                                                                          "session_ended")}, tags=["auth"])
    def post(self, request: Request) -> Response:
        return Response(sessions.auth_refresh(**validated(RefreshInputSerializer, request)))


class LogoutApi(APIView):
    @extend_schema(request=RefreshInputSerializer, responses={204: None, 403: errors("token_not_yours")}, tags=["auth"])
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

    @extend_schema(request=MeUpdateInputSerializer, responses={200: MeSerializer,
                                                               400: errors("field_not_editable", "handle_taken",
                                                                           "avatar_too_large",
                                                                           "image_too_many_pixels"),
                                                               403: errors("teen_restricted")},
                   tags=["me"])
    def patch(self, request: Request) -> Response:
        user = services.user_update(user=request.user, data=validated(MeUpdateInputSerializer, request, partial=True))
        return Response(MeSerializer(user, context={"request": request}).data)


class DevicesApi(APIView):
    @extend_schema(request=DeviceInputSerializer, responses={201: DeviceSerializer,
                                                             409: errors("device_registered_elsewhere")}, tags=["me"])
    def post(self, request: Request) -> Response:
        data = validated(DeviceInputSerializer, request)
        device = services.device_register(
            user=request.user, fcm_token=data["token"], platform=data["platform"],
            app_version=data["app_version"], locale=data["locale"], session_id=request.auth.get(SESSION_CLAIM),
        )
        return Response(DeviceSerializer(device).data, status=status.HTTP_201_CREATED)

    # The token is in the DELETE's body, which OpenAPI 3.0 does not describe: its 400 is listed here.
    @extend_schema(request=DeviceDeleteInputSerializer,
                   responses={204: None, 400: errors("validation_error", "malformed_request")}, tags=["me"])
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

    @extend_schema(request=None, responses={200: PublicUserSerializer,
                                            400: errors("follow_self"),
                                            403: errors("blocked")}, tags=["users"])
    def post(self, request: Request, handle: str) -> Response:
        services.follow_create(follower=request.user, followee=_target(request, handle))
        return _profile(request, handle)

    @extend_schema(request=None, responses={200: PublicUserSerializer}, tags=["users"])
    def delete(self, request: Request, handle: str) -> Response:
        services.follow_delete(follower=request.user, followee=_target(request, handle))
        return _profile(request, handle)


class BlockApi(APIView):
    @extend_schema(request=None, responses={204: None, 400: errors("block_self")}, tags=["users"])
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


@extend_schema_view(get=extend_schema(responses={200: paginated(FollowerEdgeSerializer)}, tags=["users"]))
class FollowersApi(_EdgeListApi):
    serializer_class = FollowerEdgeSerializer
    selector = staticmethod(selectors.user_followers)


@extend_schema_view(get=extend_schema(responses={200: paginated(FollowingEdgeSerializer)}, tags=["users"]))
class FollowingApi(_EdgeListApi):
    serializer_class = FollowingEdgeSerializer
    selector = staticmethod(selectors.user_following)


class EventsApi(APIView):
    """The events a device missed, in seq order, in pages: follow `next` until it is null."""

    @extend_schema(parameters=[EventsQuerySerializer], tags=["events"],
                   responses={200: paginated(EventSerializer, None), 410: errors("events_expired")})
    def get(self, request: Request) -> Response:
        query = EventsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        size = page_size_from(request.query_params.get(PAGE_SIZE_PARAM), default=100, maximum=500)
        after = query.validated_data["after"]
        frames = events.events_after(user_id=request.user.pk, after=after, limit=size + 1)
        following = None
        if len(frames) > size:
            frames = frames[:size]
            following = request.build_absolute_uri(
                f"{request.path}?{urlencode({'after': frames[-1]['seq'], PAGE_SIZE_PARAM: size})}")
        return Response({"next": following, "previous": None, "results": frames})
