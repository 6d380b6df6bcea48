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
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _next_id: int = 0

    def record(self, request: FcmRequest) -> int:
        with self._lock:
            self.requests.append(request)
            self._next_id += 1
            return self._next_id

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

        def _reply(self, status: int, body: dict) -> None:
            self.send_json(status, body, content_type="application/json; charset=UTF-8")

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
