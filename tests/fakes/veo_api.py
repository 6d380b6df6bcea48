"""A stateful fake of Veo on Vertex AI (express mode: an API key, no project), faithful to what
the official `google-genai` SDK sends and parses (tests/test_fake_veo_api_contract.py).

    POST /v1/publishers/google/models/{model}:predictLongRunning
         {"instances": [{"prompt", "image": {"bytesBase64Encoded", "mimeType"}}],
          "parameters": {"durationSeconds", "aspectRatio", "resolution", "sampleCount", ...}}
         -> {"name": "projects/.../publishers/google/models/{model}/operations/{id}"}  (a long-running operation)
    POST /v1/{model resource}:fetchPredictOperation {"operationName"} -> the operation; done: a
         `response` with `videos` [{"bytesBase64Encoded", "mimeType"}] (inline, no storageUri asked),
         or `raiMediaFilteredCount` / `raiMediaFilteredReasons` when the output was filtered,
         or an `error` {"code", "message"} (google.rpc.Status)

Requests need `x-goog-api-key`. Refuses (from Google's Veo documentation; the SDK's types take
any value) unknown models (404), durations other than 4 / 6 / 8, aspect ratios other than 16:9 /
9:16, resolutions other than 720p / 1080p, with Google's error body
`{"error": {"code", "message", "status", "details"}}`.

Knobs: prompt "[fail]": the operation ends with an error; "[reject]": the output is filtered;
"[stall]": it never finishes. `fail(route, *statuses)` (route: create, fetch; 429 is
RESOURCE_EXHAUSTED with a RetryInfo `retryDelay` of `retry_delay` seconds); `billing_disabled =
True`: 403 PERMISSION_DENIED with ErrorInfo reason BILLING_DISABLED; `forget(name)`: gone (404).
"""

from __future__ import annotations

import base64
import json
import re
import threading
import uuid
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from .server import FakeHandler, FakeServer
from .video_common import RecordedRequest, render_clip

ROUTES = ("create", "fetch")
MODELS = ("veo-3.1-generate-001", "veo-3.1-fast-generate-001", "veo-3.0-generate-001", "veo-3.0-fast-generate-001")
PROJECT = "fake-project"
_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
           429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}
_MODEL_PATH = re.compile(r"^/v1/(?:projects/[^/]+/locations/[^/]+/)?publishers/google/models/(?P<model>[^/:]+)"
                         r":(?P<verb>predictLongRunning|fetchPredictOperation)$")
_RESOLUTIONS = {"720p": {"16:9": "1280x720", "9:16": "720x1280"}, "1080p": {"16:9": "1920x1080", "9:16": "1080x1920"}}


class ApiError(Exception):
    def __init__(self, status: int, message: str, details: list | None = None) -> None:
        super().__init__(message)
        self.status, self.details = status, details or []

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.status, "message": str(self), "status": _STATUS.get(self.status, "UNKNOWN"),
                          **({"details": self.details} if self.details else {})}}


@dataclass
class FakeOperation:
    name: str
    model: str
    prompt: str
    size: str
    seconds: str
    image: bytes | None = None
    polls: int = 0
    done: bool = False
    content: bytes | None = None
    gone: bool = False

    @property
    def input_reference(self) -> tuple[str, str, bytes] | None:
        return ("image", "image/jpeg", self.image) if self.image else None

    @property
    def id(self) -> str:
        return self.name.rsplit("/", 1)[1]


