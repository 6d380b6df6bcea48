"""The notifications inbox: grouped pages, the unread badge, read marker, dismiss, settings."""

from __future__ import annotations

from urllib.parse import urlencode

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.errors import NotFound
from config.http import validated
from config.pagination import PAGE_SIZE_PARAM, page_size_from
from config.schema import errors, paginated

from . import selectors, services
from .serializers import (
    MarkReadInputSerializer,
    NotificationGroupSerializer,
    NotificationSettingsSerializer,
    NotificationsQuerySerializer,
    UnreadCountSerializer,
)


def _query(request: Request) -> dict:
    query = NotificationsQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    return query.validated_data


class NotificationsApi(APIView):
    """Grouped, newest first, in pages: follow `next` until it is null."""

    @extend_schema(parameters=[NotificationsQuerySerializer], tags=["notifications"],
                   responses={200: paginated(NotificationGroupSerializer, None),
                              400: errors("notification_type_unknown", "page_size_invalid")})
    def get(self, request: Request) -> Response:
        query = _query(request)
        size = page_size_from(request.query_params.get(PAGE_SIZE_PARAM), default=20, maximum=100)
        groups = selectors.notification_groups(user=request.user, types=query.get("types"),
                                               before_id=query.get("before"), limit=size + 1)
        following = None
        if len(groups) > size:
            groups = groups[:size]
            params = {"before": groups[-1]["latest_id"], PAGE_SIZE_PARAM: size}
            if query.get("types"):
                params["types"] = ",".join(query["types"])
            following = request.build_absolute_uri(f"{request.path}?{urlencode(params)}")
        data = NotificationGroupSerializer(groups, many=True, context={"request": request}).data
        return Response({"next": following, "previous": None, "results": data})


class UnreadCountApi(APIView):
    @extend_schema(parameters=[NotificationsQuerySerializer], tags=["notifications"],
                   responses={200: UnreadCountSerializer, 400: errors("notification_type_unknown")})
    def get(self, request: Request) -> Response:
        counts = selectors.notifications_unread_count(user_id=request.user.pk, types=_query(request).get("types"))
        return Response(counts)


class MarkReadApi(APIView):
    @extend_schema(request=MarkReadInputSerializer, responses={200: UnreadCountSerializer}, tags=["notifications"])
    def post(self, request: Request) -> Response:
        services.notifications_mark_read(user_id=request.user.pk, **validated(MarkReadInputSerializer, request))
        return Response(selectors.notifications_unread_count(user_id=request.user.pk))


class DismissApi(APIView):
    @extend_schema(request=None, responses={204: None, 404: errors("notification_group_not_found")},
                   tags=["notifications"])
    def post(self, request: Request, group_key: str) -> Response:
        if not services.notification_group_dismiss(user_id=request.user.pk, group_key=group_key):
            raise NotFound("No such notification group.", code="notification_group_not_found")
        return Response(status=status.HTTP_204_NO_CONTENT)


class NotificationSettingsApi(APIView):
    @extend_schema(responses={200: NotificationSettingsSerializer}, tags=["notifications"])
    def get(self, request: Request) -> Response:
        return Response({"settings": selectors.notification_settings(user_id=request.user.pk)})

    @extend_schema(request=NotificationSettingsSerializer,
                   responses={200: NotificationSettingsSerializer, 400: errors("notification_type_unknown")},
                   tags=["notifications"])
    def patch(self, request: Request) -> Response:
        body = validated(NotificationSettingsSerializer, request)
        services.notification_settings_update(user_id=request.user.pk, channels=body["settings"])
        return Response({"settings": selectors.notification_settings(user_id=request.user.pk)})
