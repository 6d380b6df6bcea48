"""POST /api/v1/me/delete and POST /api/v1/me/delete/cancel."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.http import validated
from config.schema import errors
from config.throttling import ScopedRateThrottle

from ..apis import _auth_response
from ..serializers import AuthResultSerializer
from . import services
from .serializers import DeletionCancelInputSerializer, DeletionRequestInputSerializer, DeletionSerializer


class DeletionRequestApi(APIView):
    # Each attempt checks a password: throttled like a sign-in.
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth"

    @extend_schema(request=DeletionRequestInputSerializer,
                   responses={202: DeletionSerializer,
                              400: errors("reauth_required"),
                              403: errors("reauth_failed", "reauth_stale"),
                              409: errors("store_subscription_active", "deletion_already_requested"),
                              503: errors("firebase_not_configured", "firebase_unavailable")},
                   tags=["me"])
    def post(self, request: Request) -> Response:
        deletion = services.account_delete_request(user=request.user,
                                                   **validated(DeletionRequestInputSerializer, request))
        return Response(DeletionSerializer(deletion).data, status=status.HTTP_202_ACCEPTED)


class DeletionCancelApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth"

    @extend_schema(request=DeletionCancelInputSerializer,
                   responses={200: AuthResultSerializer,
                              400: errors("reauth_required"),
                              403: errors("reauth_failed", "reauth_stale", "account_suspended"),
                              409: errors("deletion_not_pending", "deletion_grace_over"),
                              503: errors("firebase_not_configured", "firebase_unavailable")},
                   tags=["auth"])
    def post(self, request: Request) -> Response:
        user = services.account_delete_cancel(**validated(DeletionCancelInputSerializer, request))
        return _auth_response(request, user)
