from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path, register_converter
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from feed.apis import share_redirect

from . import converters, errors, health, index, media

# Before the apps' URL modules below use them.
register_converter(converters.HandleConverter, "handle")
register_converter(converters.HashtagConverter, "hashtag")
register_converter(converters.ShareTokenConverter, "share_token")
register_converter(converters.SignedTokenConverter, "signed_token")
register_converter(converters.GroupKeyConverter, "group_key")
register_converter(converters.IdConverter, "id")
register_converter(converters.UuidIdConverter, "uuid_id")

handler404 = "config.errors.json_404"
handler500 = "config.errors.json_500"

api_v1 = [
    path("", index.api_index, name="api-index"),
    path("", include("accounts.urls")),
    path("", include("generation.urls")),
    path("", include("billing.urls")),
    path("", include("feed.urls")),
    path("", include("creators.urls")),
    path("media/<signed_token:token>", media.SignedMediaApi.as_view(), name="signed-media"),
]

urlpatterns = [
    path("", index.api_index, name="index"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    # ADMIN_URL_PREFIX; config.middleware.AdminAccessMiddleware keeps it to its hosts and addresses.
    path(settings.ADMIN_URL_PREFIX, admin.site.urls),
    # Share tracking links handed out to TikTok/Instagram/YouTube: short and public.
    path("s/<share_token:token>", share_redirect, name="share-redirect"),
    path("api/v1/", include(api_v1)),
    # Unknown API paths answer in the error shape, also with DEBUG on.
    re_path(r"^api/v1/", errors.json_404),
]

if settings.API_DOCS_ENABLED:
    # Off by default in production (API_DOCS_ENABLED): then these paths are unknown, a 404.
    urlpatterns += [
        path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
        path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    ]

# MEDIA_ROOT is not served at MEDIA_URL, also with DEBUG on: stored files are private, reached
# only through the signed URLs of config.media (SignedMediaApi above).
