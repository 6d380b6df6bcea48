"""firebase-admin, kept behind this module and accounts.push so services never touch the SDK.

One firebase-admin app per process, built from settings and rebuilt when they change
(tests flip them). ID tokens: with FIREBASE_AUTH_EMULATOR_HOST set, firebase-admin
itself accepts the Auth emulator's unsigned tokens; otherwise it checks Google's
signature. FCM: FCM_ENDPOINT sends messages to another base URL (a local fake).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

import firebase_admin
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext as _
from firebase_admin import _http_client, auth, credentials, messaging
from google.auth.credentials import AnonymousCredentials
from google.auth.exceptions import DefaultCredentialsError
from requests.packages.urllib3.util import retry  # the module firebase-admin builds its Retry from

from config.errors import ApplicationError

logger = logging.getLogger(__name__)

_APP_NAME = "clipsocial"
# The settings an app was built from, kept in its options to notice a change.
_SETTINGS_OPTION = "clipsocialSettings"
_lock = threading.Lock()


@dataclass(frozen=True)
class FirebaseIdentity:
    uid: str
    email: str | None
    email_verified: bool
    name: str
    picture: str
    # When the person last signed in to Firebase (seconds since the epoch): re-authentication
    # for account deletion wants a recent one.
    auth_time: int = 0


def _wanted() -> tuple[str, str, str]:
    return (settings.FIREBASE_PROJECT_ID, settings.FIREBASE_CREDENTIALS_FILE, settings.FCM_ENDPOINT)


def firebase_app() -> firebase_admin.App | None:
    """The process's firebase-admin app, or None when FIREBASE_PROJECT_ID is not set."""
    wanted = _wanted()
    project_id, credentials_file, fcm_endpoint = wanted
    with _lock:
        try:
            app = firebase_admin.get_app(_APP_NAME)
        except ValueError:
            app = None
        if app is not None and app.options.get(_SETTINGS_OPTION) == wanted:
            return app
        if app is not None:
            # Settings changed under a live process (tests, or a reload): start over.
            firebase_admin.delete_app(app)
        if not project_id:
            return None
        if credentials_file:
            cred = credentials.Certificate(credentials_file)
        elif fcm_endpoint:
            # A local FCM fake takes no Google OAuth token; Application Default
            # Credentials would go to Google's token endpoint first.
            cred = AnonymousCredentials()
        else:
            cred = None  # Application Default Credentials, loaded on first use
        app = firebase_admin.initialize_app(
            cred, {"projectId": project_id, _SETTINGS_OPTION: wanted}, name=_APP_NAME
        )
        try:
            _register_messaging(app, fcm_endpoint)
        except ImproperlyConfigured:
            # Never leave an app behind that would send to Google instead, or retry in place.
            firebase_admin.delete_app(app)
            raise
        return app


def _fcm_http_client(service: messaging._MessagingService) -> _http_client.JsonHttpClient:
    """firebase-admin's own client, minus its in-place retries. By default it retries 500/503
    four times inside the call and sleeps through each Retry-After, so one `Retry-After: 60`
    held a Celery worker for minutes. Retrying belongs to the push task (accounts.push),
    which waits with a countdown instead. A failed connect is still tried once more: no
    request went out, so it cannot deliver twice."""
    once_on_connect = retry.Retry(total=1, connect=1, read=0, status=0, redirect=0, other=0,
                                  allowed_methods=None, raise_on_status=False, backoff_factor=0)
    client = _http_client.JsonHttpClient(credential=service._credential, retries=once_on_connect,
                                         timeout=settings.FCM_TIMEOUT_SECONDS)
    if isinstance(service._credential, AnonymousCredentials):
        # No token to refresh (a local fake): a 401 is FCM's answer to pass on, not a cue to refresh.
        client.session._refresh_status_codes = ()
    return client


def _register_messaging(app: firebase_admin.App, endpoint: str) -> None:
    """Build this app's FCM service with our HTTP client, and point it at `endpoint` (when
    set) instead of https://fcm.googleapis.com.

    firebase-admin 7.1 has no option for either (no FCM emulator support, no retry
    setting). Its messaging service is created once per app and cached under the app;
    registering it here, before any send, keeps the change to this one app and every
    firebase-admin code path (encoding, error mapping) the real one. Building it reads the
    credential, which raises DefaultCredentialsError without one: then it is left to
    accounts.push, which builds it through the same initializer on its first send.
    """
    try:
        service = app._get_service(messaging._MESSAGING_ATTRIBUTE, lambda app: _messaging_service(app, endpoint))
    except DefaultCredentialsError:
        return
    logger.info("firebase.fcm_configured", extra={"fcm_url": service._fcm_url})


def messaging_service(app: firebase_admin.App) -> messaging._MessagingService:
    """The app's FCM service, built by _messaging_service whoever asks first."""
    endpoint = app.options.get(_SETTINGS_OPTION)[2]
    return app._get_service(messaging._MESSAGING_ATTRIBUTE, lambda app: _messaging_service(app, endpoint))


def _messaging_service(app: firebase_admin.App, endpoint: str) -> messaging._MessagingService:
    service = messaging._MessagingService(app)
    if not isinstance(getattr(service, "_client", None), _http_client.JsonHttpClient):
        raise ImproperlyConfigured("This firebase-admin version keeps its FCM HTTP client differently.")
    service._client = _fcm_http_client(service)
    if endpoint:
        fcm_url = getattr(service, "_fcm_url", None)
        if not isinstance(fcm_url, str) or not fcm_url.startswith("https://fcm.googleapis.com/"):
            raise ImproperlyConfigured(
                "FCM_ENDPOINT is set but this firebase-admin version builds its FCM URL differently."
            )
        path = urlsplit(fcm_url).path  # /v1/projects/{project}/messages:send
        service._fcm_url = endpoint.rstrip("/") + path
    return service


def _auth_app() -> firebase_admin.App:
    app = firebase_app()
    if app is None:
        raise ApplicationError(
            _("Firebase sign-in is not configured on this server."), code="firebase_not_configured", status_code=503
        )
    return app


def firebase_verify_id_token(id_token: str) -> FirebaseIdentity:
    app = _auth_app()
    try:
        claims = auth.verify_id_token(id_token, app=app)
    except auth.ExpiredIdTokenError as exc:
        raise ApplicationError(_("The Firebase ID token has expired."), code="firebase_token_expired",
                               status_code=401) from exc
    except (auth.InvalidIdTokenError, ValueError) as exc:
        logger.info("firebase.token_rejected", extra={"reason": str(exc)[:200]})
        raise ApplicationError(_("The Firebase ID token is not valid."), code="firebase_token_invalid",
                               status_code=401) from exc
    except auth.CertificateFetchError as exc:
        logger.warning("firebase.certificates_unreachable", extra={"reason": str(exc)[:200]})
        raise ApplicationError(_("Firebase cannot be reached; try again."), code="firebase_unavailable",
                               status_code=503) from exc
    return FirebaseIdentity(
        uid=claims["uid"],
        email=(claims.get("email") or None),
        email_verified=bool(claims.get("email_verified")),
        name=str(claims.get("name") or ""),
        picture=str(claims.get("picture") or ""),
        auth_time=int(claims.get("auth_time") or 0),
    )
