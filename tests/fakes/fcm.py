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
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

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


def _handler(fake: FakeFcm) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            match = _SEND_PATH.match(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
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
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args) -> None:  # keep test output clean
            pass

    return Handler


@pytest.fixture
def fcm_server() -> Iterator[FakeFcm]:
    fake = FakeFcm()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    server.daemon_threads = True
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    # A short poll keeps shutdown() (and so each test's teardown) fast.
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-fcm", daemon=True
    )
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def fcm(fcm_server: FakeFcm, settings) -> FakeFcm:
    """Push switched on and sent to the local server (no Google credentials involved)."""
    settings.FIREBASE_PROJECT_ID = FCM_PROJECT
    settings.FIREBASE_CREDENTIALS_FILE = ""
    settings.FCM_ENDPOINT = fcm_server.url
    return fcm_server
