"""HTTP endpoints of the creator programme. Views only parse, call a service or selector, and render."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema

from django.utils.translation import gettext as _
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.errors import Forbidden
from config.http import validated
from config.pagination import NewestFirstCursorPagination
from config.schema import errors, paginated

from . import selectors, services
from .models import Campaign
from .serializers import (
    CampaignSerializer,
    ConnectLinkSerializer,
    ConnectStatusSerializer,
    CreatorProfileInputSerializer,
    CreatorProfileSerializer,
    EnrolmentSerializer,
    LeaderboardEntrySerializer,
    PayoutSerializer,
    RewardSerializer,
    SubmissionCreateSerializer,
    SubmissionSerializer,
    TaskStateSerializer,
)


def _languages(request: Request) -> list[str]:
    return selectors.language_preferences(user=request.user, profile=selectors.creator_profile(user=request.user))


def _campaign_context(request: Request, campaigns: list[Campaign]) -> dict:
    profile = selectors.creator_profile(user=request.user)
    return {
        "request": request, "user": request.user, "profile": profile,
        "languages": selectors.language_preferences(user=request.user, profile=profile),
        "enrolments": selectors.enrolments_by_campaign(user=request.user, campaign_ids=[c.pk for c in campaigns]),
    }


def _render_campaign(request: Request, campaign: Campaign) -> dict:
    return CampaignSerializer(campaign, context=_campaign_context(request, [campaign])).data


def _mine_in_campaign(request: Request, campaign_id: int, selector, serializer_class) -> Response:
    """The viewer's rows of a launched campaign, as `selector(user=, campaign=)` reads them."""
    campaign = selectors.campaign_visible(campaign_id=campaign_id)
    return Response(serializer_class(selector(user=request.user, campaign=campaign), many=True).data)


def _require_creator(request: Request):
    profile = selectors.creator_profile(user=request.user)
    if profile is None:
        raise Forbidden(_("Join the creator programme first."), code="not_a_creator")
    return profile


# --- the creator profile ---------------------------------------------------------------------


