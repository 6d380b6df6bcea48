"""The Play Developer API client (google-api-python-client), pointed at Google or, for tests
and development, at GOOGLE_PLAY_API_URL."""

from __future__ import annotations

import threading

from django.conf import settings

_local = threading.local()
SCOPE = "https://www.googleapis.com/auth/androidpublisher"
TIMEOUT_SECONDS = 20


def play_api():
    """The androidpublisher v3 resource, one per thread (httplib2 is not thread-safe),
    built from the discovery document shipped in the library (nothing fetched)."""
    import google_auth_httplib2
    import httplib2
    from google.auth.credentials import AnonymousCredentials
    from google.oauth2 import service_account
    from googleapiclient.discovery import build

    key = (settings.GOOGLE_PLAY_API_URL, settings.GOOGLE_PLAY_SERVICE_ACCOUNT_FILE)
    cached = getattr(_local, "api", None)
    if cached is not None and cached[0] == key:
        return cached[1]
    if settings.GOOGLE_PLAY_SERVICE_ACCOUNT_FILE:
        credentials = service_account.Credentials.from_service_account_file(
            settings.GOOGLE_PLAY_SERVICE_ACCOUNT_FILE, scopes=[SCOPE])
    else:
        # Only a local fake answers without credentials.
        credentials = AnonymousCredentials()
    # The discovery document joins method paths onto the endpoint: it must end with a slash.
    options = {"api_endpoint": settings.GOOGLE_PLAY_API_URL.rstrip("/") + "/"} if settings.GOOGLE_PLAY_API_URL else None
    # httplib2 waits forever by default: a stuck call would hold the notification's lock.
    http = google_auth_httplib2.AuthorizedHttp(credentials, http=httplib2.Http(timeout=TIMEOUT_SECONDS))
    api = build("androidpublisher", "v3", http=http, client_options=options, static_discovery=True,
                cache_discovery=False)
    _local.api = (key, api)
    return api
