from django.urls import path

from . import apis

urlpatterns = [
    path("generations", apis.GenerationListCreateApi.as_view(), name="generations"),
    path("generations/<uuid_id:job_id>", apis.GenerationDetailApi.as_view(), name="generation-detail"),
    path("localizations", apis.LocalizationCreateApi.as_view(), name="localizations"),
    path("generations/<uuid_id:job_id>/cancel", apis.GenerationCancelApi.as_view(), name="generation-cancel"),
]
