"""A stateful fake of OpenAI's Videos API (`/v1/videos`), faithful to what the official `openai`
SDK sends and parses (tests/test_fake_video_api_contract.py drives it with the SDK).

Speaks real HTTP on 127.0.0.1 (a free port by default):

    POST   /v1/videos                  multipart (what the SDK sends) or JSON: prompt, model, seconds,
                                       size, input_reference (an image of exactly `size`)
    POST   /v1/videos/{id}/remix       JSON {prompt}: a new video from a completed one
    GET    /v1/videos                  list: after, limit (1-100), order (asc|desc)
    GET    /v1/videos/{id}             advances the job by `progress_step` per call
    GET    /v1/videos/{id}/content     variant=video (MP4) | thumbnail (WebP) | spritesheet (JPEG)
    DELETE /v1/videos/{id}

Refuses what the SDK's types say the API refuses: models other than sora-2 / sora-2-pro (and
their dated snapshots), seconds other than "4" / "8" / "12", sizes other than 720x1280 and
1280x720 (sora-2-pro also 1024x1792 and 1792x1024), with OpenAI's error body
`{"error": {"message", "type", "param", "code"}}`. Requests need `Authorization: Bearer <key>`.
There is no Idempotency-Key deduplication: nothing documents one, so clients must not rely on it.

Knobs: prompt "[reject]": create answers 400 `moderation_blocked`; "[fail]": the job ends
`failed`; "[flagged]": failed with `moderation_blocked`; "[stall]": it never completes.
`fail(route, *statuses)` queues error answers (route: create, remix, retrieve, list, content,
delete; 429 carries `retry_after` as Retry-After and retry-after-ms); `quota_exhausted = True`:
every create answers 429 `insufficient_quota`; `expires_in`: seconds a finished video's content
is kept; `expire(id)`: its content is gone now; `response_delay`, `truncate_content`.

Manual use / benchmarks: `python -m tests.fakes.video_api --port 8765 --api-key sk-test`.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .server import FakeHandler, FakeServer
from .video_common import RecordedRequest, parse_multipart, placeholder_image, render_clip

ROUTES = ("create", "remix", "retrieve", "list", "content", "delete")
MODELS = {"sora-2": ("720x1280", "1280x720"),
          "sora-2-pro": ("720x1280", "1280x720", "1024x1792", "1792x1024")}
SNAPSHOTS = {"sora-2-2025-10-06": "sora-2", "sora-2-2025-12-08": "sora-2", "sora-2-pro-2025-10-06": "sora-2-pro"}
SECONDS = ("4", "8", "12")
VARIANTS = {"video": "video/mp4", "thumbnail": "image/webp", "spritesheet": "image/jpeg"}
_VIDEO_PATH = re.compile(r"^/v1/videos/(?P<id>[A-Za-z0-9_-]+)(?P<tail>/content|/remix)?$")
_ERROR_TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 404: "invalid_request_error",
                429: "rate_limit_error"}


class ApiError(Exception):
    def __init__(self, status: int, message: str, *, code: str | None = None, param: str | None = None,
                 error_type: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.param, self.headers = status, code, param, headers
        self.error_type = error_type or _ERROR_TYPES.get(status, "server_error")

    def body(self) -> dict[str, Any]:
        return {"error": {"message": str(self), "type": self.error_type, "param": self.param, "code": self.code}}


@dataclass
class FakeJob:
    id: str
    model: str
    prompt: str
    seconds: str
    size: str
    input_reference: tuple[str, str, bytes] | None = None
    remixed_from_video_id: str | None = None
    status: str = "queued"
    progress: int = 0
    error: dict[str, str] | None = None
    created_at: int = field(default_factory=lambda: int(time.time()))
    completed_at: int | None = None
    expires_at: int | None = None
    deleted: bool = False
    content: bytes | None = None

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "object": "video", "model": self.model, "status": self.status,
                "progress": self.progress, "created_at": self.created_at, "completed_at": self.completed_at,
                "expires_at": self.expires_at, "prompt": self.prompt, "seconds": self.seconds, "size": self.size,
                "remixed_from_video_id": self.remixed_from_video_id, "error": self.error}


class FakeVideoAPI:
    """The server; a context manager (or start()/stop()). State is guarded by one lock."""

    def __init__(self, *, api_key: str = "sk-test", host: str = "127.0.0.1", port: int = 0,
                 progress_step: int = 50, fps: int = 12, expires_in: int = 3600) -> None:
        self.api_key = api_key
        self.progress_step = progress_step
        self.fps = fps  # deliberately not the app's fps, so clients must retime
        self.expires_in = expires_in
        self.jobs: dict[str, FakeJob] = {}
        self.requests: list[RecordedRequest] = []
        self.failures: dict[str, list[int]] = {route: [] for route in ROUTES}
        self.retry_after = 1.5
        self.quota_exhausted = False
        self.response_delay = 0.0
        self.truncate_content = False
        self.lock = threading.Lock()
        self.http = FakeServer(_handler_for(self), name="fake-video-api", host=host, port=port)

    @property
    def url(self) -> str:
        return self.http.url

    def fail(self, route: str, *statuses: int) -> None:
        if route not in ROUTES:
            raise ValueError(f"route must be one of {ROUTES}")
        with self.lock:
            self.failures[route].extend(statuses)

    def expire(self, video_id: str) -> None:
        with self.lock:
            self.jobs[video_id].expires_at = int(time.time()) - 1

    def requests_to(self, method: str, path: str | None = None) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method and (path is None or r.path == path)]

    @property
    def creates(self) -> list[RecordedRequest]:
        """Every render we would have paid for: creates and remixes that were accepted."""
        return [r for r in self.requests if r.method == "POST" and getattr(r, "accepted", False)]

    def start(self) -> "FakeVideoAPI":
        self.http.start()
        return self

    def stop(self) -> None:
        self.http.stop()

    def __enter__(self) -> "FakeVideoAPI":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- behaviour (handler threads; each takes the lock) ------------------------------

    def injected(self, route: str) -> None:
        with self.lock:
            status = self.failures[route].pop(0) if self.failures[route] else None
        if status is None:
            return
        headers = None
        if status == 429:
            headers = {"Retry-After": str(max(1, round(self.retry_after))),
                       "retry-after-ms": str(int(self.retry_after * 1000))}
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Error"
        raise ApiError(status, f"Injected failure: {phrase}.", headers=headers)

    def create(self, fields: dict[str, Any], files: dict[str, tuple[str, str, bytes]]) -> FakeJob:
        if self.quota_exhausted:
            raise ApiError(429, "You exceeded your current quota, please check your plan and billing details.",
                           code="insufficient_quota", error_type="insufficient_quota")
        prompt = str(fields.get("prompt") or "")
        if not prompt:
            raise ApiError(400, "Missing required parameter: 'prompt'.", code="missing_required_parameter",
                           param="prompt")
        model = str(fields.get("model") or "sora-2")
        family = SNAPSHOTS.get(model, model)
        if family not in MODELS:
            raise ApiError(400, f"Invalid value: '{model}'. Supported values are: 'sora-2' and 'sora-2-pro'.",
                           code="invalid_value", param="model")
        seconds = str(fields.get("seconds") or "4")
        if seconds not in SECONDS:
            raise ApiError(400, f"Invalid value: '{seconds}'. Supported values are: '4', '8', and '12'.",
                           code="invalid_value", param="seconds")
        size = str(fields.get("size") or "720x1280")
        if size not in MODELS[family]:
            supported = ", ".join(f"'{s}'" for s in MODELS[family])
            raise ApiError(400, f"Invalid value: '{size}'. Supported values are: {supported}.",
                           code="invalid_value", param="size")
        reference = files.get("input_reference")
        if reference is not None:
            _check_reference(reference, size)
        if "[reject]" in prompt:
            raise ApiError(400, "Your request was blocked by our moderation system.", code="moderation_blocked")
        return self._add(FakeJob(id=_new_id(), model=model, prompt=prompt, seconds=seconds, size=size,
                                 input_reference=reference))

    def remix(self, source: FakeJob, body: Any) -> FakeJob:
        prompt = str(body.get("prompt") or "") if isinstance(body, dict) else ""
        if not prompt:
            raise ApiError(400, "Missing required parameter: 'prompt'.", code="missing_required_parameter",
                           param="prompt")
        if source.status != "completed":
            raise ApiError(400, f"Video {source.id} is not completed; only a completed video can be remixed.",
                           code="invalid_value", param="video_id")
        if "[reject]" in prompt:
            raise ApiError(400, "Your request was blocked by our moderation system.", code="moderation_blocked")
        return self._add(FakeJob(id=_new_id(), model=source.model, prompt=prompt, seconds=source.seconds,
                                 size=source.size, remixed_from_video_id=source.id))

    def _add(self, job: FakeJob) -> FakeJob:
        with self.lock:
            self.jobs[job.id] = job
        return job

    def advance(self, job: FakeJob) -> None:
        if job.status not in ("queued", "in_progress"):
            return
        if "[fail]" in job.prompt or "[flagged]" in job.prompt:
            job.status, job.progress = "failed", 0
            job.error = ({"code": "moderation_blocked", "message": "The generated video was flagged by moderation."}
                         if "[flagged]" in job.prompt else
                         {"code": "video_generation_failed", "message": "The model could not render this prompt."})
            return
        job.status = "in_progress"
        job.progress = min(100, job.progress + self.progress_step)
        if "[stall]" in job.prompt:
            job.progress = min(job.progress, 90)
        elif job.progress >= 100:
            job.content = render_clip(job, self.fps)
            job.status, job.completed_at = "completed", int(time.time())
            job.expires_at = job.completed_at + self.expires_in

    def page(self, query: dict[str, list[str]]) -> dict[str, Any]:
        order = (query.get("order") or ["desc"])[0]
        limit_raw = (query.get("limit") or ["20"])[0]
        if order not in ("asc", "desc"):
            raise ApiError(400, f"Invalid value: '{order}'. Supported values are: 'asc' and 'desc'.",
                           code="invalid_value", param="order")
        if not limit_raw.isdigit() or not 1 <= int(limit_raw) <= 100:
            raise ApiError(400, "Invalid 'limit': expected an integer between 1 and 100.", code="invalid_value",
                           param="limit")
        with self.lock:
            # Creation order is insertion order (created_at ties within a second).
            jobs = [j for j in self.jobs.values() if not j.deleted]
        if order == "desc":
            jobs.reverse()
        after = (query.get("after") or [None])[0]
        if after:
            ids = [j.id for j in jobs]
            jobs = jobs[ids.index(after) + 1:] if after in ids else []
        page = jobs[: int(limit_raw)]
        return {"object": "list", "data": [j.as_json() for j in page], "first_id": page[0].id if page else None,
                "last_id": page[-1].id if page else None, "has_more": len(jobs) > len(page)}

    def content(self, job: FakeJob, query: dict[str, list[str]]) -> tuple[bytes, str]:
        variant = (query.get("variant") or ["video"])[0]
        if variant not in VARIANTS:
            raise ApiError(400, f"Invalid value: '{variant}'. Supported values are: 'video', 'thumbnail', "
                                "and 'spritesheet'.", code="invalid_value", param="variant")
        if job.status != "completed" or job.content is None:
            raise ApiError(400, f"Video {job.id} is not ready yet.", code="video_not_ready")
        if job.expires_at is not None and job.expires_at <= time.time():
            raise ApiError(404, f"The content of video {job.id} has expired.", code="video_expired")
        if variant == "video":
            return job.content, VARIANTS[variant]
        return placeholder_image(job, "WEBP" if variant == "thumbnail" else "JPEG"), VARIANTS[variant]


def _new_id() -> str:
    return f"video_{secrets.token_hex(12)}"


def _check_reference(reference: tuple[str, str, bytes], size: str) -> None:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(reference[2])) as img:
            actual = f"{img.width}x{img.height}"
    except (UnidentifiedImageError, OSError) as exc:
        raise ApiError(400, "Invalid file 'input_reference': unsupported image.", code="invalid_value",
                       param="input_reference") from exc
    if actual != size:
        raise ApiError(400, f"Inpaint image must match the requested width and height ({actual} vs {size}).",
                       code="invalid_value", param="input_reference")


def _handler_for(api: FakeVideoAPI) -> type[FakeHandler]:
    class Handler(FakeHandler):
        def _record(self) -> RecordedRequest:
            parts = urlsplit(self.path)
            body = self.read_body()
            recorded = RecordedRequest(method=self.command, path=parts.path, query=parse_qs(parts.query),
                                       headers=dict(self.headers.items()), body=body)
            content_type = self.headers.get("Content-Type", "")
            if body and content_type.startswith("application/json"):
                try:
                    recorded.json = json.loads(body)
                except ValueError:
                    recorded.json = None
            elif body and content_type.startswith("multipart/form-data"):
                recorded.form, recorded.files = parse_multipart(content_type, body)
            with api.lock:
                api.requests.append(recorded)
            return recorded

        def _send(self, status: int, payload: Any = None, *, body: bytes | None = None,
                  content_type: str = "application/json", headers: dict[str, str] | None = None,
                  declared_length: int | None = None) -> None:
            if api.response_delay:
                time.sleep(api.response_delay)
            data = body if body is not None else json.dumps(payload).encode()
            try:
                self.send_body(status, data, content_type=content_type, headers=headers,
                               declared_length=declared_length)
                if declared_length is not None:
                    self.close_connection = True
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up (a read-timeout test)

        def _job(self, video_id: str) -> FakeJob:
            with api.lock:
                job = api.jobs.get(video_id)
            if job is None or job.deleted:
                raise ApiError(404, f"Video with id '{video_id}' not found.", code="video_not_found", param="video_id")
            return job

        def _serve(self) -> None:
            recorded = self._record()
            try:
                if recorded.header("Authorization") != f"Bearer {api.api_key}":
                    raise ApiError(401, "Incorrect API key provided.", code="invalid_api_key")
                self._route(recorded)
            except ApiError as exc:
                self._send(exc.status, exc.body(), headers=exc.headers)

        def _route(self, recorded: RecordedRequest) -> None:
            method, path = recorded.method, recorded.path
            if path == "/v1/videos" and method == "POST":
                api.injected("create")
                fields = recorded.json if isinstance(recorded.json, dict) else recorded.form
                job = api.create(fields, recorded.files)
                recorded.accepted = True
                return self._send(200, job.as_json())
            if path == "/v1/videos" and method == "GET":
                api.injected("list")
                return self._send(200, api.page(recorded.query))
            match = _VIDEO_PATH.match(path)
            if not match:
                raise ApiError(404, f"Invalid URL ({method} {path}).", code="not_found")
            tail = match["tail"] or ""
            if (method, tail) == ("POST", "/remix"):
                api.injected("remix")
                job = api.remix(self._job(match["id"]), recorded.json)
                recorded.accepted = True
                return self._send(200, job.as_json())
            job = self._job(match["id"])
            if (method, tail) == ("GET", "/content"):
                api.injected("content")
                data, content_type = api.content(job, recorded.query)
                if api.truncate_content and content_type == "video/mp4":
                    return self._send(200, body=data[: len(data) // 2], content_type=content_type,
                                      declared_length=len(data))
                return self._send(200, body=data, content_type=content_type)
            if (method, tail) == ("GET", ""):
                api.injected("retrieve")
                with api.lock:
                    api.advance(job)
                    payload = job.as_json()
                return self._send(200, payload)
            if (method, tail) == ("DELETE", ""):
                api.injected("delete")
                with api.lock:
                    job.deleted = True
                return self._send(200, {"id": job.id, "object": "video.deleted", "deleted": True})
            raise ApiError(405, f"Method {method} is not allowed on {path}.", code="method_not_allowed")

        do_GET = do_POST = do_DELETE = _serve  # noqa: N815 - stdlib naming

    return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the fake OpenAI /v1/videos API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--api-key", default="sk-test")
    parser.add_argument("--progress-step", type=int, default=50)
    parser.add_argument("--fps", type=int, default=12)
    args = parser.parse_args(argv)
    server = FakeVideoAPI(api_key=args.api_key, host=args.host, port=args.port, progress_step=args.progress_step,
                          fps=args.fps)
    print(f"fake video API on {server.url} (key {args.api_key!r}); Ctrl-C stops it", flush=True)
    server.http.serve_until_interrupted()


if __name__ == "__main__":
    main()
