"""A local FCM HTTP v1 server, and fixtures pointing accounts.push at it.

It speaks `POST /v1/projects/{project}/messages:send` as Google documents it:
`{"name": "projects/{project}/messages/{id}"}` on success, and FCM's error bodies
(google.rpc.Status with an FcmError detail) for tokens the test marks as dead,
malformed or over quota. firebase-admin does the real HTTP against it.

Registered as a pytest plugin by the root conftest.py, so any test can use
`fcm_server` (the server alone) or `fcm` (the server plus settings turning push on).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from .server import FakeHandler, serve_fake

FCM_PROJECT = "clipsocial-test"
_SEND_PATH = re.compile(r"^/v1/projects/(?P<project>[^/]+)/messages:send$")


@dataclass
class FcmRequest:
    project: str
    message: dict
    validate_only: bool
    authorization: str | None

    @property
    def token(self) -> str | None:
        return self.message.get("token")


@dataclass
class FakeFcm:
    url: str = ""
    requests: list[FcmRequest] = field(default_factory=list)
    # 404 UNREGISTERED: the app was uninstalled or the token expired.
    unregistered: set[str] = field(default_factory=set)
    # 400 INVALID_ARGUMENT naming the token: it was never a valid token.
    invalid: set[str] = field(default_factory=set)
    # 429 QUOTA_EXCEEDED: a transient failure; the device must be kept.
    over_quota: set[str] = field(default_factory=set)
    # 400 INVALID_ARGUMENT about the payload, not the token (e.g. a reserved data key).
    bad_payload: set[str] = field(default_factory=set)
    # Scripted failures, by token (None: any token), see fail(); used up one answer at a time.
    faults: dict[str | None, list["Fault"]] = field(default_factory=dict)
    # When set, every request must carry exactly this Authorization header (else 401).
    expected_authorization: str | None = None
    # Messages the v1 schema check refused, with what was wrong.
    rejected: list[tuple[dict, list[str]]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _next_id: int = 0

    def record(self, request: FcmRequest) -> int:
        with self._lock:
            self.requests.append(request)
            self._next_id += 1
            return self._next_id

    def fail(self, kind: str, *, token: str | None = None, retry_after: str | None = None, times: int = 1) -> None:
        """The next `times` sends (to `token`, or to any) answer as FCM does for `kind`
        (a key of FAULTS), with a Retry-After header when given."""
        with self._lock:
            self.faults.setdefault(token, []).extend([Fault(kind, retry_after)] * times)

    def _take_fault(self, token: str | None) -> "Fault | None":
        with self._lock:
            for key in (token, None):
                queue = self.faults.get(key)
                if queue:
                    return queue.pop(0)
        return None

    def by_token(self) -> dict[str | None, FcmRequest]:
        """firebase-admin sends a multicast's messages in parallel: compare by token, not by order."""
        return {request.token: request for request in self.requests}


def _fcm_error(http_status: int, status: str, fcm_code: str, message: str) -> dict:
    return {
        "error": {
            "code": http_status,
            "message": message,
            "status": status,
            "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": fcm_code}],
        }
    }


@dataclass(frozen=True)
class Fault:
    kind: str
    retry_after: str | None = None


