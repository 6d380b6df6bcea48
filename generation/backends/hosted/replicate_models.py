"""Open models on Replicate (the Wan 2.5 text-to-video models) through the official `replicate`
SDK: `models.predictions.create`, `predictions.get`, `predictions.cancel`; the output is a file
URL Replicate deletes an hour after the prediction completed (`expires_at`).

The SDK's transport retries GETs on 429/503/504 in place, sleeping Retry-After; it is mounted
over with a plain httpx transport (httpx's `mounts`, passed through the SDK), so a poll answers
at once and the task retries after Retry-After (kept by an httpx response hook: the SDK's error
has no headers). Creates are POSTs, never retried by the SDK.
An image (image-to-video, a remix's first frame) goes as a data URI in `image`.
"""

from __future__ import annotations

import base64
import logging
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable

import httpx
import replicate
from django.conf import settings
from replicate.exceptions import ReplicateError

from ..base import PermanentBackendError, TransientBackendError
from .errors import status_error
from .flow import CreateRequest, HostedBackend, RemoteGone, RemoteVideo

logger = logging.getLogger(__name__)

_CHUNK_BYTES = 1 << 20
_HEARTBEAT_SECONDS = 1.0
# How long Replicate keeps the output files of an API prediction.
_OUTPUT_LIFETIME = timedelta(hours=1)


def _prediction(p: Any) -> RemoteVideo:
    if p.status in ("starting", "processing"):
        progress = p.progress.percentage if p.progress is not None else 0.0
        return RemoteVideo(id=p.id, status="pending", progress=float(progress))
    if p.status == "succeeded":
        completed = datetime.fromisoformat(p.completed_at.replace("Z", "+00:00")) if p.completed_at else None
        return RemoteVideo(id=p.id, status="completed", progress=1.0,
                           expires_at=completed + _OUTPUT_LIFETIME if completed else None)
    error = str(p.error or f"The prediction was {p.status}.")
    return RemoteVideo(id=p.id, status="failed", error_code="safety" if "nsfw" in error.lower() else p.status,
                       error_message=error)


class ReplicateProvider:
    name = "replicate"

    def __init__(self, *, job_id: str) -> None:
        if not settings.GENERATION_REPLICATE_API_TOKEN:
            raise PermanentBackendError("GENERATION_REPLICATE_API_TOKEN is not set.", code="backend_not_configured")
        self.model = settings.GENERATION_REPLICATE_MODEL
        self.poll_interval = float(settings.GENERATION_REMOTE_POLL_INTERVAL)
        self.max_wait = float(settings.GENERATION_REMOTE_MAX_WAIT)
        self.timeout = float(settings.GENERATION_REMOTE_TIMEOUT)
        self.job_id = job_id
        self.client = replicate.Client(api_token=settings.GENERATION_REPLICATE_API_TOKEN,
                                       base_url=settings.GENERATION_REPLICATE_URL or None,
                                       timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0)),
                                       mounts={"all://": httpx.HTTPTransport()},
                                       event_hooks={"response": [self._remember_headers]})
        self._outputs: dict[str, str] = {}
        self._last_headers: dict[str, str] = {}

    def _remember_headers(self, response: httpx.Response) -> None:
        # ReplicateError keeps no headers: the hook keeps Retry-After of the last answer.
        self._last_headers = {k: v for k, v in response.headers.items() if k.lower().startswith("retry-after")}

    def _call(self, action: str, fn: Callable[[], Any]) -> Any:
        log = {"job_id": self.job_id, "provider": self.name, "action": action}
        try:
            return fn()
        except httpx.TimeoutException as exc:
            logger.warning("generation.remote.timeout", extra=log)
            raise TransientBackendError(f"Replicate timed out ({action}).", code="backend_timeout") from exc
        except httpx.TransportError as exc:
            logger.warning("generation.remote.unreachable", extra={**log, "error": repr(exc)[:300]})
            raise TransientBackendError(f"Replicate is unreachable ({action}).") from exc
        except ReplicateError as exc:
            raise status_error(provider="Replicate", action=action, status=exc.status or 500, code="",
                               error_type=exc.title or "", message=exc.detail or "",
                               headers=httpx.Headers(self._last_headers),
                               quota=exc.status == 402, log=log) from exc

    def create(self, request: CreateRequest) -> RemoteVideo:
        inputs: dict[str, Any] = {"prompt": request.prompt, "size": f"{request.width}*{request.height}",
                                  "duration": request.seconds}
        if request.image is not None:
            inputs["image"] = "data:image/jpeg;base64," + base64.b64encode(request.image.read_bytes()).decode()
        created = self._call("create", lambda: self.client.models.predictions.create(model=request.model,
                                                                                     input=inputs))
        return _prediction(created)

    def remix(self, source_remote_id: str, request: CreateRequest) -> RemoteVideo:
        raise PermanentBackendError("Replicate's video models do not remix by id.", code="backend_invalid_request")

    def retrieve(self, remote_id: str) -> RemoteVideo:
        p = self._call("retrieve", lambda: self.client.predictions.get(remote_id))
        if p.status == "succeeded" and isinstance(p.output, (str, list)):
            self._outputs[remote_id] = p.output if isinstance(p.output, str) else p.output[0]
        return _prediction(p)

    def download(self, remote_id: str, path: Path, heartbeat: Callable[[], None]) -> int:
        if remote_id not in self._outputs and self.retrieve(remote_id).status != "completed":
            raise TransientBackendError(f"Replicate prediction {remote_id} has no output yet.")
        written = 0
        beat = time.monotonic()
        try:
            with httpx.stream("GET", self._outputs[remote_id], timeout=self.timeout) as response:
                if response.status_code in (403, 404, 410):
                    raise RemoteGone(f"Replicate deleted the output of {remote_id}.")
                if response.status_code >= 400:
                    raise TransientBackendError(f"Replicate's output answered {response.status_code}.")
                expected = response.headers.get("content-length")
                with open(path, "wb") as fh:
                    for chunk in response.iter_bytes(_CHUNK_BYTES):
                        fh.write(chunk)
                        written += len(chunk)
                        if time.monotonic() - beat >= _HEARTBEAT_SECONDS:
                            heartbeat()
                            beat = time.monotonic()
        except httpx.TransportError as exc:
            raise TransientBackendError("The download of Replicate's output broke off.") from exc
        if expected is not None and expected.isdigit() and int(expected) != written:
            raise TransientBackendError("The download of Replicate's output was cut short.")
        return written

    def delete(self, remote_id: str) -> None:
        try:
            self._call("cancel", lambda: self.client.predictions.cancel(remote_id))
        except (TransientBackendError, PermanentBackendError) as exc:
            logger.info("generation.remote.delete_failed", extra={"job_id": self.job_id, "remote_id": remote_id,
                                                                  "error_code": exc.code})


class ReplicateBackend(HostedBackend):
    name = "replicate"
    provider_name = "replicate"

    def model(self) -> str:
        return settings.GENERATION_REPLICATE_MODEL

    def provider(self, job_id: str = "") -> ReplicateProvider:
        return ReplicateProvider(job_id=job_id)
