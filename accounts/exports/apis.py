"""HTTP endpoints of the account export: ask for one, see the latest, download it."""

from __future__ import annotations

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.schema import errors

from . import selectors, services
from .serializers import AccountExportSerializer


class AccountExportApi(APIView):
    @extend_schema(request=None, responses={202: AccountExportSerializer, 429: errors("export_too_soon")},
                   tags=["me"])
    def post(self, request: Request) -> Response:
        export = services.account_export_request(user=request.user)
        return Response(AccountExportSerializer(export).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses={200: AccountExportSerializer, 404: errors("export_not_found")}, tags=["me"])
    def get(self, request: Request) -> Response:
        return Response(AccountExportSerializer(selectors.account_export_latest(user_id=request.user.pk)).data)


class AccountExportDownloadApi(APIView):
    @extend_schema(responses={200: OpenApiResponse(OpenApiTypes.BINARY, description="The ZIP archive."),
                              404: errors("export_not_found"), 410: errors("export_expired")}, tags=["me"])
    def get(self, request: Request, token: str) -> FileResponse:
        export = selectors.account_export_for_download(user=request.user, token=token)
        return FileResponse(export.file.open("rb"), as_attachment=True, content_type="application/zip",
                            filename=f"export-{export.created_at:%Y-%m-%d}.zip")