class FakeVeoAPI:
    def __init__(self, *, api_key: str = "veo-key", polls_to_finish: int = 2, fps: int = 12) -> None:
        self.api_key = api_key
        self.polls_to_finish = polls_to_finish
        self.fps = fps
        self.operations: dict[str, FakeOperation] = {}
        self.requests: list[RecordedRequest] = []
        self.failures: dict[str, list[int]] = {route: [] for route in ROUTES}
        self.retry_delay = 3
        self.billing_disabled = False
        self.lock = threading.Lock()
        self.http = FakeServer(_handler_for(self), name="fake-veo-api")

    @property
    def url(self) -> str:
        return self.http.url

    @property
    def creates(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.accepted]

    def fail(self, route: str, *statuses: int) -> None:
        with self.lock:
            self.failures[route].extend(statuses)

    def forget(self, name: str) -> None:
        with self.lock:
            self.operations[name].gone = True

    def __enter__(self) -> "FakeVeoAPI":
        self.http.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.stop()

    def injected(self, route: str) -> None:
        with self.lock:
            status = self.failures[route].pop(0) if self.failures[route] else None
        if status == 429:
            raise ApiError(429, "Quota exceeded for aiplatform.googleapis.com/online_prediction_requests_per_base_model.",
                           [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{self.retry_delay}s"}])
        if status is not None:
            raise ApiError(status, f"Injected failure: {HTTPStatus(status).phrase}.")

    def create(self, model: str, body: Any) -> FakeOperation:
        if self.billing_disabled:
            raise ApiError(403, "This API method requires billing to be enabled.", [
                {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "BILLING_DISABLED",
                 "domain": "googleapis.com"}])
        if model not in MODELS:
            raise ApiError(404, f"Publisher Model `publishers/google/models/{model}` was not found or your project "
                                "does not have access to it.")
        instances = body.get("instances") if isinstance(body, dict) else None
        if not isinstance(instances, list) or len(instances) != 1 or not isinstance(instances[0], dict):
            raise ApiError(400, "Exactly one instance is required.")
        instance, params = instances[0], body.get("parameters") or {}
        prompt = str(instance.get("prompt") or "")
        image = None
        if "image" in instance:
            try:
                image = base64.b64decode(instance["image"]["bytesBase64Encoded"], validate=True)
            except (KeyError, TypeError, ValueError):
                raise ApiError(400, "Image must have bytesBase64Encoded or gcsUri.") from None
        if not prompt and image is None:
            raise ApiError(400, "A prompt or an image is required.")
        duration = params.get("durationSeconds", 8)
        if duration not in (4, 6, 8):
            raise ApiError(400, f"Unsupported output video duration {duration} seconds, supported durations are "
                                "[8,6,4] for feature text_to_video.")
        ratio = params.get("aspectRatio", "16:9")
        resolution = params.get("resolution", "720p")
        if ratio not in ("16:9", "9:16"):
            raise ApiError(400, f"Aspect ratio {ratio} is not supported; supported: 16:9, 9:16.")
        if resolution not in _RESOLUTIONS:
            raise ApiError(400, f"Resolution {resolution} is not supported; supported: 720p, 1080p.")
        if not 1 <= int(params.get("sampleCount", 1)) <= 4:
            raise ApiError(400, "sampleCount must be between 1 and 4.")
        name = (f"projects/{PROJECT}/locations/us-central1/publishers/google/models/{model}/operations/"
                f"{uuid.uuid4()}")
        op = FakeOperation(name=name, model=model, prompt=prompt, size=_RESOLUTIONS[resolution][ratio],
                           seconds=str(duration), image=image)
        with self.lock:
            self.operations[name] = op
        return op

    def fetch(self, model: str, body: Any) -> dict[str, Any]:
        name = body.get("operationName") if isinstance(body, dict) else None
        with self.lock:
            op = self.operations.get(name)
        if op is None or op.gone or op.model != model:
            raise ApiError(404, f"Operation {name} not found.")
        with self.lock:
            op.polls += 1
            if op.polls >= self.polls_to_finish and "[stall]" not in op.prompt and not op.done:
                op.done = True
                if "[fail]" not in op.prompt and "[reject]" not in op.prompt:
                    op.content = render_clip(op, self.fps)
        result: dict[str, Any] = {"name": op.name}
        if not op.done:
            return result
        result["done"] = True
        if "[fail]" in op.prompt:
            result["error"] = {"code": 13, "message": "Video generation failed due to an internal error."}
        elif "[reject]" in op.prompt:
            result["response"] = {"@type": "type.googleapis.com/cloud.ai.large_models.vision.GenerateVideoResponse",
                                  "raiMediaFilteredCount": 1,
                                  "raiMediaFilteredReasons": ["The prompt could not be submitted: it violates the "
                                                              "usage guidelines (support code 58061214)."]}
        else:
            result["response"] = {"@type": "type.googleapis.com/cloud.ai.large_models.vision.GenerateVideoResponse",
                                  "videos": [{"bytesBase64Encoded": base64.b64encode(op.content).decode(),
                                              "mimeType": "video/mp4"}]}
        return result


def _handler_for(api: FakeVeoAPI) -> type[FakeHandler]:
    class Handler(FakeHandler):
        def _serve(self) -> None:
            body = self.read_body()
            recorded = RecordedRequest(method=self.command, path=self.path.split("?")[0], query={},
                                       headers=dict(self.headers.items()), body=body)
            try:
                recorded.json = json.loads(body) if body else None
            except ValueError:
                recorded.json = None
            with api.lock:
                api.requests.append(recorded)
            try:
                if recorded.header("x-goog-api-key") != api.api_key:
                    raise ApiError(401, "API key not valid. Please pass a valid API key.")
                match = _MODEL_PATH.match(recorded.path)
                if self.command != "POST" or not match:
                    raise ApiError(404, f"The requested URL {recorded.path} was not found on this server.")
                if match["verb"] == "predictLongRunning":
                    api.injected("create")
                    op = api.create(match["model"], recorded.json)
                    recorded.accepted = True
                    return self.send_json(200, {"name": op.name})
                api.injected("fetch")
                return self.send_json(200, api.fetch(match["model"], recorded.json))
            except ApiError as exc:
                self.send_json(exc.status, exc.body())

        do_GET = do_POST = _serve  # noqa: N815

    return Handler
