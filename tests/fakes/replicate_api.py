"""A stateful fake of Replicate's predictions API, faithful to what the official `replicate` SDK
sends and parses (tests/test_fake_replicate_api_contract.py drives it with the SDK).

    POST /v1/models/{owner}/{name}/predictions  {"input": {...}}  -> 201 prediction (status "starting")
    GET  /v1/predictions/{id}                    starting -> processing (logs with a percentage)
                                                 -> succeeded (output: a file URL) | failed (error)
    POST /v1/predictions/{id}/cancel             -> the prediction, status "canceled"
    GET  /files/{id}.mp4                         the output; gone (404) `output_ttl` seconds after
                                                 completion (Replicate deletes API outputs after an hour)

Requests to /v1 need `Authorization: Bearer <token>`. Models: wan-video/wan-2.5-t2v(-fast), with
the inputs of their model pages (not verifiable here): `prompt` (required), `size` "1280*720" |
"720*1280" | "1920*1080" | "1080*1920" | "832*480" | "480*832", `duration` 5 | 10, `seed`,
`negative_prompt`, `image` (a URL or data URI: image-to-video). Refusals are 422 problem details
(`{"title", "detail", "status"}`), unknown models 404, a spend limit reached 402.

Knobs: prompt "[fail]": the prediction fails; "[reject]": fails with an NSFW error; "[stall]": it
keeps processing. `fail(route, *statuses)` (route: create, get, cancel, file; 429 has
Retry-After); `spend_limit_reached = True`; `output_ttl`.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from http import HTTPStatus
from typing import Any

from .server import FakeHandler, FakeServer
from .video_common import RecordedRequest, render_clip

ROUTES = ("create", "get", "cancel", "file")
MODELS = ("wan-video/wan-2.5-t2v", "wan-video/wan-2.5-t2v-fast")
SIZES = ("1280*720", "720*1280", "1920*1080", "1080*1920", "832*480", "480*832")
_CREATE = re.compile(r"^/v1/models/(?P<model>[^/]+/[^/]+)/predictions$")
_PREDICTION = re.compile(r"^/v1/predictions/(?P<id>[a-z0-9]+)(?P<cancel>/cancel)?$")
_FILE = re.compile(r"^/files/(?P<id>[a-z0-9]+)\.mp4$")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


class ApiError(Exception):
    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.headers = status, headers

    def body(self) -> dict[str, Any]:
        return {"title": HTTPStatus(self.status).phrase, "detail": str(self), "status": self.status}


@dataclass
class FakePrediction:
    id: str
    model: str
    input: dict[str, Any]
    status: str = "starting"
    polls: int = 0
    created_at: str = ""
    completed_at: str | None = None
    completed: float | None = None
    error: str | None = None
    content: bytes | None = None

    @property
    def prompt(self) -> str:
        return str(self.input.get("prompt") or "")

    @property
    def size(self) -> str:
        return str(self.input.get("size", "1280*720")).replace("*", "x")

    @property
    def seconds(self) -> str:
        return str(self.input.get("duration", 5))

    @property
    def input_reference(self) -> tuple[str, str, bytes] | None:
        image = self.input.get("image")
        if isinstance(image, str) and image.startswith("data:"):
            return ("image", "image/jpeg", base64.b64decode(image.split(",", 1)[1]))
        return None


class FakeReplicateAPI:
    def __init__(self, *, token: str = "r8_test", polls_to_finish: int = 2, fps: int = 12,
                 output_ttl: int = 3600) -> None:
        self.token = token
        self.polls_to_finish = polls_to_finish
        self.fps = fps
        self.output_ttl = output_ttl
        self.predictions: dict[str, FakePrediction] = {}
        self.requests: list[RecordedRequest] = []
        self.failures: dict[str, list[int]] = {route: [] for route in ROUTES}
        self.retry_after = 4
        self.spend_limit_reached = False
        self.lock = threading.Lock()
        self.http = FakeServer(_handler_for(self), name="fake-replicate-api")

    @property
    def url(self) -> str:
        return self.http.url

    @property
    def creates(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.accepted]

    def requests_to_get(self, prediction_id: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "GET" and r.path == f"/v1/predictions/{prediction_id}"]

    def fail(self, route: str, *statuses: int) -> None:
        with self.lock:
            self.failures[route].extend(statuses)

    def __enter__(self) -> "FakeReplicateAPI":
        self.http.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.stop()

    def injected(self, route: str) -> None:
        with self.lock:
            status = self.failures[route].pop(0) if self.failures[route] else None
        if status is not None:
            headers = {"Retry-After": str(self.retry_after)} if status == 429 else None
            raise ApiError(status, f"Injected failure: {HTTPStatus(status).phrase}.", headers)

    def create(self, model: str, body: Any) -> FakePrediction:
        if self.spend_limit_reached:
            raise ApiError(402, "You have reached your monthly spend limit. Raise it in your billing settings.")
        if model not in MODELS:
            raise ApiError(404, f"The model {model} does not exist or you do not have access to it.")
        inputs = body.get("input") if isinstance(body, dict) else None
        if not isinstance(inputs, dict):
            raise ApiError(422, "input is required")
        problems = []
        if not inputs.get("prompt"):
            problems.append("prompt is required")
        if inputs.get("size", "1280*720") not in SIZES:
            problems.append(f"size must be one of the following: {', '.join(SIZES)}")
        if inputs.get("duration", 5) not in (5, 10):
            problems.append("duration must be one of the following: 5, 10")
        image = inputs.get("image")
        if image is not None and not (isinstance(image, str) and image.startswith(("https://", "data:image/"))):
            problems.append("image: Does not match format 'uri'")
        if problems:
            raise ApiError(422, "- input: " + "\n- input: ".join(problems))
        prediction = FakePrediction(id=secrets.token_hex(13)[:26], model=model, input=inputs, created_at=_now())
        with self.lock:
            self.predictions[prediction.id] = prediction
        return prediction

    def advance(self, p: FakePrediction) -> None:
        if p.status not in ("starting", "processing"):
            return
        p.polls += 1
        p.status = "processing"
        if p.polls < self.polls_to_finish or "[stall]" in p.prompt:
            return
        if "[fail]" in p.prompt or "[reject]" in p.prompt:
            p.status = "failed"
            p.error = ("NSFW content detected. Try running it again, or try a different prompt."
                       if "[reject]" in p.prompt else "CUDA out of memory.")
        else:
            p.content = render_clip(p, self.fps)
            p.status = "succeeded"
        p.completed, p.completed_at = time.time(), _now()

    def as_json(self, p: FakePrediction) -> dict[str, Any]:
        base = f"{self.url}/v1/predictions/{p.id}"
        percent = min(100, int(100 * p.polls / self.polls_to_finish))
        return {"id": p.id, "model": p.model, "version": "hidden", "input": p.input, "status": p.status,
                "logs": f"{percent}%|{'#' * (percent // 10)}| {p.polls}/{self.polls_to_finish}" if p.polls else "",
                "output": f"{self.url}/files/{p.id}.mp4" if p.status == "succeeded" else None,
                "error": p.error, "created_at": p.created_at, "started_at": p.created_at if p.polls else None,
                "completed_at": p.completed_at, "data_removed": False,
                "metrics": {"predict_time": 1.5} if p.completed_at else {},
                "urls": {"get": base, "cancel": f"{base}/cancel", "web": f"https://replicate.com/p/{p.id}"}}


def _handler_for(api: FakeReplicateAPI) -> type[FakeHandler]:
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
                self._route(recorded)
            except ApiError as exc:
                self.send_json(exc.status, exc.body(), content_type="application/problem+json", headers=exc.headers)

        def _route(self, recorded: RecordedRequest) -> None:
            method, path = recorded.method, recorded.path
            if (file := _FILE.match(path)) and method == "GET":
                api.injected("file")
                p = api.predictions.get(file["id"])
                if p is None or p.content is None or time.time() > (p.completed or 0) + api.output_ttl:
                    return self.send_body(404, b"Not Found", content_type="text/plain")
                return self.send_body(200, p.content, content_type="video/mp4")
            if recorded.header("Authorization") != f"Bearer {api.token}":
                raise ApiError(401, "You did not pass a valid authentication token")
            if (create := _CREATE.match(path)) and method == "POST":
                api.injected("create")
                p = api.create(create["model"], recorded.json)
                recorded.accepted = True
                return self.send_json(201, api.as_json(p))
            match = _PREDICTION.match(path)
            p = api.predictions.get(match["id"]) if match else None
            if p is None:
                raise ApiError(404, "Not found.")
            if match["cancel"] and method == "POST":
                api.injected("cancel")
                with api.lock:
                    if p.status in ("starting", "processing"):
                        p.status, p.completed_at = "canceled", _now()
                return self.send_json(200, api.as_json(p))
            if method == "GET" and not match["cancel"]:
                api.injected("get")
                with api.lock:
                    api.advance(p)
                    payload = api.as_json(p)
                return self.send_json(200, payload)
            raise ApiError(405, "Method not allowed.")

        do_GET = do_POST = _serve  # noqa: N815

    return Handler
