"""HTTP endpoints of generation."""

from __future__ import annotations

from django.core.files.storage import default_storage
from django.http import FileResponse, Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import ErrorDetail, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.pagination import NewestFirstCursorPagination

from . import selectors, services
from .filters import GenerationFilter
from .serializers import GenerationCreateSerializer, GenerationSerializer

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key", str, OpenApiParameter.HEADER, required=False,
    description="Same key + same body returns the same job; same key + another body is a 409.",
)


def _state(job) -> dict:
    return selectors.job_public_state(job)


class GenerationListCreateApi(APIView):
    @extend_schema(request={"multipart/form-data": GenerationCreateSerializer,
                            "application/json": GenerationCreateSerializer},
                   parameters=[IDEMPOTENCY_HEADER], responses={201: GenerationSerializer, 200: GenerationSerializer},
                   tags=["generations"])
    def post(self, request: Request) -> Response:
        key = request.headers.get("Idempotency-Key")
        if key is not None and not (1 <= len(key) <= 128):
            raise ValidationError({"Idempotency-Key": ["Use 1-128 characters."]}, code="idempotency_key_invalid")
        serializer = GenerationCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        job, created = services.generation_submit(user=request.user, idempotency_key=key, **serializer.validated_data)
        return Response(_state(job), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(parameters=[OpenApiParameter("status", str, many=True)],
                   responses={200: GenerationSerializer(many=True)}, tags=["generations"])
    def get(self, request: Request) -> Response:
        filterset = GenerationFilter(request.query_params, queryset=selectors.jobs_of_user(user_id=request.user.pk))
        if not filterset.is_valid():
            raise ValidationError({field: [ErrorDetail(e["message"], code=e["code"]) for e in errors]
                                   for field, errors in filterset.errors.get_json_data().items()})
        paginator = NewestFirstCursorPagination()
        page = paginator.paginate_queryset(filterset.qs, request, view=self)
        return paginator.get_paginated_response([_state(job) for job in page])


class GenerationDetailApi(APIView):
    @extend_schema(responses={200: GenerationSerializer}, tags=["generations"])
    def get(self, request: Request, job_id) -> Response:
        return Response(_state(selectors.job_of_user(user_id=request.user.pk, job_id=job_id)))

    @extend_schema(responses={204: None}, tags=["generations"])
    def delete(self, request: Request, job_id) -> Response:
        services.generation_delete(user=request.user, job_id=job_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class GenerationCancelApi(APIView):
    @extend_schema(request=None, responses={200: GenerationSerializer}, tags=["generations"])
    def post(self, request: Request, job_id) -> Response:
        return Response(_state(services.generation_cancel(user=request.user, job_id=job_id)))


class GenerationRetryApi(APIView):
    @extend_schema(request=None, responses={201: GenerationSerializer}, tags=["generations"])
    def post(self, request: Request, job_id) -> Response:
        job = services.generation_retry(user=request.user, job_id=job_id)
        return Response(_state(job), status=status.HTTP_201_CREATED)


class SignedMediaApi(APIView):
    """Serves locally stored media behind an expiring signature (S3 presigns its own URLs)."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(exclude=True)
    def get(self, request: Request, token: str):
        name = selectors.media_name_from_token(token)
        if name is None or not default_storage.exists(name):
            raise Http404
        return FileResponse(default_storage.open(name, "rb"))
