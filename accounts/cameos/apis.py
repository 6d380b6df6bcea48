"""HTTP endpoints of cameos. Views parse input and call services/selectors."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.http import validated
from config.errors import NotFound
from config.schema import errors

from . import services
from .models import Cameo, CameoGrant, CameoStatus
from .serializers import (
    CameoCreateSerializer,
    CameoSerializer,
    CameoUpdateSerializer,
    ChallengeSerializer,
    GrantSerializer,
)


def _cameo(cameo: Cameo) -> dict:
    return CameoSerializer(cameo).data


class ChallengeApi(APIView):
    @extend_schema(request=None, responses={201: ChallengeSerializer}, tags=["cameos"])
    def post(self, request: Request) -> Response:
        return Response(ChallengeSerializer(services.challenge_issue(user=request.user)).data,
                        status=status.HTTP_201_CREATED)


class CameoListCreateApi(APIView):
    @extend_schema(request={"multipart/form-data": CameoCreateSerializer},
                   responses={201: CameoSerializer,
                              400: errors("clip_too_large", "clip_invalid", "clip_format_unsupported",
                                          "clip_codec_unsupported", "clip_length", "clip_no_audio",
                                          "clip_too_many_pixels", "challenge_invalid", "challenge_expired"),
                              409: errors("cameo_exists")}, tags=["cameos"])
    def post(self, request: Request) -> Response:
        data = validated(CameoCreateSerializer, request)
        cameo = services.cameo_create(user=request.user, **data)
        return Response(_cameo(cameo), status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: CameoSerializer(many=True)}, tags=["cameos"])
    def get(self, request: Request) -> Response:
        mine = Cameo.objects.filter(owner=request.user).exclude(status=CameoStatus.DELETED).select_related("owner")
        return Response([_cameo(c) for c in mine])


class CameoDetailApi(APIView):
    @extend_schema(responses={200: CameoSerializer, 404: errors("cameo_not_found")}, tags=["cameos"])
    def get(self, request: Request, cameo_id) -> Response:
        return Response(_cameo(services._own_cameo(request.user, cameo_id, lock=False)))

    @extend_schema(request=CameoUpdateSerializer, responses={200: CameoSerializer, 404: errors("cameo_not_found")},
                   tags=["cameos"])
    def patch(self, request: Request, cameo_id) -> Response:
        data = validated(CameoUpdateSerializer, request, partial=True)
        return Response(_cameo(services.cameo_update(user=request.user, cameo_id=cameo_id, data=data)))

    @extend_schema(responses={204: None, 404: errors("cameo_not_found")}, tags=["cameos"])
    def delete(self, request: Request, cameo_id) -> Response:
        services.cameo_delete(user=request.user, cameo_id=cameo_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class CameoRequestApi(APIView):
    @extend_schema(request=None, responses={201: GrantSerializer, 400: errors("cameo_own"),
                                            404: errors("cameo_not_found"), 409: errors("cameo_request_refused")},
                   tags=["cameos"])
    def post(self, request: Request, cameo_id) -> Response:
        grant = services.cameo_request(user=request.user, cameo_id=cameo_id)
        return Response(GrantSerializer(grant).data, status=status.HTTP_201_CREATED)


class CameoGrantsApi(APIView):
    @extend_schema(responses={200: GrantSerializer(many=True), 404: errors("cameo_not_found")}, tags=["cameos"])
    def get(self, request: Request, cameo_id) -> Response:
        cameo = services._own_cameo(request.user, cameo_id, lock=False)
        grants = CameoGrant.objects.filter(cameo=cameo).select_related("user").order_by("-updated_at")
        return Response(GrantSerializer(grants, many=True).data)


class CameoGrantDecideApi(APIView):
    @extend_schema(request=None, responses={200: GrantSerializer, 400: errors("cameo_own"),
                                            404: errors("cameo_not_found", "user_not_found",
                                                        "cameo_request_not_found")}, tags=["cameos"])
    def post(self, request: Request, cameo_id, user_id: int, action: str) -> Response:
        if action not in services.GRANT_ACTIONS:
            raise NotFound("Unknown action.", code="not_found")
        grant = services.cameo_grant_decide(user=request.user, cameo_id=cameo_id, grantee_id=user_id, action=action)
        return Response(GrantSerializer(grant).data)
