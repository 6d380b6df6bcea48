"""Runway (Gen-4.5) through the official `runwayml` SDK: `text_to_video.create`,
`image_to_video.create`, `tasks.retrieve`, `tasks.delete`; the output is a signed URL that
expires (24-48 h, Runway says), so every download retrieves the task first for a fresh one.

Runway has no remix by id: a remix is image-to-video from the source's first frame (flow).
The SDK's own retries are off, as for OpenAI: retries go through the task, after Retry-After.
"""

from __future__ import annotations

import base64
import logging
import time
from pathlib import Path
from typing import Any, Callable

import httpx
import runwayml
from django.conf import settings

from ..base import BackendError, PermanentBackendError, TransientBackendError
from .errors import status_error
from .flow import CreateRequest, HostedBackend, RemoteVideo

logger = logging.getLogger(__name__)

_CHUNK_BYTES = 1 << 20
_HEARTBEAT_SECONDS = 1.0
_DELETE_TIMEOUT = 5.0
# Runway answers 400 with this when the organisation has no credits left (its quota).
_NO_CREDITS = "enough credits"
_PENDING = ("PENDING", "THROTTLED", "RUNNING")


def _task(task: Any) -> RemoteVideo:
    status = task.status
    if status in _PENDING:
        return RemoteVideo(id=task.id, status="pending", progress=float(getattr(task, "progress", 0) or 0))
    if status == "SUCCEEDED":
        return RemoteVideo(id=task.id, status="completed", progress=1.0)
    return RemoteVideo(id=task.id, status="failed", error_code=getattr(task, "failure_code", None) or status,
                       error_message=getattr(task, "failure", "") or "Runway canceled the task.")


class RunwayProvider:
    name = "runway"

    def __init__(self, *, job_id: str) -> None:
        self.model = settings.GENERATION_RUNWAY_MODEL
        self.poll_interval = float(settings.GENERATION_REMOTE_POLL_INTERVAL)
        self.max_wait = float(settings.GENERATION_REMOTE_MAX_WAIT)
        self.timeout = float(settings.GENERATION_REMOTE_TIMEOUT)
        self.job_id = job_id
        if not settings.GENERATION_RUNWAY_API_KEY:
            raise PermanentBackendError("GENERATION_RUNWAY_API_KEY is not set.", code="backend_not_configured")
        self.client = runwayml.RunwayML(api_key=settings.GENERATION_RUNWAY_API_KEY,
                                        base_url=settings.GENERATION_RUNWAY_URL or None, max_retries=0,
                                        timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0)))

    def _call(self, action: str, fn: Callable[[], Any]) -> Any:
        log = {"job_id": self.job_id, "provider": self.name, "action": action}
        try:
            return fn()
        except runwayml.APITimeoutError as exc:
            logger.warning("generation.remote.timeout", extra=log)
            raise TransientBackendError(f"Runway timed out ({action}).", code="backend_timeout") from exc
        except runwayml.APIConnectionError as exc:
            logger.warning("generation.remote.unreachable", extra={**log, "error": repr(exc)[:300]})
            raise TransientBackendError(f"Runway is unreachable ({action}).") from exc
        except runwayml.APIStatusError as exc:
            body = exc.body if isinstance(exc.body, dict) else {}
            message = str(body.get("error") or exc.message)
            raise status_error(provider="Runway", action=action, status=exc.status_code, code="", error_type="",
                               message=message, headers=exc.response.headers,
                               quota=exc.status_code == 400 and _NO_CREDITS in message.lower(), log=log) from exc
        except runwayml.APIResponseValidationError as exc:
            raise TransientBackendError(f"Runway sent an answer the SDK cannot read ({action}).") from exc

    def create(self, request: CreateRequest) -> RemoteVideo:
        fields = dict(model=request.model, prompt_text=request.prompt, ratio=f"{request.width}:{request.height}",
                      duration=request.seconds)
        if request.image is None:
            created = self._call("create", lambda: self.client.text_to_video.create(**fields))
        else:
            data_uri = "data:image/jpeg;base64," + base64.b64encode(request.image.read_bytes()).decode()
            created = self._call("create", lambda: self.client.image_to_video.create(**fields, prompt_image=data_uri))
        return RemoteVideo(id=created.id, status="pending")

    def remix(self, source_remote_id: str, request: CreateRequest) -> RemoteVideo:
        raise PermanentBackendError("Runway does not remix by id.", code="backend_invalid_request")

    def retrieve(self, remote_id: str) -> RemoteVideo:
        return _task(self._call("retrieve", lambda: self.client.tasks.retrieve(remote_id)))

    def download(self, remote_id: str, path: Path, heartbeat: Callable[[], None]) -> int:
        # Twice at most: a URL can expire between the retrieve and the download.
        for attempt in range(2):
            task = self._call("retrieve", lambda: self.client.tasks.retrieve(remote_id))
            if task.status != "SUCCEEDED" or not task.output:
                raise TransientBackendError(f"Runway task {remote_id} has no output yet.")
            try:
                return self._fetch(task.output[0], path, heartbeat)
            except _UrlExpired:
                logger.info("generation.remote.url_expired", extra={"job_id": self.job_id, "remote_id": remote_id,
                                                                    "attempt": attempt})
        raise TransientBackendError(f"Runway's output URLs of {remote_id} keep failing.")

    def _fetch(self, url: str, path: Path, heartbeat: Callable[[], None]) -> int:
        written = 0
        beat = time.monotonic()
        try:
            with httpx.stream("GET", url, timeout=httpx.Timeout(self.timeout, connect=10.0)) as response:
                if response.status_code in (401, 403, 404, 410):
                    raise _UrlExpired()
                if response.status_code >= 400:
                    raise TransientBackendError(f"Runway's output URL answered {response.status_code}.")
                expected = response.headers.get("content-length")
                with open(path, "wb") as fh:
                    for chunk in response.iter_bytes(_CHUNK_BYTES):
                        fh.write(chunk)
                        written += len(chunk)
                        if time.monotonic() - beat >= _HEARTBEAT_SECONDS:
                            heartbeat()
                            beat = time.monotonic()
        except httpx.TransportError as exc:
            raise TransientBackendError("The download of Runway's output broke off.") from exc
        if expected is not None and expected.isdigit() and int(expected) != written:
            raise TransientBackendError("The download of Runway's output was cut short.")
        if written == 0:
            raise PermanentBackendError("Runway's output is empty.", code="backend_failed")
        return written

    def delete(self, remote_id: str) -> None:
        try:
            self._call("delete", lambda: self.client.with_options(timeout=_DELETE_TIMEOUT).tasks.delete(remote_id))
        except BackendError as exc:
            logger.info("generation.remote.delete_failed", extra={"job_id": self.job_id, "remote_id": remote_id,
                                                                  "error_code": exc.code})


class _UrlExpired(Exception):
    pass


class RunwayBackend(HostedBackend):
    name = "runway"
    provider_name = "runway"

    def model(self) -> str:
        return settings.GENERATION_RUNWAY_MODEL

    def provider(self, job_id: str = "") -> RunwayProvider:
        return RunwayProvider(job_id=job_id)

