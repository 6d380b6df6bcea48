"""FCM push to every device of a user, through firebase-admin.

Push is a hint that something changed while the app was closed: the app re-reads state
over REST when it opens. So a push is sent once, soon, or not at all:
- each push has a TTL (its notification type's push_ttl) after which FCM, APNs and web push drop it
  instead of showing it late, and a collapse key, so a newer push about the same thing
  replaces the older one (on the lock screen too) instead of stacking;
- a transient failure (429, 500, 503, a timeout) raises PushRetry to the Celery task,
  naming the devices still owed the push and FCM's Retry-After; the task retries those
  devices only, with a countdown (push_task_retry), never sleeping in the worker;
- a dead token (UNREGISTERED, or INVALID_ARGUMENT naming the token) deletes the device;
- an auth/config failure (a broken APNs key, bad FCM credentials, a wrong sender) is no
  device's fault: it is logged at ERROR as `push.auth_failed` and counted for staff
  (push_alert_record: a PushAlert row, read by accounts.selectors.push_alerts_recent); retrying cannot fix it.
On when FIREBASE_PROJECT_ID is set (FCM_ENDPOINT points it at a local fake).
Call it outside a database transaction: it waits on HTTP.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, NoReturn

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from firebase_admin import exceptions, messaging
from google.auth.exceptions import DefaultCredentialsError, RefreshError

from .firebase import firebase_app, messaging_service
from .models import Device, PushAlert

logger = logging.getLogger(__name__)

# FCM's limit for one send_each call.
_BATCH_SIZE = 500

# Task retries: backoff of 15 s doubling to at most 5 minutes, 6 tries in all; a Retry-After
# is honoured as given, up to an hour (a longer one is given up on: the push is stale by then).
PUSH_MAX_RETRIES = 5
PUSH_BACKOFF_BASE = 15
PUSH_BACKOFF_MAX = 300
PUSH_RETRY_AFTER_MAX = 3600

# Auth/config failures counted for staff, per code, for this long after the last one.
PUSH_ALERT_WINDOW = timedelta(hours=24)
ALERT_CODES = ("third_party_auth_error", "fcm_unauthenticated", "fcm_permission_denied", "sender_id_mismatch",
               "fcm_no_credentials")


class PushRetry(Exception):
    """FCM failed transiently for some devices: retry them, after `retry_after` seconds when FCM said."""

    def __init__(self, *, device_ids: list[int], retry_after: float | None, code: str) -> None:
        super().__init__(f"FCM {code} for {len(device_ids)} devices (Retry-After: {retry_after})")
        self.device_ids = device_ids
        self.retry_after = retry_after
        self.code = code


@dataclass(frozen=True)
class _Outcome:
    kind: str  # "ok", "dead", "retry", "alert", "failed"
    code: str = ""
    retry_after: float | None = None


def push_to_user(*, user_id: int, title: str, body: str, data: dict[str, str], collapse_key: str,
                 ttl: timedelta, device_ids: list[int] | None = None) -> int:
    """Send a notification to the user's devices (only `device_ids` of them, on a retry);
    returns how many FCM accepted. Raises PushRetry when some devices failed transiently.
    `ttl`: how long FCM may hold it for a phone that is off (each notification type says)."""
    wrong = sorted(str(key) for key, value in data.items() if not isinstance(key, str) or not isinstance(value, str))
    if wrong:
        # FCM carries data as string pairs only; a caller passing ints is a bug, not a push failure.
        raise TypeError(f"FCM data keys and values must be strings; these are not: {', '.join(wrong)}")

    app = firebase_app()
    if app is None:
        logger.info("push.not_configured", extra={"user_id": user_id})
        return 0

    devices = Device.objects.filter(user_id=user_id).order_by("id")
    if device_ids is not None:
        devices = devices.filter(pk__in=device_ids)
    pairs = list(devices.values_list("pk", "fcm_token"))
    if not pairs:
        return 0
    try:
        messaging_service(app)  # built here when credentials could not be read at start-up
    except DefaultCredentialsError as exc:
        push_alert_record(code="fcm_no_credentials", detail=str(exc))
        return 0

    accepted = 0
    dead: list[str] = []
    retry: list[int] = []
    retry_after: float | None = None
    retry_code = ""
    alerts: dict[str, str] = {}
    for start in range(0, len(pairs), _BATCH_SIZE):
        chunk = pairs[start:start + _BATCH_SIZE]
        message = push_message([token for _, token in chunk], title=title, body=body, data=data, ttl=ttl,
                               collapse_key=collapse_key)
        try:
            batch = messaging.send_each_for_multicast(message, app=app)
        except exceptions.UnknownError as exc:
            # send_each wraps what is not an HTTP answer, e.g. a credential refresh that failed.
            if isinstance(exc.cause, (RefreshError, DefaultCredentialsError)):
                alerts["fcm_no_credentials"] = str(exc.cause)
                continue
            raise
        for (device_id, token), response in zip(chunk, batch.responses):
            outcome = _classify(response.exception) if not response.success else _Outcome("ok")
            if outcome.kind == "ok":
                accepted += 1
            elif outcome.kind == "dead":
                dead.append(token)
            elif outcome.kind == "retry":
                retry.append(device_id)
                retry_code = outcome.code
                if outcome.retry_after is not None:
                    retry_after = max(retry_after or 0.0, outcome.retry_after)
            elif outcome.kind == "alert":
                alerts[outcome.code] = str(response.exception)
            else:
                error = response.exception
                logger.warning("push.device_failed",
                               extra={"user_id": user_id, "code": getattr(error, "code", None),
                                      "reason": str(error)[:200]})

    if dead:
        # Scoped to the user: a token re-registered to someone else meanwhile is theirs now.
        removed, _ = Device.objects.filter(user_id=user_id, fcm_token__in=dead).delete()
        logger.info("push.dead_tokens_removed", extra={"user_id": user_id, "count": removed})
    for code, detail in alerts.items():
        push_alert_record(code=code, detail=detail)
    logger.info("push.sent", extra={"user_id": user_id, "devices": len(pairs), "accepted": accepted,
                                    "retry": len(retry)})
    if retry:
        raise PushRetry(device_ids=retry, retry_after=retry_after, code=retry_code)
    return accepted


def push_message(tokens: list[str], *, title: str, body: str, data: dict[str, str], ttl: timedelta,
                 collapse_key: str) -> messaging.MulticastMessage:
    seconds = int(ttl.total_seconds())
    return messaging.MulticastMessage(
        tokens=tokens,
        notification=messaging.Notification(title=title, body=body),
        data=data,
        # High priority: shown at once, and allowed to wake a dozing Android phone. The tag
        # replaces a shown notification with the same key instead of adding another.
        android=messaging.AndroidConfig(priority="high", ttl=ttl, collapse_key=collapse_key,
                                        notification=messaging.AndroidNotification(tag=collapse_key)),
        # 10 = deliver now (alert pushes must say so); the push type is mandatory on iOS 13+;
        # apns-expiration is an absolute UNIX time; apns-collapse-id is at most 64 bytes.
        apns=messaging.APNSConfig(
            headers={"apns-priority": "10", "apns-push-type": "alert",
                     "apns-expiration": str(int(time.time()) + seconds), "apns-collapse-id": collapse_key[:64]},
            payload=messaging.APNSPayload(aps=messaging.Aps(sound="default")),
        ),
        # Web push: TTL in seconds; Topic is at most 32 URL-safe base64 characters, so a digest.
        webpush=messaging.WebpushConfig(headers={"Urgency": "high", "TTL": str(seconds),
                                                 "Topic": _web_topic(collapse_key)}),
    )


def _web_topic(collapse_key: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(collapse_key.encode()).digest()).decode()[:32]


def _classify(error: Exception | None) -> _Outcome:
    if isinstance(error, messaging.UnregisteredError):
        return _Outcome("dead")
    if isinstance(error, messaging.ThirdPartyAuthError):
        return _Outcome("alert", "third_party_auth_error")
    if isinstance(error, messaging.SenderIdMismatchError):
        # Usually the server's project is not the one the app registers with: deleting the
        # tokens would erase every device over a config mistake, so they are kept.
        return _Outcome("alert", "sender_id_mismatch")
    if isinstance(error, (messaging.QuotaExceededError, exceptions.ResourceExhaustedError,
                          exceptions.UnavailableError, exceptions.InternalError,
                          exceptions.DeadlineExceededError)):
        return _Outcome("retry", error.code, _retry_after(error))
    if isinstance(error, exceptions.UnauthenticatedError):
        return _Outcome("alert", "fcm_unauthenticated")
    if isinstance(error, exceptions.PermissionDeniedError):
        return _Outcome("alert", "fcm_permission_denied")
    if isinstance(error, exceptions.InvalidArgumentError) and _names_the_token(error):
        # INVALID_ARGUMENT also means a bad payload; only a bad token condemns the device.
        return _Outcome("dead")
    return _Outcome("failed")


def _retry_after(error: exceptions.FirebaseError) -> float | None:
    """Retry-After in seconds (FCM sends delta-seconds), or None when absent or unreadable."""
    response = error.http_response
    value = response.headers.get("Retry-After") if response is not None else None
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and seconds >= 0 else None


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


# --- retries (called by the push tasks) --------------------------------------------------------


def push_retry_countdown(*, retry_after: float | None, retries: int) -> int | None:
    """Seconds to wait before try number `retries + 1`, or None to give up."""
    if retries >= PUSH_MAX_RETRIES:
        return None
    if retry_after is not None:
        return int(retry_after + 0.999) if retry_after <= PUSH_RETRY_AFTER_MAX else None
    return min(PUSH_BACKOFF_MAX, PUSH_BACKOFF_BASE * 2 ** retries)


def push_task_retry(task: Any, exc: PushRetry) -> NoReturn | int:
    """From a bound push task: raise its retry, for the failed devices only, with the
    countdown; or log and return 0 when retries are spent. The worker never sleeps."""
    countdown = push_retry_countdown(retry_after=exc.retry_after, retries=task.request.retries)
    if countdown is None:
        logger.warning("push.retries_exhausted", extra={"task": task.name, "code": exc.code,
                                                        "devices": len(exc.device_ids),
                                                        "retries": task.request.retries})
        return 0
    kwargs = {**(task.request.kwargs or {}), "device_ids": exc.device_ids}
    raise task.retry(args=task.request.args, kwargs=kwargs, countdown=countdown, exc=exc,
                     max_retries=PUSH_MAX_RETRIES)


# --- staff alert -----------------------------------------------------------------------------


def push_alert_record(*, code: str, detail: str) -> None:
    """An auth/config failure: an ERROR log line (the metric: alert on `push.auth_failed`) and
    a per-code count in the database that the admin shows (push_alerts_recent). A code not
    seen for PUSH_ALERT_WINDOW starts counting again."""
    logger.error("push.auth_failed", extra={"code": code, "reason": detail[:200]})
    now = timezone.now()
    with transaction.atomic():
        alert = PushAlert.objects.select_for_update().filter(code=code).first()
        if alert is None or alert.last_seen_at < now - PUSH_ALERT_WINDOW:
            alert = alert or PushAlert(code=code)
            alert.count, alert.first_seen_at = 0, now
        alert.count += 1
        alert.last_seen_at = now
        alert.detail = detail[:500]
        try:
            with transaction.atomic():
                alert.save()
        except IntegrityError:  # another process recorded the first one at the same moment
            PushAlert.objects.filter(code=code).update(count=F("count") + 1, last_seen_at=now)


def push_alerts_read() -> list[dict[str, Any]]:
    recent = PushAlert.objects.filter(last_seen_at__gte=timezone.now() - PUSH_ALERT_WINDOW).order_by("-last_seen_at")
    return [{"code": alert.code, "count": alert.count, "first_seen_at": alert.first_seen_at.isoformat(),
             "last_seen_at": alert.last_seen_at.isoformat(), "detail": alert.detail} for alert in recent]
