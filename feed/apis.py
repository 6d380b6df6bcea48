"""HTTP endpoints of the feed."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponseRedirect
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, PolymorphicProxySerializer, extend_schema, inline_serializer
from rest_framework import status
from rest_framework.exceptions import ErrorDetail, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.i18n import bcp47, supported
from accounts.selectors import user_visible_by_handle
from config.errors import ApplicationError
from config.http import IDEMPOTENCY_HEADER, client_ip, idempotency_key, validated
from config.pagination import NewestFirstCursorPagination, StrictCursorPagination
from config.schema import errors, paginated
from config.throttling import ACTION_THROTTLES
from generation.selectors import job_public_state
from generation.serializers import GenerationSerializer
from generation.services import BACKEND_REFUSALS

from . import counters, ranking, screen_time, selectors, services
from .serializers import (
    SERVE_LANGUAGE,
    CardRenditionSerializer,
    CommentCreateSerializer,
    CommentSerializer,
    PostCreateSerializer,
    PostDetailSerializer,
    PostSerializer,
    PostUpdateSerializer,
    PreferencesSerializer,
    RemixCreateSerializer,
    RemovedPostSerializer,
    ReportCreateSerializer,
    ShareCreateSerializer,
    ShareSerializer,
    ViewsSerializer,
    rendition_data,
)
from .translations import caption_translation


class FeedPagination(NewestFirstCursorPagination):
    max_page_size = 50


class TopRemixesPagination(StrictCursorPagination):
    page_size = 20
    max_page_size = 50
    ordering = ("-likes_count", "-id")


# What a card plays (feed.renditions): the viewer's language by default, another one, or the original.
RENDITION_PARAMETERS = [
    OpenApiParameter("lang", str, description="Play the renditions in this language (BCP 47, one of the app's "
                                              "languages) instead of the viewer's."),
    OpenApiParameter("original", str, enum=["0", "1", "true", "false"],
                     description="1: `video_url` is the original video, whatever renditions the post has."),
]
RENDITION_ERRORS = ("lang_invalid", "original_invalid")


def card_context(request: Request) -> dict:
    """The serializer context of cards, from `?lang=` and `?original=`; read before anything
    else happens in a view, so a bad one changes nothing (a ranked feed's snapshot included)."""
    original = request.query_params.get("original", "0")
    if original not in {"0", "1", "true", "false"}:
        raise ApplicationError(_("Use 1 or 0."), code="original_invalid",
                               fields={"original": [{"code": "original_invalid", "message": _("Use 1 or 0.")}]})
    context: dict = {"request": request}
    if "lang" in request.query_params:
        # A region or script the app lacks is read as its language does elsewhere (es-MX: es).
        language = supported(request.query_params["lang"])
        if language is None:
            message = _("Use one of the app's languages: %(languages)s.") % {
                "languages": ", ".join(bcp47(code) for code, __ in settings.LANGUAGES)}
            raise ApplicationError(message, code="lang_invalid",
                                   fields={"lang": [{"code": "lang_invalid", "message": message}]})
        context[SERVE_LANGUAGE] = language
    if original in {"1", "true"}:
        context[SERVE_LANGUAGE] = None
    return context


def _page(request: Request, view: APIView, queryset, context: selectors.ViewerContext, paginator=None) -> Response:
    """A cursor page of a list: the page of ids is cut in SQL, then its cards are read by id."""
    serializer_context = card_context(request)
    paginator = paginator or FeedPagination()
    ordering = [paginator.ordering] if isinstance(paginator.ordering, str) else paginator.ordering
    rows = paginator.paginate_queryset(queryset.values("id", *{f.lstrip("-") for f in ordering}), request, view=view)
    page = selectors.cards(viewer=request.user, ids=[row["id"] for row in rows], context=context)
    return paginator.get_paginated_response(PostSerializer(page, many=True, context=serializer_context).data)


def _post_response(request: Request, post_id: int, status_code: int = 200, *, translate: bool = False,
                   context: dict | None = None) -> Response:
    """The post's card; `context` from card_context (a read), else the viewer's language (writes
    answer with the post, whatever their query string)."""
    post = selectors.post_card(viewer=request.user, post_id=post_id)
    context = context if context is not None else {"request": request}
    if translate:
        language = get_language() or settings.LANGUAGE_CODE
        context["caption_translation"] = caption_translation(
            post_id=post.id, caption=post.caption, source=post.language, target=language, tag=bcp47(language))
    return Response(PostDetailSerializer(post, context=context).data, status=status_code)


def _translate_param(request: Request) -> bool:
    value = request.query_params.get("translate", "0")
    if value not in {"0", "1", "true", "false"}:
        raise ValidationError({"translate": [ErrorDetail(_("Use 1 or 0."), code="translate_invalid")]})
    return value in {"1", "true"}


class PostListCreateApi(APIView):
    @extend_schema(request=PostCreateSerializer, responses={201: PostDetailSerializer,
                                                            400: errors("market_invalid"),
                                                            403: errors("teen_restricted"),
                                                            404: errors("generation_not_found"),
                                                            409: errors("already_posted", "generation_not_ready")},
                   tags=["posts"])
    def post(self, request: Request) -> Response:
        post = services.post_create(user=request.user, **validated(PostCreateSerializer, request))
        return _post_response(request, post.pk, status.HTTP_201_CREATED)


class PostDetailApi(APIView):
    @extend_schema(parameters=[OpenApiParameter("translate", str, enum=["0", "1", "true", "false"],
                                                description="1: add `caption_translation`, the caption in "
                                                            "the response's language."),
                               *RENDITION_PARAMETERS],
                   responses={200: PostDetailSerializer, 400: errors(*RENDITION_ERRORS)}, tags=["posts"])
    def get(self, request: Request, post_id: int) -> Response:
        context = card_context(request)
        return _post_response(request, post_id, translate=_translate_param(request), context=context)

    @extend_schema(request=PostUpdateSerializer, responses={200: PostDetailSerializer, 400: errors("market_invalid"),
                                                            403: errors("teen_restricted")},
                   tags=["posts"])
    def patch(self, request: Request, post_id: int) -> Response:
        services.post_update(user=request.user, post_id=post_id,
                             data=validated(PostUpdateSerializer, request, partial=True))
        return _post_response(request, post_id)

    @extend_schema(responses={204: None}, tags=["posts"])
    def delete(self, request: Request, post_id: int) -> Response:
        services.post_delete(user=request.user, post_id=post_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PostRemixApi(APIView):
    # A remix is a generation: it shares the generations limit.
    throttle_classes = ACTION_THROTTLES
    throttle_scope = "generations"

    @extend_schema(request=RemixCreateSerializer, parameters=[IDEMPOTENCY_HEADER],
                   responses={201: GenerationSerializer,
                              200: GenerationSerializer,
                              400: errors(*BACKEND_REFUSALS),
                              402: errors("insufficient_credits"),
                              403: errors("remix_not_allowed", "plan_limit"),
                              409: errors("source_not_ready"),
                              422: errors("prompt_rejected"),
                              429: errors("queue_full", "queue_busy")}, tags=["posts"])
    def post(self, request: Request, post_id: int) -> Response:
        key = idempotency_key(request)
        job, created = services.post_remix(user=request.user, post_id=post_id, idempotency_key=key,
                                           **validated(RemixCreateSerializer, request))
        return Response(job_public_state(job), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class PostRemixesApi(APIView):
    @extend_schema(parameters=[OpenApiParameter("sort", str, enum=["new", "top"]), *RENDITION_PARAMETERS],
                   responses={200: paginated(PostSerializer, FeedPagination), 400: errors(*RENDITION_ERRORS)},
                   tags=["posts"])
    def get(self, request: Request, post_id: int) -> Response:
        sort = request.query_params.get("sort", "new")
        if sort not in ("new", "top"):
            raise ValidationError({"sort": [_("Use new or top.")]}, code="invalid_choice")
        context = selectors.viewer_context(viewer=request.user)
        post = selectors.post_visible(viewer=request.user, post_id=post_id, context=context)
        paginator = TopRemixesPagination() if sort == "top" else FeedPagination()
        return _page(request, self, selectors.post_remixes(viewer=request.user, post=post, context=context), context,
                     paginator)


class PostLineageApi(APIView):
    @extend_schema(parameters=RENDITION_PARAMETERS, responses={
        200: inline_serializer("PostLineage", {"results": PolymorphicProxySerializer(
            component_name="LineageItem", serializers=[PostSerializer, RemovedPostSerializer],
            resource_type_field_name=None, many=True)}),
        400: errors(*RENDITION_ERRORS)}, tags=["posts"])
    def get(self, request: Request, post_id: int) -> Response:
        context = card_context(request)
        post = selectors.post_visible(viewer=request.user, post_id=post_id)
        chain = selectors.post_lineage(viewer=request.user, post=post)
        return Response({"results": [
            PostSerializer(item, context=context).data if not isinstance(item, int)
            else {"id": item, "removed": True}
            for item in chain
        ]})


class PostRenditionsApi(APIView):
    @extend_schema(responses={200: inline_serializer("PostRenditions", {
        "results": CardRenditionSerializer(many=True)})}, tags=["posts"])
    def get(self, request: Request, post_id: int) -> Response:
        """The post's succeeded renditions, one per language (the newest): none for a post the
        viewer may not see, taken-down and removed ones included (404)."""
        card = selectors.post_card(viewer=request.user, post_id=post_id)
        return Response({"results": [rendition_data(r) for r in card.renditions]})


class PostLikeApi(APIView):
    throttle_classes = ACTION_THROTTLES
    throttle_scope = "likes"

    @extend_schema(request=None, responses={200: PostDetailSerializer}, tags=["posts"])
    def post(self, request: Request, post_id: int) -> Response:
        services.like_create(user=request.user, post_id=post_id)
        return _post_response(request, post_id)

    @extend_schema(request=None, responses={200: PostDetailSerializer}, tags=["posts"])
    def delete(self, request: Request, post_id: int) -> Response:
        services.like_delete(user=request.user, post_id=post_id)
        return _post_response(request, post_id)


class PostCommentsApi(APIView):
    throttle_classes = ACTION_THROTTLES  # writes only: reading the comments is not limited
    throttle_scope = "comments"

    @extend_schema(responses={200: paginated(CommentSerializer, FeedPagination)}, tags=["comments"])
    def get(self, request: Request, post_id: int) -> Response:
        post = selectors.post_visible(viewer=request.user, post_id=post_id)
        paginator = FeedPagination()
        comments = selectors.post_comments(viewer=request.user, post=post)
        page = paginator.paginate_queryset(comments, request, view=self)
        return paginator.get_paginated_response(CommentSerializer(page, many=True, context={"request": request}).data)

    @extend_schema(request=CommentCreateSerializer, responses={201: CommentSerializer,
                                                               400: errors("reply_depth"),
                                                               403: errors("teen_comment_restricted"),
                                                               404: errors("comment_not_found")}, tags=["comments"])
    def post(self, request: Request, post_id: int) -> Response:
        comment = services.comment_create(user=request.user, post_id=post_id,
                                          **validated(CommentCreateSerializer, request))
        return Response(CommentSerializer(comment, context={"request": request}).data, status=status.HTTP_201_CREATED)


class CommentDetailApi(APIView):
    @extend_schema(responses={204: None}, tags=["comments"])
    def delete(self, request: Request, comment_id: int) -> Response:
        services.comment_delete(user=request.user, comment_id=comment_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class CommentRepliesApi(APIView):
    @extend_schema(responses={200: paginated(CommentSerializer, FeedPagination)}, tags=["comments"])
    def get(self, request: Request, comment_id: int) -> Response:
        comment = selectors.comment_visible(viewer=request.user, comment_id=comment_id)
        paginator = FeedPagination()
        replies = selectors.comment_replies(viewer=request.user, comment=comment)
        page = paginator.paginate_queryset(replies, request, view=self)
        return paginator.get_paginated_response(CommentSerializer(page, many=True, context={"request": request}).data)


class PostSharesApi(APIView):
    @extend_schema(request=ShareCreateSerializer, responses={201: ShareSerializer}, tags=["posts"])
    def post(self, request: Request, post_id: int) -> Response:
        share = services.share_create(user=request.user, post_id=post_id, **validated(ShareCreateSerializer, request))
        return Response(ShareSerializer(share).data, status=status.HTTP_201_CREATED)


def share_redirect(request: HttpRequest, token: str):
    """GET /s/<token>: count a distinct visitor and send them to the post's landing page."""
    # The client address as the throttles see it: X-Forwarded-For is read according to
    # NUM_PROXIES, so a visitor cannot pass for many by forging the header.
    ip = client_ip(request) or ""
    share = services.share_click(token=token, visitor=services.share_visitor_key(
        ip=ip, user_agent=request.META.get("HTTP_USER_AGENT", "")))
    if share is None:
        raise Http404
    return HttpResponseRedirect(settings.SHARE_LANDING_URL.format(post_id=share.post_id))


class PostNotInterestedApi(APIView):
    @extend_schema(request=None, responses={204: None}, tags=["feed"])
    def post(self, request: Request, post_id: int) -> Response:
        services.not_interested_create(user=request.user, post_id=post_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PostReportApi(APIView):
    throttle_classes = ACTION_THROTTLES
    throttle_scope = "reports"

    @extend_schema(request=ReportCreateSerializer, responses={201: None,
                                                              400: errors("report_own_post"),
                                                              409: errors("already_reported")}, tags=["posts"])
    def post(self, request: Request, post_id: int) -> Response:
        services.report_create(user=request.user, post_id=post_id, **validated(ReportCreateSerializer, request))
        return Response({"status": "received"}, status=status.HTTP_201_CREATED)


class UserMuteApi(APIView):
    @extend_schema(request=None, responses={204: None, 400: errors("mute_self")}, tags=["feed"])
    def post(self, request: Request, handle: str) -> Response:
        author = user_visible_by_handle(handle=handle, viewer=request.user)
        services.author_mute(user=request.user, author=author, muted=True)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={204: None}, tags=["feed"])
    def delete(self, request: Request, handle: str) -> Response:
        author = user_visible_by_handle(handle=handle, viewer=request.user)
        services.author_mute(user=request.user, author=author, muted=False)
        return Response(status=status.HTTP_204_NO_CONTENT)


class HashtagMuteApi(APIView):
    @extend_schema(request=None, responses={204: None}, tags=["feed"])
    def post(self, request: Request, tag: str) -> Response:
        services.hashtag_mute(user=request.user, tag=tag, muted=True)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={204: None}, tags=["feed"])
    def delete(self, request: Request, tag: str) -> Response:
        services.hashtag_mute(user=request.user, tag=tag, muted=False)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PreferencesApi(APIView):
    @extend_schema(responses={200: PreferencesSerializer}, tags=["feed"])
    def get(self, request: Request) -> Response:
        return Response({"personalized": selectors.personalized(user=request.user)})

    @extend_schema(request=PreferencesSerializer, responses={200: PreferencesSerializer}, tags=["feed"])
    def patch(self, request: Request) -> Response:
        prefs = services.preferences_update(user=request.user, **validated(PreferencesSerializer, request))
        return Response({"personalized": prefs.personalized})


class UserPostsApi(APIView):
    @extend_schema(parameters=RENDITION_PARAMETERS,
                   responses={200: paginated(PostSerializer, FeedPagination), 400: errors(*RENDITION_ERRORS)},
                   tags=["feed"])
    def get(self, request: Request, handle: str) -> Response:
        author = user_visible_by_handle(handle=handle, viewer=request.user)
        context = selectors.viewer_context(viewer=request.user)
        return _page(request, self, selectors.user_posts(viewer=request.user, author=author, context=context), context)


class HashtagPostsApi(APIView):
    @extend_schema(parameters=RENDITION_PARAMETERS,
                   responses={200: paginated(PostSerializer, FeedPagination), 400: errors(*RENDITION_ERRORS),
                              404: errors("hashtag_not_found")}, tags=["feed"])
    def get(self, request: Request, tag: str) -> Response:
        context = selectors.viewer_context(viewer=request.user)
        return _page(request, self, selectors.hashtag_posts(viewer=request.user, tag=tag, context=context), context)


class FollowingFeedApi(APIView):
    @extend_schema(parameters=RENDITION_PARAMETERS,
                   responses={200: paginated(PostSerializer, FeedPagination), 400: errors(*RENDITION_ERRORS),
                              403: errors("feed_time_limit_reached")},
                   tags=["feed"])
    def get(self, request: Request) -> Response:
        screen_time.feed_time_check(user=request.user)
        context = selectors.viewer_context(viewer=request.user)
        return _page(request, self, selectors.following_feed(viewer=request.user, context=context), context)


class _RankedFeedApi(APIView):
    kind = "for_you"

    @extend_schema(parameters=RENDITION_PARAMETERS,
                   responses={200: paginated(PostSerializer, FeedPagination), 400: errors(*RENDITION_ERRORS),
                              403: errors("feed_time_limit_reached"), 410: errors("cursor_expired")},
                   tags=["feed"])
    def get(self, request: Request) -> Response:
        serializer_context = card_context(request)
        screen_time.feed_time_check(user=request.user)
        cursor = request.query_params.get("cursor")
        # A first page ranks, and needs the viewer's mutes too; a later page only reads its snapshot.
        context = selectors.viewer_context(viewer=request.user, tastes=not cursor)
        page = ranking.ranked_page(viewer=request.user, kind=self.kind, cursor=cursor,
                                   page_size=request.query_params.get("page_size"), context=context)
        posts = selectors.cards(viewer=request.user, ids=page.ids, context=context)
        next_url = request.build_absolute_uri(f"{request.path}?{_next_query(request, page.next_cursor)}") \
            if page.next_cursor else None
        return Response({"next": next_url, "previous": None,
                         "results": PostSerializer(posts, many=True, context=serializer_context).data})


def _next_query(request: Request, cursor: str) -> str:
    """The next page's query: its cursor, and the same choice of renditions as this page."""
    kept = {k: request.query_params[k] for k in ("lang", "original") if k in request.query_params}
    return urlencode({"cursor": cursor, **kept})


class ForYouFeedApi(_RankedFeedApi):
    kind = "for_you"


class TrendingFeedApi(_RankedFeedApi):
    kind = "trending"


class ViewsApi(APIView):
    """Phones report what was on screen in batches; each viewer/post/day counts once."""

    @extend_schema(request=ViewsSerializer, responses={200: None}, tags=["feed"])
    def post(self, request: Request) -> Response:
        data = validated(ViewsSerializer, request)
        visible = list(selectors.visible_post_ids(viewer=request.user, post_ids=data["post_ids"]))
        counted = counters.views_record(viewer_id=request.user.pk, post_ids=visible)
        screen_time.feed_time_add(user=request.user, seconds=data["watch_seconds"])
        return Response({"counted": counted})


class GenerationRetryApi(APIView):
    """`POST /generations/{id}/retry`, served by feed: a remix of a post is checked against the
    post again before the new job starts; any other job is retried by generation as it is."""

    throttle_classes = ACTION_THROTTLES  # a retry starts a new job: it counts as a generation
    throttle_scope = "generations"

    @extend_schema(request=None, responses={201: GenerationSerializer,
                                            402: errors("insufficient_credits"),
                                            403: errors("remix_not_allowed"),
                                            409: errors("job_not_retryable"),
                                            429: errors("queue_full", "queue_busy")}, tags=["generations"])
    def post(self, request: Request, job_id) -> Response:
        job = services.generation_retry(user=request.user, job_id=job_id)
        return Response(job_public_state(job), status=status.HTTP_201_CREATED)
