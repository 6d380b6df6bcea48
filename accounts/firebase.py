"""Firebase ID token verification through firebase-admin.

Kept behind one function so services never touch the SDK. With
FIREBASE_AUTH_EMULATOR_HOST set, firebase-admin itself accepts the Auth
emulator's unsigned tokens; otherwise it checks Google's signature.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import firebase_admin
from django.conf import settings
from firebase_admin import auth, credentials

from config.errors import ApplicationError

logger = logging.getLogger(__name__)

_APP_NAME = "clipsocial"


@dataclass(frozen=True)
class FirebaseIdentity:
    uid: str
    email: str | None
    email_verified: bool
    name: str
    picture: str


def _app() -> firebase_admin.App:
    try:
        return firebase_admin.get_app(_APP_NAME)
    except ValueError:
        pass
    if not settings.FIREBASE_PROJECT_ID:
        raise ApplicationError(
            "Firebase sign-in is not configured on this server.", code="firebase_not_configured", status_code=501
        )
    cred = credentials.Certificate(settings.FIREBASE_CREDENTIALS_FILE) if settings.FIREBASE_CREDENTIALS_FILE else None
    try:
        return firebase_admin.initialize_app(cred, {"projectId": settings.FIREBASE_PROJECT_ID}, name=_APP_NAME)
    except ValueError:  # another thread initialised it first
        return firebase_admin.get_app(_APP_NAME)


def firebase_verify_id_token(id_token: str) -> FirebaseIdentity:
    app = _app()
    if app.project_id != settings.FIREBASE_PROJECT_ID:
        # Settings changed under a live process (tests, or a reload): start over.
        firebase_admin.delete_app(app)
        app = _app()
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
