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
from firebase_admin import auth, credentials, messaging
from google.auth.credentials import AnonymousCredentials

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
        if fcm_endpoint:
            try:
                _send_fcm_to(app, fcm_endpoint)
            except Exception:
                # Never leave an app behind that would send to Google instead.
                firebase_admin.delete_app(app)
                raise
        return app


def _send_fcm_to(app: firebase_admin.App, endpoint: str) -> None:
    """Point this app's FCM client at `endpoint` instead of https://fcm.googleapis.com.

    firebase-admin 7.1 has no option for it (no FCM emulator support). Its messaging
    service is created once per app and cached under the app; registering it here,
    before any send, with the URL rebased keeps the change to this one app and
    every firebase-admin code path (encoding, errors, retries) the real one.
    """
    def initializer(app: firebase_admin.App) -> messaging._MessagingService:
        service = messaging._MessagingService(app)
        fcm_url = getattr(service, "_fcm_url", None)
        if not isinstance(fcm_url, str) or not fcm_url.startswith("https://fcm.googleapis.com/"):
            raise ImproperlyConfigured(
                "FCM_ENDPOINT is set but this firebase-admin version builds its FCM URL differently."
            )
        path = urlsplit(fcm_url).path  # /v1/projects/{project}/messages:send
        service._fcm_url = endpoint.rstrip("/") + path
        return service

    service = app._get_service(messaging._MESSAGING_ATTRIBUTE, initializer)
    logger.info("firebase.fcm_endpoint_override", extra={"fcm_url": service._fcm_url})


def _auth_app() -> firebase_admin.App:
    app = firebase_app()
    if app is None:
        raise ApplicationError(
            "Firebase sign-in is not configured on this server.", code="firebase_not_configured", status_code=503
        )
    return app


def firebase_verify_id_token(id_token: str) -> FirebaseIdentity:
    app = _auth_app()
    try:
        claims = auth.verify_id_token(id_token, app=app)
    except auth.ExpiredIdTokenError as exc:
        raise ApplicationError("The Firebase ID token has expired.", code="firebase_token_expired",
                               status_code=401) from exc
    except (auth.InvalidIdTokenError, ValueError) as exc:
        logger.info("firebase.token_rejected", extra={"reason": str(exc)[:200]})
        raise ApplicationError("The Firebase ID token is not valid.", code="firebase_token_invalid",
                               status_code=401) from exc
    except auth.CertificateFetchError as exc:
        logger.warning("firebase.certificates_unreachable", extra={"reason": str(exc)[:200]})
        raise ApplicationError("Firebase cannot be reached; try again.", code="firebase_unavailable",
                               status_code=503) from exc
    return FirebaseIdentity(
        uid=claims["uid"],
        email=(claims.get("email") or None),
        email_verified=bool(claims.get("email_verified")),
        name=str(claims.get("name") or ""),
        picture=str(claims.get("picture") or ""),
    )
