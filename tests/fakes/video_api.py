"""A small, stateful fake of a hosted video API shaped like OpenAI's `/v1/videos`.

Speaks real HTTP on 127.0.0.1 (a random free port by default) so the `remote`
backend is tested through its real client code:

    POST   /v1/videos                 JSON or multipart (input_reference file) -> video object
    GET    /v1/videos/{id}            advances the job by `progress_step` per call
    GET    /v1/videos/{id}/content    the finished MP4 (a real H.264 clip)
    DELETE /v1/videos/{id}

Requests need `Authorization: Bearer <api_key>` (401 otherwise). An
`Idempotency-Key` seen before returns the job it created. Errors use the
`{"error": {"message", "type", "param", "code"}}` shape.

Knobs for tests:
- prompt contains "[reject]": create answers 400 `moderation_blocked`;
  "[fail]": the job ends `failed`; "[flagged]": it ends `failed` with
  `moderation_blocked`; "[stall]": it never completes.
- `server.fail_next_create_with = 503` (one-shot), or `server.fail(route, *statuses)`
  with route "create" | "retrieve" | "content" | "delete" to queue error answers.
- `server.response_delay = 1.5`: every answer waits that long (read-timeout tests).
- `server.truncate_content = True`: the download announces more bytes than it sends.

Manual use / benchmarks: `python -m tests.fakes.video_api --port 8765 --api-key sk-test`.
"""

from __future__ import annotations

import argparse
import email.parser
import email.policy
import io
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np

from .server import FakeHandler, FakeServer

ROUTES = ("create", "retrieve", "content", "delete")
_VIDEO_PATH = re.compile(r"^/v1/videos/(?P<id>[A-Za-z0-9_-]+)(?P<content>/content)?$")
_ERROR_TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 404: "invalid_request_error",
                429: "rate_limit_error"}


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    json: Any = None
    form: dict[str, str] = field(default_factory=dict)
    files: dict[str, tuple[str, str, bytes]] = field(default_factory=dict)  # name -> (filename, content type, bytes)

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


@dataclass
class FakeJob:
    id: str
    model: str
    prompt: str
    seconds: str
    size: str
    idempotency_key: str | None
    input_reference: tuple[str, str, bytes] | None = None
    status: str = "queued"
    progress: int = 0
    error: dict[str, str] | None = None
    created_at: int = field(default_factory=lambda: int(time.time()))
    completed_at: int | None = None
    deleted: bool = False
    content: bytes | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "object": "video", "model": self.model, "status": self.status,
            "progress": self.progress, "created_at": self.created_at, "completed_at": self.completed_at,
            "expires_at": None, "prompt": self.prompt, "seconds": self.seconds, "size": self.size,
            "quality": "standard", "remixed_from_video_id": None, "error": self.error,
        }


class FakeVideoAPI:
    """The server; use as a context manager (or start()/stop()). State is guarded by one lock."""

    def __init__(self, *, api_key: str = "sk-test", host: str = "127.0.0.1", port: int = 0,
                 progress_step: int = 50, fps: int = 12) -> None:
        self.api_key = api_key
        self.progress_step = progress_step
        self.fps = fps  # deliberately not the app's fps, so clients must retime
        self.jobs: dict[str, FakeJob] = {}
        self.requests: list[RecordedRequest] = []
        self.idempotency: dict[str, str] = {}
        self.failures: dict[str, list[int]] = {route: [] for route in ROUTES}
        self.response_delay = 0.0
        self.truncate_content = False
        self.lock = threading.Lock()
        self.http = FakeServer(_handler_for(self), name="fake-video-api", host=host, port=port)

    @property
    def url(self) -> str:
        return self.http.url

    @property
    def fail_next_create_with(self) -> int | None:
        return self.failures["create"][0] if self.failures["create"] else None

    @fail_next_create_with.setter
    def fail_next_create_with(self, status: int | None) -> None:
        with self.lock:
            self.failures["create"] = [] if status is None else [status]

    def fail(self, route: str, *statuses: int) -> None:
        if route not in ROUTES:
            raise ValueError(f"route must be one of {ROUTES}")
        with self.lock:
            self.failures[route].extend(statuses)

    def requests_to(self, method: str, path: str | None = None) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method and (path is None or r.path == path)]

    def start(self) -> "FakeVideoAPI":
        self.http.start()
        return self

    def stop(self) -> None:
        self.http.stop()

    def __enter__(self) -> "FakeVideoAPI":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- behaviour, called by the handler with the lock held ---------------------------

    def _advance(self, job: FakeJob) -> None:
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


def render_clip(job: FakeJob, fps: int) -> bytes:
    """A real H.264 MP4 of solid frames: the input image's mean colour if one was sent,
    otherwise a colour from the prompt, brightening over time."""
    from generation.backends.base import RenderSpec
    from generation.backends.media import write_mp4

    width, height = (int(v) for v in job.size.split("x"))
    seconds = int(job.seconds)
    if job.input_reference is not None:
        from PIL import Image

        with Image.open(io.BytesIO(job.input_reference[2])) as img:
            colour = np.asarray(img.convert("RGB").resize((1, 1))).reshape(3).astype(np.float32)
    else:
        digest = sum(job.prompt.encode()) % 97
        colour = np.array([60 + digest, 120, 180 - digest], dtype=np.float32)
    spec = RenderSpec(job_id=job.id, kind="text_to_video", prompt=job.prompt, duration_seconds=seconds,
                      width=width, height=height, fps=fps, seed=0)
    frames = (np.broadcast_to(np.clip(colour + i * 0.5, 0, 255).astype(np.uint8), (height, width, 3)).copy()
              for i in range(spec.frame_count))
    with TemporaryDirectory(prefix="fake-video-api-") as tmp:
        path = Path(tmp) / "clip.mp4"
        write_mp4(frames, path, spec)
        return path.read_bytes()


