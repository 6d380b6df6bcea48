from django.urls import path

from . import apis

urlpatterns = [
    path("cameos", apis.CameoListCreateApi.as_view(), name="cameos"),
    path("cameos/challenges", apis.ChallengeApi.as_view(), name="cameo-challenges"),
    path("cameos/<uuid_id:cameo_id>", apis.CameoDetailApi.as_view(), name="cameo-detail"),
    path("cameos/<uuid_id:cameo_id>/requests", apis.CameoRequestApi.as_view(), name="cameo-request"),
    path("cameos/<uuid_id:cameo_id>/grants", apis.CameoGrantsApi.as_view(), name="cameo-grants"),
    *[path(f"cameos/<uuid_id:cameo_id>/grants/<id:user_id>/{action}", apis.CameoGrantDecideApi.as_view(),
           {"action": action}, name=f"cameo-grant-{action}") for action in ("approve", "deny", "revoke")],
]
