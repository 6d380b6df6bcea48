"""OpenAI Videos (Sora) through the official `openai` SDK: `client.videos` create, remix,
retrieve, download_content, delete. Pointed elsewhere (a local fake in tests) by `base_url`.

The SDK's own retries are off (`max_retries=0`): it would sleep out Retry-After inside the
worker and repeat a create that may already have been paid for. We retry through the task,
after the provider's Retry-After, resuming the stored remote id.
"""

from __future__ import annotations

import logging
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

import httpx2
import openai
from django.conf import settings

from ..base import BackendError, PermanentBackendError, TransientBackendError
from .errors import status_error
from .flow import CreateRequest, HostedBackend, RemoteVideo

logger = logging.getLogger(__name__)

_HEARTBEAT_SECONDS = 1.0
_CHUNK_BYTES = 1 << 20
_DELETE_TIMEOUT = 5.0
# Quota, not a rate limit: OpenAI answers 429 with this code when the account's credit is spent.
_QUOTA_CODES = ("insufficient_quota", "billing_hard_limit_reached")
_PENDING = ("queued", "in_progress")


def _video(video: Any) -> RemoteVideo:
    status = "pending" if video.status in _PENDING else video.status
    error = video.error
    expires = datetime.fromtimestamp(video.expires_at, timezone.utc) if video.expires_at else None
    return RemoteVideo(id=video.id, status=status, progress=min(max(video.progress or 0, 0), 100) / 100,
                       error_code=error.code if error else "", error_message=error.message if error else "",
                       expires_at=expires)


class OpenAIProvider:
    name = "openai"

    def __init__(self, *, job_id: str) -> None:
        base_url = (settings.GENERATION_REMOTE_URL or "").strip().rstrip("/")
        parts = urlsplit(base_url)
        if not base_url or parts.scheme not in ("http", "https") or not parts.netloc:
            raise PermanentBackendError("GENERATION_REMOTE_URL is not an http(s) URL.", code="backend_not_configured")
        self.model = settings.GENERATION_REMOTE_MODEL
        self.poll_interval = float(settings.GENERATION_REMOTE_POLL_INTERVAL)
        self.max_wait = float(settings.GENERATION_REMOTE_MAX_WAIT)
        timeout = float(settings.GENERATION_REMOTE_TIMEOUT)
        self.job_id = job_id
        self.base_url = base_url
        # A host that does not accept a connection within seconds is down; waiting the full read
        # timeout for it only delays the retry.
        self.client = openai.OpenAI(api_key=settings.GENERATION_REMOTE_API_KEY or "unset", base_url=f"{base_url}/v1",
                                    max_retries=0, timeout=httpx2.Timeout(timeout, connect=min(timeout, 10.0)))

    def _call(self, action: str, fn: Callable[[], Any]) -> Any:
        log = {"job_id": self.job_id, "provider": self.name, "remote_base_url": self.base_url, "action": action}
        try:
            with warnings.catch_warnings():
                # Every videos method is marked deprecated (the Sora API's announced shutdown):
                # README says so; the warning would only repeat it on every poll.
                warnings.simplefilter("ignore", DeprecationWarning)
                return fn()
        except openai.APITimeoutError as exc:
            logger.warning("generation.remote.timeout", extra=log)
            raise TransientBackendError(f"OpenAI timed out ({action}).", code="backend_timeout") from exc
        except openai.APIConnectionError as exc:
            logger.warning("generation.remote.unreachable", extra={**log, "error": repr(exc)[:300]})
            raise TransientBackendError(f"OpenAI is unreachable ({action}).") from exc
        except openai.APIStatusError as exc:
            raise self._status_error(exc, action, log) from exc
        except openai.APIResponseValidationError as exc:
            raise TransientBackendError(f"OpenAI sent an answer the SDK cannot read ({action}).") from exc

    def _status_error(self, exc: openai.APIStatusError, action: str, log: dict) -> BackendError:
        code, kind = exc.code or "", exc.type or ""
        return status_error(provider="OpenAI", action=action, status=exc.status_code, code=code, error_type=kind,
                            message=exc.message, headers=exc.response.headers,
                            quota=exc.status_code == 429 and (code in _QUOTA_CODES or kind in _QUOTA_CODES), log=log)

    def create(self, request: CreateRequest) -> RemoteVideo:
        fields = dict(prompt=request.prompt, model=request.model, seconds=str(request.seconds),
                      size=f"{request.width}x{request.height}")
        if request.image is None:
            return _video(self._call("create", lambda: self.client.videos.create(**fields)))
        with open(request.image, "rb") as fh:
            reference = (request.image.name, fh, "image/jpeg")
            return _video(self._call("create", lambda: self.client.videos.create(**fields, input_reference=reference)))

    def remix(self, source_remote_id: str, request: CreateRequest) -> RemoteVideo:
        return _video(self._call("remix", lambda: self.client.videos.remix(source_remote_id, prompt=request.prompt)))

    def retrieve(self, remote_id: str) -> RemoteVideo:
        return _video(self._call("retrieve", lambda: self.client.videos.retrieve(remote_id)))

    def download(self, remote_id: str, path: Path, heartbeat: Callable[[], None]) -> int:
        def fetch() -> int:
            written = 0
            beat = time.monotonic()
            with self.client.videos.with_streaming_response.download_content(remote_id, variant="video") as response:
                expected = response.headers.get("content-length")
                with open(path, "wb") as fh:
                    for chunk in response.iter_bytes(_CHUNK_BYTES):
                        fh.write(chunk)
                        written += len(chunk)
                        if time.monotonic() - beat >= _HEARTBEAT_SECONDS:
                            heartbeat()
                            beat = time.monotonic()
            if expected is not None and expected.isdigit() and int(expected) != written:
                raise TransientBackendError(f"Download of remote video {remote_id} was cut short.")
            return written

        try:
            written = self._call("download", fetch)
        except httpx2.TransportError as exc:  # the body broke off midway
            raise TransientBackendError(f"Download of remote video {remote_id} broke off.") from exc
        if written == 0:
            raise PermanentBackendError(f"Remote video {remote_id} is empty.", code="backend_failed")
        return written

    def delete(self, remote_id: str) -> None:
        try:
            self._call("delete", lambda: self.client.with_options(timeout=_DELETE_TIMEOUT).videos.delete(remote_id))
        except BackendError as exc:
            logger.info("generation.remote.delete_failed", extra={"job_id": self.job_id, "remote_id": remote_id,
                                                                  "error_code": exc.code})


class OpenAIVideosBackend(HostedBackend):
    name = "openai"
    provider_name = "openai"

    def model(self) -> str:
        return settings.GENERATION_REMOTE_MODEL

    def provider(self, job_id: str = "") -> OpenAIProvider:
        return OpenAIProvider(job_id=job_id)