class CreatorMeApi(APIView):
    """My creator profile. PUT joins the programme (or updates it); DELETE leaves it."""

    @extend_schema(responses={200: CreatorProfileSerializer, 403: errors("not_a_creator")}, tags=["creators"])
    def get(self, request: Request) -> Response:
        return Response(CreatorProfileSerializer(_require_creator(request)).data)

    @extend_schema(request=CreatorProfileInputSerializer, responses={200: CreatorProfileSerializer,
                                                                     201: CreatorProfileSerializer,
                                                                     400: errors("tier_invalid")},
                   tags=["creators"])
    def put(self, request: Request) -> Response:
        profile, joined = services.creator_opt_in(user=request.user,
                                                  data=validated(CreatorProfileInputSerializer, request))
        return Response(CreatorProfileSerializer(profile).data,
                        status=status.HTTP_201_CREATED if joined else status.HTTP_200_OK)

    @extend_schema(request=CreatorProfileInputSerializer, responses={200: CreatorProfileSerializer,
                                                                     403: errors("not_a_creator")},
                   tags=["creators"])
    def patch(self, request: Request) -> Response:
        profile = services.creator_profile_update(
            user=request.user, data=validated(CreatorProfileInputSerializer, request, partial=True))
        return Response(CreatorProfileSerializer(profile).data)

    @extend_schema(request=None, responses={204: None, 403: errors("not_a_creator")}, tags=["creators"])
    def delete(self, request: Request) -> Response:
        services.creator_opt_out(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ConnectApi(APIView):
    """Cash payouts: the Stripe Connect onboarding link (POST) and the account's status (GET)."""

    @extend_schema(responses={200: ConnectStatusSerializer,
                              403: errors("not_a_creator"),
                              502: errors("billing_unavailable"),
                              503: errors("billing_not_configured")}, tags=["creators"])
    def get(self, request: Request) -> Response:
        _require_creator(request)
        profile = services.creator_connect_refresh(user_id=request.user.pk)
        return Response({"connect_status": profile.connect_status, "checked_at": profile.connect_checked_at})

    @extend_schema(request=None, responses={201: ConnectLinkSerializer,
                                            403: errors("not_a_creator"),
                                            502: errors("billing_unavailable"),
                                            503: errors("billing_not_configured")}, tags=["creators"])
    def post(self, request: Request) -> Response:
        return Response(ConnectLinkSerializer(services.creator_connect_onboard(user=request.user)).data,
                        status=status.HTTP_201_CREATED)


class EarningsApi(APIView):
    """What I earned: credits, and cash per currency (earned, paid, in a payout, balance)."""

    @extend_schema(responses={200: OpenApiTypes.OBJECT}, tags=["creators"])
    def get(self, request: Request) -> Response:
        profile = selectors.creator_profile(user=request.user)
        return Response({**selectors.earnings(user=request.user),
                         "payout_method": profile.payout_method if profile else None,
                         "connect_status": profile.connect_status if profile else None})


class RewardsApi(APIView):
    @extend_schema(responses={200: paginated(RewardSerializer)}, tags=["creators"])
    def get(self, request: Request) -> Response:
        paginator = NewestFirstCursorPagination()
        page = paginator.paginate_queryset(
            selectors.rewards_of(user=request.user).prefetch_related("campaign__texts"), request, view=self)
        return paginator.get_paginated_response(
            RewardSerializer(page, many=True, context={"languages": _languages(request)}).data)


class PayoutsApi(APIView):
    @extend_schema(responses={200: paginated(PayoutSerializer)}, tags=["creators"])
    def get(self, request: Request) -> Response:
        paginator = NewestFirstCursorPagination()
        page = paginator.paginate_queryset(selectors.payouts_of(user=request.user), request, view=self)
        return paginator.get_paginated_response(PayoutSerializer(page, many=True).data)


# --- campaigns --------------------------------------------------------------------------------


class CampaignListApi(APIView):
    """Running campaigns for my market and languages, in my language."""

    @extend_schema(responses={200: CampaignSerializer(many=True)}, tags=["creators"])
    def get(self, request: Request) -> Response:
        campaigns = selectors.campaigns_for(user=request.user)
        return Response(CampaignSerializer(campaigns, many=True,
                                           context=_campaign_context(request, campaigns)).data)


class CampaignDetailApi(APIView):
    @extend_schema(responses={200: CampaignSerializer}, tags=["creators"])
    def get(self, request: Request, campaign_id: int) -> Response:
        return Response(_render_campaign(request, selectors.campaign_visible(campaign_id=campaign_id)))


class EnrolApi(APIView):
    @extend_schema(request=None, responses={201: EnrolmentSerializer,
                                            200: EnrolmentSerializer,
                                            403: errors("not_a_creator", "not_in_market", "language_not_targeted",
                                                        "tier_too_low", "not_enough_followers",
                                                        "cash_payouts_not_chosen"),
                                            409: errors("campaign_not_active")}, tags=["creators"])
    def post(self, request: Request, campaign_id: int) -> Response:
        enrolment, created = services.campaign_enrol(user=request.user, campaign_id=campaign_id)
        return Response(EnrolmentSerializer(enrolment).data,
                        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class LeaveApi(APIView):
    @extend_schema(request=None, responses={200: EnrolmentSerializer,
                                            409: errors("not_enrolled", "campaign_not_active")}, tags=["creators"])
    def post(self, request: Request, campaign_id: int) -> Response:
        return Response(EnrolmentSerializer(services.campaign_leave(user=request.user,
                                                                    campaign_id=campaign_id)).data)


class SubmissionsApi(APIView):
    """My submissions to a campaign (with progress per task), and submitting a post."""

    @extend_schema(responses={200: SubmissionSerializer(many=True)}, tags=["creators"])
    def get(self, request: Request, campaign_id: int) -> Response:
        return _mine_in_campaign(request, campaign_id, selectors.submissions_of, SubmissionSerializer)

    @extend_schema(request=SubmissionCreateSerializer, responses={
        201: SubmissionSerializer,
        400: errors("campaign_localization_required", "post_before_enrolment", "post_missing_hashtag",
                    "post_not_active", "post_not_public", "post_not_remix_of_template"),
        403: errors("not_enrolled", "post_not_own"),
        404: errors("post_not_found"),
        409: errors("already_submitted", "submission_limit_reached", "campaign_not_active")},
                   tags=["creators"])
    def post(self, request: Request, campaign_id: int) -> Response:
        data = validated(SubmissionCreateSerializer, request)
        submission = services.submission_create(user=request.user, campaign_id=campaign_id, post_id=data["post_id"])
        submission = selectors.submissions_of(user=request.user, campaign=submission.campaign).get(pk=submission.pk)
        return Response(SubmissionSerializer(submission).data, status=status.HTTP_201_CREATED)


class ProgressApi(APIView):
    """My progress per task of the campaign (best of my submissions) and what paid."""

    @extend_schema(responses={200: TaskStateSerializer(many=True)}, tags=["creators"])
    def get(self, request: Request, campaign_id: int) -> Response:
        return _mine_in_campaign(request, campaign_id, selectors.task_states, TaskStateSerializer)


class LeaderboardApi(APIView):
    @extend_schema(responses={200: LeaderboardEntrySerializer(many=True)}, tags=["creators"])
    def get(self, request: Request, campaign_id: int) -> Response:
        campaign = selectors.campaign_visible(campaign_id=campaign_id)
        rows = [{"rank": rank, "user": {"id": e.user_id, "handle": e.user.handle,
                                        "display_name": e.user.display_name},
                 "earned": e.earned, "rewards": e.rewards_count}
                for rank, e in enumerate(selectors.leaderboard(campaign=campaign, viewer=request.user), start=1)]
        return Response(rows)