def _error_body(status: int, message: str, code: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": _ERROR_TYPES.get(status, "server_error"), "param": None,
                      "code": code}}


def _parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, tuple[str, str, bytes]]]:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    form: dict[str, str] = {}
    files: dict[str, tuple[str, str, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename is not None:
            files[name] = (filename, part.get_content_type(), payload)
        else:
            form[name] = payload.decode()
    return form, files


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
                recorded.form, recorded.files = _parse_multipart(content_type, body)
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
                # The client gave up (a read-timeout test): nothing left to tell it.
                self.close_connection = True

        def _error(self, status: int, message: str, code: str | None = None,
                   headers: dict[str, str] | None = None) -> None:
            self._send(status, _error_body(status, message, code), headers=headers)

        def _authorised(self, recorded: RecordedRequest) -> bool:
            if recorded.header("Authorization") == f"Bearer {api.api_key}":
                return True
            self._error(401, "Incorrect API key provided.", "invalid_api_key")
            return False

        def _injected_failure(self, route: str) -> bool:
            with api.lock:
                status = api.failures[route].pop(0) if api.failures[route] else None
            if status is None:
                return False
            headers = {"Retry-After": "1"} if status == 429 else None
            try:
                phrase = HTTPStatus(status).phrase
            except ValueError:
                phrase = "Error"
            self._error(status, f"Injected failure: {phrase}.", None, headers)
            return True

        def do_POST(self) -> None:  # noqa: N802 - stdlib naming
            recorded = self._record()
            if recorded.path != "/v1/videos":
                return self._error(404, f"Unknown path {recorded.path}.", "not_found")
            if not self._authorised(recorded) or self._injected_failure("create"):
                return None
            fields = recorded.json if isinstance(recorded.json, dict) else recorded.form
            prompt = str(fields.get("prompt") or "")
            seconds = str(fields.get("seconds") or "4")
            size = str(fields.get("size") or "720x1280")
            if not prompt:
                return self._error(400, "Missing required parameter: 'prompt'.", "missing_required_parameter")
            if not seconds.isdigit() or int(seconds) < 1 or not re.fullmatch(r"\d{2,5}x\d{2,5}", size):
                return self._error(400, "Invalid 'seconds' or 'size'.", "invalid_value")
            if "[reject]" in prompt:
                return self._error(400, "Your request was blocked by our moderation system.", "moderation_blocked")
            key = recorded.header("Idempotency-Key")
            with api.lock:
                if key and key in api.idempotency:
                    job = api.jobs[api.idempotency[key]]
                else:
                    job = FakeJob(id=f"video_{secrets.token_hex(12)}", model=str(fields.get("model") or "sora-2"),
                                  prompt=prompt, seconds=seconds, size=size, idempotency_key=key,
                                  input_reference=recorded.files.get("input_reference"))
                    api.jobs[job.id] = job
                    if key:
                        api.idempotency[key] = job.id
                payload = job.as_json()
            return self._send(200, payload)

        def _job(self) -> tuple[FakeJob | None, bool]:
            """The job the path names and whether it asks for the content; None once an
            error is answered."""
            recorded = self._record()
            if not self._authorised(recorded):
                return None, False
            match = _VIDEO_PATH.match(recorded.path)
            if not match:
                self._error(404, f"Unknown path {recorded.path}.", "not_found")
                return None, False
            with api.lock:
                job = api.jobs.get(match["id"])
            if job is None or job.deleted:
                self._error(404, f"Video {match['id']} not found.", "video_not_found")
                return None, False
            return job, bool(match["content"])

        def do_GET(self) -> None:  # noqa: N802
            job, content = self._job()
            if job is None:
                return None
            if content:
                if self._injected_failure("content"):
                    return None
                if job.status != "completed" or job.content is None:
                    return self._error(400, f"Video {job.id} is not ready.", "video_not_ready")
                data = job.content
                if api.truncate_content:
                    return self._send(200, body=data[: len(data) // 2], content_type="video/mp4",
                                      declared_length=len(data))
                return self._send(200, body=data, content_type="video/mp4")
            if self._injected_failure("retrieve"):
                return None
            with api.lock:
                api._advance(job)
                payload = job.as_json()
            return self._send(200, payload)

        def do_DELETE(self) -> None:  # noqa: N802
            job, content = self._job()
            if job is None:
                return None
            if content:
                return self._error(405, "Method not allowed.", "method_not_allowed")
            if self._injected_failure("delete"):
                return None
            with api.lock:
                job.deleted = True
            return self._send(200, {"id": job.id, "object": "video.deleted", "deleted": True})

    return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the fake /v1/videos API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--api-key", default="sk-test")
    parser.add_argument("--progress-step", type=int, default=50)
    parser.add_argument("--fps", type=int, default=12)
    args = parser.parse_args(argv)
    # media imports RenderSpec only; no Django settings are needed to render clips.
    server = FakeVideoAPI(api_key=args.api_key, host=args.host, port=args.port, progress_step=args.progress_step,
                          fps=args.fps)
    print(f"fake video API on {server.url} (key {args.api_key!r}); Ctrl-C stops it", flush=True)
    server.http.serve_until_interrupted()


if __name__ == "__main__":
    main()
