"""FCM push to every device of a user, through firebase-admin.

Push is a best-effort hint that something changed while the app was closed: the
app re-reads state over REST when it opens, so a failed push is logged, never
raised. Tokens FCM says are dead are deleted so they are not tried again.
On when FIREBASE_PROJECT_ID is set (FCM_ENDPOINT points it at a local fake).
Call it outside a database transaction: it waits on HTTP.
"""

from __future__ import annotations

import json
import logging

from firebase_admin import exceptions, messaging
from google.auth.exceptions import DefaultCredentialsError

from .firebase import firebase_app
from .models import Device

logger = logging.getLogger(__name__)

# FCM's limit for one send_each call.
_BATCH_SIZE = 500


def push_to_user(*, user_id: int, title: str, body: str, data: dict[str, str]) -> int:
    """Send a notification to all of the user's devices; returns how many FCM accepted."""
    wrong = sorted(str(key) for key, value in data.items() if not isinstance(key, str) or not isinstance(value, str))
    if wrong:
        # FCM carries data as string pairs only; a caller passing ints is a bug, not a push failure.
        raise TypeError(f"FCM data keys and values must be strings; these are not: {', '.join(wrong)}")

    app = firebase_app()
    if app is None:
        logger.info("push.not_configured", extra={"user_id": user_id})
        return 0

    tokens = list(Device.objects.filter(user_id=user_id).order_by("id").values_list("fcm_token", flat=True))
    if not tokens:
        return 0

    accepted = 0
    dead: list[str] = []
    for start in range(0, len(tokens), _BATCH_SIZE):
        chunk = tokens[start:start + _BATCH_SIZE]
        try:
            batch = messaging.send_each_for_multicast(_message(chunk, title=title, body=body, data=data), app=app)
        except DefaultCredentialsError as exc:
            logger.error("push.no_credentials", extra={"user_id": user_id, "reason": str(exc)[:200]})
            return 0
        except exceptions.FirebaseError as exc:
            logger.warning("push.send_failed", extra={"user_id": user_id, "code": exc.code, "reason": str(exc)[:200]})
            continue
        for token, response in zip(chunk, batch.responses):
            if response.success:
                accepted += 1
            elif _token_is_dead(response.exception):
                dead.append(token)
            else:
                error = response.exception
                logger.warning(
                    "push.device_failed",
                    extra={"user_id": user_id, "code": getattr(error, "code", None), "reason": str(error)[:200]},
                )

    if dead:
        # Scoped to the user: a token re-registered to someone else meanwhile is theirs now.
        removed, _ = Device.objects.filter(user_id=user_id, fcm_token__in=dead).delete()
        logger.info("push.dead_tokens_removed", extra={"user_id": user_id, "count": removed})
    logger.info("push.sent", extra={"user_id": user_id, "devices": len(tokens), "accepted": accepted})
    return accepted


def _message(tokens: list[str], *, title: str, body: str, data: dict[str, str]) -> messaging.MulticastMessage:
    return messaging.MulticastMessage(
        tokens=tokens,
        notification=messaging.Notification(title=title, body=body),
        data=data,
        # High priority: shown at once, and allowed to wake a dozing Android phone.
        android=messaging.AndroidConfig(priority="high"),
        # 10 = deliver now (alert pushes must say so); the push type is mandatory on iOS 13+.
        apns=messaging.APNSConfig(
            headers={"apns-priority": "10", "apns-push-type": "alert"},
            payload=messaging.APNSPayload(aps=messaging.Aps(sound="default")),
        ),
        webpush=messaging.WebpushConfig(headers={"Urgency": "high"}),
    )


def _token_is_dead(error: Exception | None) -> bool:
    if isinstance(error, (messaging.UnregisteredError, messaging.SenderIdMismatchError)):
        return True
    if isinstance(error, exceptions.InvalidArgumentError):
        # INVALID_ARGUMENT also means a bad payload; only a bad token condemns the device.
        return _names_the_token(error)
    return False


def _names_the_token(error: exceptions.InvalidArgumentError) -> bool:
    # FCM says "The registration token is not a valid FCM registration token", and
    # older responses name the field in a google.rpc.BadRequest detail.
    if "registration token" in str(error).lower():
        return True
    response = error.http_response
    if response is None:
        return False
    try:
        details = json.loads(response.content).get("error", {}).get("details", [])
    except (ValueError, AttributeError):
        return False
    return any(
        violation.get("field") == "message.token"
        for detail in details if isinstance(detail, dict)
        for violation in detail.get("fieldViolations", []) if isinstance(violation, dict)
    )