# What FCM answers, as (HTTP status, google.rpc status, FcmError errorCode or None, message).
FAULTS = {
    "internal": (500, "INTERNAL", "INTERNAL", "Internal error encountered."),
    "unavailable": (503, "UNAVAILABLE", "UNAVAILABLE", "The service is currently unavailable."),
    "quota": (429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED", "Quota exceeded for quota metric 'Send requests'."),
    "unauthenticated": (401, "UNAUTHENTICATED", None,
                        "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie "
                        "or other valid authentication credential."),
    "permission_denied": (403, "PERMISSION_DENIED", None,
                          "Permission 'cloudmessaging.messages.create' denied on resource."),
    "third_party_auth": (401, "UNAUTHENTICATED", "THIRD_PARTY_AUTH_ERROR", "Auth error from APNS or Web Push Service"),
    "sender_id_mismatch": (403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH", "SenderId mismatch"),
    "unregistered": (404, "NOT_FOUND", "UNREGISTERED", "Requested entity was not found."),
}

_MESSAGE_FIELDS = {"name", "data", "notification", "android", "webpush", "apns", "fcm_options", "token", "topic",
                   "condition"}
_ANDROID_FIELDS = {"collapse_key", "priority", "ttl", "restricted_package_name", "data", "notification",
                   "fcm_options", "direct_boot_ok"}
_ANDROID_NOTIFICATION_FIELDS = {
    "title", "body", "icon", "color", "sound", "tag", "click_action", "body_loc_key", "body_loc_args",
    "title_loc_key", "title_loc_args", "channel_id", "ticker", "sticky", "event_time", "local_only",
    "notification_priority", "default_sound", "default_vibrate_timings", "default_light_settings",
    "vibrate_timings", "visibility", "notification_count", "light_settings", "image", "proxy"}
_TTL = re.compile(r"^\d+(\.\d{1,9})?s$")  # google.protobuf.Duration in JSON
_WEB_TOPIC = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


def validate_message(message: dict) -> list[str]:
    """What FCM v1 would refuse in `message` (the fields we use, as the v1 reference defines
    them): unknown fields, not exactly one target, non-string data, a ttl not in Duration
    form, APNs and web push headers out of their formats. Empty when it is valid."""
    wrong = [f"message.{key}: unknown field" for key in message if key not in _MESSAGE_FIELDS]
    if sum(key in message for key in ("token", "topic", "condition")) != 1:
        wrong.append("message: exactly one of token, topic, condition")
    for section in ("data", "android", "apns", "webpush", "notification"):
        if section in message and not isinstance(message[section], dict):
            wrong.append(f"message.{section}: not an object")
    if wrong:
        return wrong
    for key, value in message.get("data", {}).items():
        if not isinstance(value, str):
            wrong.append(f"message.data.{key}: not a string")
    android = message.get("android", {})
    wrong += [f"message.android.{key}: unknown field" for key in android if key not in _ANDROID_FIELDS]
    if "ttl" in android and not (isinstance(android["ttl"], str) and _TTL.match(android["ttl"])):
        wrong.append("message.android.ttl: not a Duration like \"3600s\"")
    if android.get("priority", "normal").lower() not in ("normal", "high"):
        wrong.append("message.android.priority: not NORMAL or HIGH")
    if "collapse_key" in android and not isinstance(android["collapse_key"], str):
        wrong.append("message.android.collapse_key: not a string")
    wrong += [f"message.android.notification.{key}: unknown field" for key in android.get("notification", {})
              if key not in _ANDROID_NOTIFICATION_FIELDS]
    headers = message.get("apns", {}).get("headers", {})
    if any(not isinstance(value, str) for value in headers.values()):
        wrong.append("message.apns.headers: values must be strings")
    else:
        if "apns-expiration" in headers and not headers["apns-expiration"].isdigit():
            wrong.append("message.apns.headers.apns-expiration: not a UNIX time")
        if len(headers.get("apns-collapse-id", "").encode()) > 64:
            wrong.append("message.apns.headers.apns-collapse-id: over 64 bytes")
        if headers.get("apns-priority", "10") not in ("1", "5", "10"):
            wrong.append("message.apns.headers.apns-priority: not 1, 5 or 10")
    web = message.get("webpush", {}).get("headers", {})
    if "TTL" in web and not str(web["TTL"]).isdigit():
        wrong.append("message.webpush.headers.TTL: not seconds")
    if "Topic" in web and not _WEB_TOPIC.match(str(web["Topic"])):
        wrong.append("message.webpush.headers.Topic: over 32 URL-safe base64 characters")
    if web.get("Urgency", "normal") not in ("very-low", "low", "normal", "high"):
        wrong.append("message.webpush.headers.Urgency: not very-low, low, normal or high")
    return wrong


def _bad_request(violations: list[str]) -> dict:
    body = _fcm_error(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "Request contains an invalid argument.")
    body["error"]["details"].append({"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [
        {"field": item.split(":", 1)[0], "description": item.split(":", 1)[1].strip()} for item in violations]})
    return body


def _handler(fake: FakeFcm) -> type[FakeHandler]:
    class Handler(FakeHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            match = _SEND_PATH.match(self.path)
            raw = self.read_body()
            if not match:
                return self._reply(404, _fcm_error(404, "NOT_FOUND", "UNSPECIFIED_ERROR", "Not found."))
            try:
                payload = json.loads(raw)
                message = payload["message"]
            except (ValueError, KeyError, TypeError):
                return self._reply(400, _fcm_error(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT",
                                                   "Invalid JSON payload received."))
            project = match["project"]
            number = fake.record(FcmRequest(
                project=project, message=message, validate_only=bool(payload.get("validate_only")),
                authorization=self.headers.get("Authorization"),
            ))
            token = message.get("token")
            if fake.expected_authorization is not None and (
                    self.headers.get("Authorization") != fake.expected_authorization):
                return self._fault(Fault("unauthenticated"))
            fault = fake._take_fault(token)
            if fault is not None:
                return self._fault(fault)
            violations = validate_message(message)
            if violations:
                fake.rejected.append((message, violations))
                return self._reply(400, _bad_request(violations))
            if token in fake.unregistered:
                return self._reply(404, _fcm_error(404, "NOT_FOUND", "UNREGISTERED", "Requested entity was not found."))
            if token in fake.invalid:
                return self._reply(400, _fcm_error(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT",
                                                   "The registration token is not a valid FCM registration token"))
            if token in fake.over_quota:
                return self._reply(429, _fcm_error(429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED",
                                                   "Quota exceeded for this device."))
            if token in fake.bad_payload:
                return self._reply(400, _fcm_error(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT",
                                                   "Request contains an invalid argument."))
            return self._reply(200, {"name": f"projects/{project}/messages/{number}"})

        def _reply(self, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
            self.send_json(status, body, content_type="application/json; charset=UTF-8", headers=headers)

        def _fault(self, fault: Fault) -> None:
            http_status, status, fcm_code, text = FAULTS[fault.kind]
            body = _fcm_error(http_status, status, fcm_code, text)
            if fcm_code is None:  # errors of the Google API front door carry no FcmError detail
                body["error"]["details"] = []
            headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else None
            return self._reply(http_status, body, headers)

    return Handler


@pytest.fixture
def fcm_server() -> Iterator[FakeFcm]:
    yield from serve_fake(FakeFcm(), _handler, name="fake-fcm")


@pytest.fixture
def fcm(fcm_server: FakeFcm, settings) -> FakeFcm:
    """Push switched on and sent to the local server (no Google credentials involved)."""
    settings.FIREBASE_PROJECT_ID = FCM_PROJECT
    settings.FIREBASE_CREDENTIALS_FILE = ""
    settings.FCM_ENDPOINT = fcm_server.url
    return fcm_server
