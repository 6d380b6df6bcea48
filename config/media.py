"""Stored media (videos, posters, covers, avatars, images): expiring URLs to hand out, and the
view that serves local files behind them. Every app's serializers use `media_url`; S3 presigns
its own. Nothing under MEDIA_ROOT is served any other way, in any mode (config.urls): a stored
file is reachable only through a URL signed here, which clients get absolute (PUBLIC_BASE_URL,
as share links), so an app can fetch it as it is."""

from __future__ import annotations

import time
from functools import lru_cache
from typing import Callable

from django.conf import settings
from django.core import signing
from django.core.files.storage import FileSystemStorage, default_storage, storages
from django.http import FileResponse, Http404
from django.urls import get_script_prefix, reverse
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.views import APIView

# Unchanged since the URLs were signed in generation: URLs handed out before still verify.
MEDIA_SIGNING_SALT = "generation.media"


def media_url(name: str) -> str | None:
    """An expiring URL for a stored file: S3 presigns it; local files go through a signed view.

    The same URL is handed out for a tenth of its lifetime (so it stays valid for at least nine
    tenths of it): a feed page signs two URLs a post, and a URL that does not change from one
    page to the next lets the apps and a CDN keep the video cached."""
    if not name:
        return None
    # The storage itself, not `default_storage`: every attribute read through that lazy proxy
    # cost more than the cached URL it leads to (a page reads two a post).
    storage = storages["default"]
    local = isinstance(storage, FileSystemStorage)
    lifetime = settings.MEDIA_URL_EXPIRE if local else getattr(settings, "AWS_QUERYSTRING_EXPIRE", 3600)
    window = int(time.time() // max(1, lifetime // 10))
    base = settings.PUBLIC_BASE_URL.rstrip("/") if local else ""
    return _signed_url(name, local, getattr(storage, "bucket_name", None), lifetime, window, base)


@lru_cache(maxsize=20_000)
def _signed_url(name: str, local: bool, _bucket: str | None, _lifetime: int, _window: int, base: str) -> str:
    # The storage, its lifetime, the time window and the base URL are part of the key: nothing
    # signed for one configuration is handed out under another.
    if local:
        # URL-safe base64 of the name plus a timestamped signature.
        return base + _media_path(get_script_prefix()) + signing.dumps(name, salt=MEDIA_SIGNING_SALT)
    return default_storage.url(name)


@lru_cache(maxsize=8)
def _media_path(_script_prefix: str) -> str:
    """The signed view's path up to its token, as reverse() writes it, read once per script
    prefix: reverse() was half the cost of signing a URL, and a card with renditions signs two
    URLs more a language. A token's characters are all safe in a path: none is quoted."""
    marker = "token"
    path = reverse("signed-media", kwargs={"token": marker})
    return path[:-len(marker)]


class SignedFileSystemStorage(FileSystemStorage):
    """The local default storage. Its files' URLs are the signed ones of media_url, so that
    whatever asks the storage for a URL (the admin's file widgets, a template) links to the
    signed view and not to an unsigned MEDIA_URL path, which no route serves."""

    def url(self, name: str | None) -> str:  # type: ignore[override]
        return media_url(name or "") or ""


# Checks that an app above config adds (from its AppConfig.ready(); config may not import it):
# each takes a stored name and says whether its file must not be served any more (feed: the
# files of a taken-down or removed post, its renditions' included). A URL signed before the
# takedown then answers 404 like an unknown one.
MediaRefusal = Callable[[str], bool]
_refusals: list[MediaRefusal] = []


def media_refusal_register(check: MediaRefusal) -> None:
    if check not in _refusals:
        _refusals.append(check)


def media_refused(name: str) -> bool:
    return any(check(name) for check in _refusals)


def media_name_from_token(token: str) -> str | None:
    try:
        name = signing.loads(token, salt=MEDIA_SIGNING_SALT, max_age=settings.MEDIA_URL_EXPIRE)
    except signing.BadSignature:  # includes SignatureExpired
        return None
    return name if isinstance(name, str) else None


class SignedMediaApi(APIView):
    """Serves locally stored media behind an expiring signature (S3 presigns its own URLs)."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(exclude=True)
    def get(self, request: Request, token: str):
        name = media_name_from_token(token)
        if name is None or not default_storage.exists(name) or media_refused(name):
            raise Http404
        return FileResponse(default_storage.open(name, "rb"))
