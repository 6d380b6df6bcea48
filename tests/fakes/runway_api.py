"""A stateful fake of Runway's API (`api.dev.runwayml.com`), faithful to what the official
`runwayml` SDK sends and parses (tests/test_fake_runway_api_contract.py drives it with the SDK).

    POST   /v1/text_to_video     JSON {model, promptText, ratio, duration, seed?} -> {id, estimatedCost}
    POST   /v1/image_to_video    JSON {model, promptImage (https URL or data URI), promptText?, ratio, duration}
    GET    /v1/tasks/{id}        PENDING -> RUNNING (progress 0..1) -> SUCCEEDED {output: [url]} | FAILED
    DELETE /v1/tasks/{id}        cancel / delete: 204
    GET    /assets/{id}.mp4?exp= the output: a signed URL that stops working at `exp` (403)

Requests to /v1 need `Authorization: Bearer <key>` and `X-Runway-Version: 2024-11-06` (the SDK's
default). Refuses what the SDK's types document: models other than gen4.5 (and gen4_turbo for
image_to_video), ratios other than the model's, durations outside 2-10 s, an empty prompt or one
over 1000 characters. Errors are `{"error": "<message>"}` (with `issues` for validation), as
Runway documents them.

Knobs: prompt "[fail]": the task ends FAILED (failureCode INTERNAL.BAD_OUTPUT); "[reject]": FAILED
with SAFETY.INPUT.TEXT; "[stall]": it stays RUNNING. `fail(route, *statuses)` (route: create, retrieve,
delete, asset; 429 carries Retry-After); `credits_exhausted = True`: creates answer 400 "You do not
have enough credits"; `url_ttl`: seconds an output URL works; `forget(id)`: the task is gone (404).
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .server import FakeHandler, FakeServer
from .video_common import RecordedRequest, render_clip

ROUTES = ("create", "retrieve", "delete", "asset")
VERSION = "2024-11-06"
TEXT_RATIOS = {"gen4.5": ("1280:720", "720:1280")}
IMAGE_RATIOS = {"gen4.5": ("1280:720", "720:1280", "1104:832", "960:960", "832:1104", "1584:672"),
                "gen4_turbo": ("1280:720", "720:1280", "1104:832", "832:1104", "960:960", "1584:672")}
_TASK = re.compile(r"^/v1/tasks/(?P<id>[0-9a-f-]{36})$")
_ASSET = re.compile(r"^/assets/(?P<id>[0-9a-f-]{36})\.mp4$")


class ApiError(Exception):
    def __init__(self, status: int, message: str, *, issues: list | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.issues, self.headers = status, issues, headers

    def body(self) -> dict[str, Any]:
        return {"error": str(self), **({"issues": self.issues} if self.issues else {})}


@dataclass
class FakeTask:
    id: str
    kind: str  # "text_to_video" | "image_to_video"
    model: str
    prompt: str
    ratio: str
    duration: int
    prompt_image: bytes | None = None
    status: str = "PENDING"
    progress: float = 0.0
    failure: tuple[str, str] | None = None
    created_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"))
    content: bytes | None = None
    deleted: bool = False

    # render_clip reads these
    @property
    def size(self) -> str:
        return self.ratio.replace(":", "x")

    @property
    def seconds(self) -> str:
        return str(self.duration)

    @property
    def input_reference(self) -> tuple[str, str, bytes] | None:
        return ("image", "image/jpeg", self.prompt_image) if self.prompt_image else None


class FakeRunwayAPI:
    def __init__(self, *, api_key: str = "key_test", progress_step: float = 0.5, fps: int = 12,
                 url_ttl: int = 3600) -> None:
        self.api_key = api_key
        self.progress_step = progress_step
        self.fps = fps
        self.url_ttl = url_ttl
        self.tasks: dict[str, FakeTask] = {}
        self.requests: list[RecordedRequest] = []
        self.failures: dict[str, list[int]] = {route: [] for route in ROUTES}
        self.retry_after = 2
        self.credits_exhausted = False
        self.lock = threading.Lock()
        self.http = FakeServer(_handler_for(self), name="fake-runway-api")

    @property
    def url(self) -> str:
        return self.http.url

    @property
    def creates(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.accepted]

    def fail(self, route: str, *statuses: int) -> None:
        with self.lock:
            self.failures[route].extend(statuses)

    def forget(self, task_id: str) -> None:
        with self.lock:
            self.tasks[task_id].deleted = True

    def requests_to(self, method: str, path: str | None = None) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method and (path is None or r.path == path)]

    def __enter__(self) -> "FakeRunwayAPI":
        self.http.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.stop()

    def injected(self, route: str) -> None:
        with self.lock:
            status = self.failures[route].pop(0) if self.failures[route] else None
        if status is not None:
            headers = {"Retry-After": str(self.retry_after)} if status == 429 else None
            raise ApiError(status, f"Injected failure: {HTTPStatus(status).phrase}.", headers=headers)

    def create(self, kind: str, body: Any) -> FakeTask:
        if not isinstance(body, dict):
            raise ApiError(400, "Invalid request body.")
        if self.credits_exhausted:
            raise ApiError(400, "You do not have enough credits to run this task.")
        ratios = (TEXT_RATIOS if kind == "text_to_video" else IMAGE_RATIOS).get(body.get("model"))
        issues = []
        if ratios is None:
            issues.append({"path": ["model"], "message": f"Invalid model {body.get('model')!r} for {kind}."})
        elif body.get("ratio") not in ratios:
            issues.append({"path": ["ratio"], "message": f"Invalid enum value. Expected {' | '.join(ratios)}."})
        duration = body.get("duration")
        if not isinstance(duration, int) or isinstance(duration, bool) or not 2 <= duration <= 10:
            issues.append({"path": ["duration"], "message": "Number must be an integer from 2 to 10."})
        prompt = body.get("promptText")
        if kind == "text_to_video" and not prompt or prompt is not None and not 1 <= len(str(prompt)) <= 1000:
            issues.append({"path": ["promptText"], "message": "String must contain 1 to 1000 character(s)."})
        image = None
        if kind == "image_to_video":
            image = _image(body.get("promptImage"), issues)
        if issues:
            raise ApiError(400, "Validation of body failed", issues=issues)
        task = FakeTask(id=str(uuid.uuid4()), kind=kind, model=body["model"], prompt=str(prompt or ""),
                        ratio=body["ratio"], duration=duration, prompt_image=image)
        with self.lock:
            self.tasks[task.id] = task
        return task

    def advance(self, task: FakeTask) -> None:
        if task.status not in ("PENDING", "RUNNING"):
            return
        if "[fail]" in task.prompt or "[reject]" in task.prompt:
            task.status = "FAILED"
            task.failure = (("SAFETY.INPUT.TEXT", "The prompt did not pass moderation.") if "[reject]" in task.prompt
                            else ("INTERNAL.BAD_OUTPUT", "An unexpected error occurred."))
            return
        task.status = "RUNNING"
        task.progress = min(1.0, task.progress + self.progress_step)
        if "[stall]" in task.prompt:
            task.progress = min(task.progress, 0.9)
        elif task.progress >= 1.0:
            task.content = render_clip(task, self.fps)
            task.status = "SUCCEEDED"

    def as_json(self, task: FakeTask) -> dict[str, Any]:
        body: dict[str, Any] = {"id": task.id, "createdAt": task.created_at, "status": task.status}
        credits = 12 * task.duration
        if task.status in ("PENDING", "THROTTLED", "RUNNING"):
            body["estimatedCost"] = {"credits": credits}
        if task.status == "RUNNING":
            body["progress"] = task.progress
        if task.status == "FAILED":
            body.update(failureCode=task.failure[0], failure=task.failure[1], cost={"credits": 0})
        if task.status == "SUCCEEDED":
            expires = int(time.time()) + self.url_ttl
            body.update(cost={"credits": credits},
                        output=[f"{self.url}/assets/{task.id}.mp4?exp={expires}&sig={secrets.token_hex(8)}"])
        return body


def _image(value: Any, issues: list) -> bytes | None:
    if isinstance(value, str) and value.startswith("data:image/"):
        try:
            return base64.b64decode(value.split(",", 1)[1], validate=True)
        except (IndexError, ValueError):
            pass
    elif isinstance(value, str) and value.startswith("https://"):
        return None
    issues.append({"path": ["promptImage"], "message": "Expected an HTTPS URL, a Runway URI or a data URI."})
    return None


def _handler_for(api: FakeRunwayAPI) -> type[FakeHandler]:
    class Handler(FakeHandler):
        def _serve(self) -> None:
            parts = urlsplit(self.path)
            body = self.read_body()
            recorded = RecordedRequest(method=self.command, path=parts.path, query=parse_qs(parts.query),
                                       headers=dict(self.headers.items()), body=body)
            if body and self.headers.get("Content-Type", "").startswith("application/json"):
                try:
                    recorded.json = json.loads(body)
                except ValueError:
                    recorded.json = None
            with api.lock:
                api.requests.append(recorded)
            try:
                self._route(recorded)
            except ApiError as exc:
                self.send_json(exc.status, exc.body(), headers=exc.headers)

        def _route(self, recorded: RecordedRequest) -> None:
            method, path = recorded.method, recorded.path
            if (asset := _ASSET.match(path)) and method == "GET":
                api.injected("asset")
                task = api.tasks.get(asset["id"])
                exp = (recorded.query.get("exp") or ["0"])[0]
                if task is None or task.content is None or not exp.isdigit() or int(exp) <= time.time():
                    # What a CDN's expired signed URL answers: no JSON, just a refusal.
                    return self.send_body(403, b"Request has expired", content_type="text/plain")
                return self.send_body(200, task.content, content_type="video/mp4")
            if recorded.header("Authorization") != f"Bearer {api.api_key}":
                raise ApiError(401, "Invalid API key.")
            if recorded.header("X-Runway-Version") != VERSION:
                raise ApiError(400, "The X-Runway-Version header is missing or invalid.")
            if method == "POST" and path in ("/v1/text_to_video", "/v1/image_to_video"):
                api.injected("create")
                task = api.create(path.rsplit("/", 1)[1], recorded.json)
                recorded.accepted = True
                return self.send_json(200, {"id": task.id, "estimatedCost": {"credits": 12 * task.duration}})
            match = _TASK.match(path)
            task = api.tasks.get(match["id"]) if match else None
            if task is None or task.deleted:
                raise ApiError(404, "Task not found.")
            if method == "GET":
                api.injected("retrieve")
                with api.lock:
                    api.advance(task)
                    payload = api.as_json(task)
                return self.send_json(200, payload)
            if method == "DELETE":
                api.injected("delete")
                task.deleted = True
                self.send_response(204)
                self.send_header("Content-Length", "0")
                return self.end_headers()
            raise ApiError(405, "Method not allowed.")

        do_GET = do_POST = do_DELETE = _serve  # noqa: N815

    return Handler
