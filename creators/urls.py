from django.urls import path

from . import apis

urlpatterns = [
    path("creators/me", apis.CreatorMeApi.as_view(), name="creator-me"),
    path("creators/me/connect", apis.ConnectApi.as_view(), name="creator-connect"),
    path("creators/me/earnings", apis.EarningsApi.as_view(), name="creator-earnings"),
    path("creators/me/rewards", apis.RewardsApi.as_view(), name="creator-rewards"),
    path("creators/me/payouts", apis.PayoutsApi.as_view(), name="creator-payouts"),
    path("campaigns", apis.CampaignListApi.as_view(), name="campaigns"),
    path("campaigns/<id:campaign_id>", apis.CampaignDetailApi.as_view(), name="campaign-detail"),
    path("campaigns/<id:campaign_id>/enrol", apis.EnrolApi.as_view(), name="campaign-enrol"),
    path("campaigns/<id:campaign_id>/leave", apis.LeaveApi.as_view(), name="campaign-leave"),
    path("campaigns/<id:campaign_id>/submissions", apis.SubmissionsApi.as_view(), name="campaign-submissions"),
    path("campaigns/<id:campaign_id>/progress", apis.ProgressApi.as_view(), name="campaign-progress"),
    path("campaigns/<id:campaign_id>/leaderboard", apis.LeaderboardApi.as_view(), name="campaign-leaderboard"),
]
