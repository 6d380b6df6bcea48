"""`GET /api/v1/cameos/{id}/appearances`: served by feed, the app that knows jobs and posts."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.cameos.models import Cameo
from accounts.cameos.serializers import AppearanceSerializer
from config.errors import NotFound
from config.schema import errors

from .cameos import cameo_appearances


class CameoAppearancesApi(APIView):
    @extend_schema(responses={200: AppearanceSerializer(many=True), 404: errors("cameo_not_found")}, tags=["cameos"])
    def get(self, request: Request, cameo_id) -> Response:
        # The owner only, deleted cameos included (their uses still show until the purge).
        cameo = Cameo.objects.filter(pk=cameo_id, owner=request.user).first()
        if cameo is None:
            raise NotFound(_("No such cameo."), code="cameo_not_found")
        return Response(AppearanceSerializer(cameo_appearances(cameo=cameo), many=True).data)
