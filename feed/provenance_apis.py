"""POST /provenance/verify: what an uploaded video's C2PA manifest says, and our post it came from.

It lives in feed because the post lookup does; reading the manifest is generation's
(generation.provenance), which knows nothing of posts.
"""

from __future__ import annotations

import uuid

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from config.http import validated
from config.schema import errors
from config.throttling import ACTION_THROTTLES
from generation.provenance.uploads import provenance_read_upload

from . import selectors

STATES = ["none", "invalid", "untrusted", "valid", "trusted"]


class VerifyRequestSerializer(serializers.Serializer):
    video = serializers.FileField(allow_empty_file=False)


class VerifiedPostSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.URLField()


class VerifyResponseSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=STATES)
    ours = serializers.BooleanField()
    title = serializers.CharField()
    claim_generator = serializers.CharField()
    generator = serializers.CharField()
    model = serializers.CharField()
    creator_handle = serializers.CharField()
    cameos = serializers.ListField(child=serializers.CharField())
    actions = serializers.ListField(child=serializers.DictField())
    ingredients = serializers.ListField(child=serializers.DictField())
    signer = serializers.DictField(child=serializers.CharField())
    ai_generated = serializers.BooleanField()
    failures = serializers.ListField(child=serializers.CharField())
    post = VerifiedPostSerializer(allow_null=True)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


class ProvenanceVerifyApi(APIView):
    parser_classes = [MultiPartParser]
    throttle_classes = ACTION_THROTTLES
    throttle_scope = "provenance_verify"

    @extend_schema(request={"multipart/form-data": VerifyRequestSerializer},
                   responses={200: VerifyResponseSerializer, 400: errors("not_a_video", "validation_error"),
                              413: errors("upload_too_large", "request_too_large")}, tags=["provenance"])
    def post(self, request: Request) -> Response:
        report = provenance_read_upload(video=validated(VerifyRequestSerializer, request)["video"])
        post = None
        if report.job_id and _is_uuid(report.job_id):
            found = (selectors.visible_posts(request.user).filter(generation_id=report.job_id)
                     .order_by("pk").values_list("pk", flat=True).first())
            if found is not None:
                post = {"id": found, "url": reverse("post-detail", args=[found], request=request)}
        return Response({
            "state": report.state, "ours": bool(report.job_id), "title": report.title,
            "claim_generator": report.claim_generator, "generator": report.generator, "model": report.model,
            "creator_handle": report.creator_handle, "cameos": list(report.cameos), "actions": list(report.actions),
            "ingredients": list(report.ingredients), "signer": report.signer, "ai_generated": report.ai_generated,
            "failures": list(report.failures), "post": post,
        })
