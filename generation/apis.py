"""HTTP endpoints of generation. (Retrying a job is feed's endpoint: a remix of a post is
checked against the post again; see feed.apis.GenerationRetryApi.)"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.http import IDEMPOTENCY_HEADER, idempotency_key, validated
from config.pagination import NewestFirstCursorPagination
from config.schema import errors, paginated
from config.throttling import ACTION_THROTTLES

from . import selectors, services
from .services import BACKEND_REFUSALS
from .models import JobStatus
from .scheduling import queue_snapshot
from .selectors import job_public_state
from .serializers import (
    GenerationCreateJsonSerializer,
    GenerationCreateSerializer,
    GenerationSerializer,
    LocalizationCreateJsonSerializer,
    LocalizationCreateSerializer,
)


class GenerationListCreateApi(APIView):
    throttle_classes = ACTION_THROTTLES  # submitting only: listing jobs is not limited
    throttle_scope = "generations"

    # JSON first: the docs page's default. Multipart only to send an image.
    # What the serving backend cannot render (generation.backends.hosted.capabilities), nothing charged.
    @extend_schema(request={"application/json": GenerationCreateJsonSerializer,
                            "multipart/form-data": GenerationCreateSerializer},
                   parameters=[IDEMPOTENCY_HEADER], responses={201: GenerationSerializer,
                                                               200: GenerationSerializer,
                                                               400: errors("source_required", "prompt_length",
                                                                           "image_required", "image_not_allowed",
                                                                           "source_not_allowed", "image_unreadable",
                                                                           "image_too_many_pixels",
                                                                           *BACKEND_REFUSALS),
                                                               402: errors("insufficient_credits"),
                                                               403: errors("plan_limit"),
                                                               404: errors("source_not_found"),
                                                               409: errors("source_not_ready"),
                                                               422: errors("prompt_rejected"),
                                                               429: errors("daily_quota_reached", "queue_full", "queue_busy")},
                   tags=["generations"])
    def post(self, request: Request) -> Response:
        key = idempotency_key(request)
        data = validated(GenerationCreateSerializer, request)
        job, created = services.generation_submit(user=request.user, idempotency_key=key, **data)
        return Response(job_public_state(job), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(parameters=[OpenApiParameter("status", str, many=True)],
                   responses={200: paginated(GenerationSerializer)}, tags=["generations"])
    def get(self, request: Request) -> Response:
        jobs = selectors.jobs_of_user(user_id=request.user.pk, filters=request.query_params)
        paginator = NewestFirstCursorPagination()
        page = paginator.paginate_queryset(jobs, request, view=self)
        # One look at the queue for the whole page, when a job on it waits.
        snapshot = queue_snapshot() if any(job.status == JobStatus.QUEUED for job in page) else None
        return paginator.get_paginated_response([job_public_state(job, snapshot=snapshot) for job in page])


class GenerationDetailApi(APIView):
    @extend_schema(responses={200: GenerationSerializer}, tags=["generations"])
    def get(self, request: Request, job_id) -> Response:
        return Response(job_public_state(selectors.job_of_user(user_id=request.user.pk, job_id=job_id)))

    @extend_schema(responses={204: None, 409: errors("job_active")}, tags=["generations"])
    def delete(self, request: Request, job_id) -> Response:
        services.generation_delete(user=request.user, job_id=job_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class GenerationCancelApi(APIView):
    @extend_schema(request=None, responses={200: GenerationSerializer,
                                            409: errors("job_not_cancelable")}, tags=["generations"])
    def post(self, request: Request, job_id) -> Response:
        return Response(job_public_state(services.generation_cancel(user=request.user, job_id=job_id)))


class LocalizationCreateApi(APIView):
    throttle_classes = ACTION_THROTTLES  # a localisation is a job on the GPU queue like a render
    throttle_scope = "generations"

    # Every refusal: no job, no credits, nothing stored.
    @extend_schema(request={"application/json": LocalizationCreateJsonSerializer,
                            "multipart/form-data": LocalizationCreateSerializer},
                   parameters=[IDEMPOTENCY_HEADER],
                   responses={201: GenerationSerializer, 200: GenerationSerializer,
                              400: errors("source_required", "source_not_localizable", "video_invalid",
                                          "video_too_large", "video_too_long", "video_codec_unsupported",
                                          "subtitles_invalid", "subtitles_out_of_range", "language_invalid",
                                          "language_pair_unsupported", "transcription_unsupported",
                                          "burn_in_unsupported", "glossary_invalid"),
                              402: errors("insufficient_credits"),
                              403: errors("cameo_not_permitted"),
                              404: errors("source_not_found", "cameo_not_found"),
                              409: errors("source_not_ready", "cameo_not_verified", "idempotency_key_reused"),
                              429: errors("queue_full", "queue_busy")},
                   tags=["generations"])
    def post(self, request: Request) -> Response:
        key = idempotency_key(request)
        data = validated(LocalizationCreateSerializer, request)
        job, created = services.localization_submit(user=request.user, idempotency_key=key, **data)
        return Response(job_public_state(job), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)
