"""Google Veo on Vertex AI through the official `google-genai` SDK: `models.generate_videos`
starts a long-running operation, `operations.get` polls it; the finished operation carries the
video inline (no Cloud Storage bucket asked for). The remote id is the operation's name.

Express mode (GENERATION_VEO_API_KEY) or a project with Application Default Credentials
(GENERATION_VEO_PROJECT / GENERATION_VEO_LOCATION). The SDK's retries are off by default (we
retry through the task). Veo has no remix by id: a remix is image-to-video from the source's
first frame (flow); it reports no progress while it renders.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Callable

import httpx
from django.conf import settings
from google import genai
from google.genai import errors, types

from ..base import PermanentBackendError, TransientBackendError
from .errors import status_error
from .flow import CreateRequest, HostedBackend, RemoteVideo

logger = logging.getLogger(__name__)

_FILTERED = "content_filter"  # our name for Veo's "raiMediaFiltered": the output broke its usage rules


def _details(exc: errors.APIError) -> list[dict]:
    body = exc.details if isinstance(exc.details, dict) else {}
    error = body.get("error") if isinstance(body.get("error"), dict) else {}
    return [d for d in error.get("details") or [] if isinstance(d, dict)]


def _retry_delay(details: list[dict]) -> dict[str, str]:
    """google.rpc.RetryInfo's retryDelay ("3s", "1.5s") as a Retry-After header."""
    for detail in details:
        match = re.fullmatch(r"(\d+(?:\.\d+)?)s", str(detail.get("retryDelay") or ""))
        if detail.get("@type", "").endswith("google.rpc.RetryInfo") and match:
            return {"retry-after": match[1]}
    return {}


class VeoProvider:
    name = "veo"

    def __init__(self, *, job_id: str) -> None:
        self.model = settings.GENERATION_VEO_MODEL
        self.poll_interval = float(settings.GENERATION_REMOTE_POLL_INTERVAL)
        self.max_wait = float(settings.GENERATION_REMOTE_MAX_WAIT)
        self.job_id = job_id
        options = types.HttpOptions(base_url=settings.GENERATION_VEO_URL or None, api_version="v1",
                                    timeout=int(float(settings.GENERATION_REMOTE_TIMEOUT) * 1000))
        if settings.GENERATION_VEO_PROJECT:
            self.client = genai.Client(vertexai=True, project=settings.GENERATION_VEO_PROJECT,
                                       location=settings.GENERATION_VEO_LOCATION, http_options=options)
        elif settings.GENERATION_VEO_API_KEY:
            self.client = genai.Client(vertexai=True, api_key=settings.GENERATION_VEO_API_KEY, http_options=options)
        else:
            raise PermanentBackendError("Set GENERATION_VEO_API_KEY or GENERATION_VEO_PROJECT.",
                                        code="backend_not_configured")
        self._videos: dict[str, bytes] = {}

    def _call(self, action: str, fn: Callable[[], Any]) -> Any:
        log = {"job_id": self.job_id, "provider": self.name, "action": action}
        try:
            return fn()
        except httpx.TimeoutException as exc:
            logger.warning("generation.remote.timeout", extra=log)
            raise TransientBackendError(f"Veo timed out ({action}).", code="backend_timeout") from exc
        except httpx.TransportError as exc:
            logger.warning("generation.remote.unreachable", extra={**log, "error": repr(exc)[:300]})
            raise TransientBackendError(f"Veo is unreachable ({action}).") from exc
        except errors.APIError as exc:
            details = _details(exc)
            billing = any(d.get("reason") == "BILLING_DISABLED" for d in details)
            raise status_error(provider="Veo", action=action, status=exc.code or 500, code=exc.status or "",
                               error_type="", message=exc.message or "", headers=_retry_delay(details),
                               quota=billing, log=log) from exc

    def create(self, request: CreateRequest) -> RemoteVideo:
        ratio = "9:16" if request.height > request.width else "16:9"
        resolution = "720p" if min(request.width, request.height) <= 720 else "1080p"
        image = (types.Image(image_bytes=request.image.read_bytes(), mime_type="image/jpeg")
                 if request.image is not None else None)
        config = types.GenerateVideosConfig(aspect_ratio=ratio, resolution=resolution, number_of_videos=1,
                                            duration_seconds=request.seconds)
        operation = self._call("create", lambda: self.client.models.generate_videos(
            model=request.model, source=types.GenerateVideosSource(prompt=request.prompt, image=image), config=config))
        return RemoteVideo(id=operation.name, status="pending")

    def remix(self, source_remote_id: str, request: CreateRequest) -> RemoteVideo:
        raise PermanentBackendError("Veo does not remix by id.", code="backend_invalid_request")

    def retrieve(self, remote_id: str) -> RemoteVideo:
        operation = self._call("retrieve", lambda: self.client.operations.get(
            types.GenerateVideosOperation(name=remote_id)))
        if not operation.done:
            return RemoteVideo(id=remote_id, status="pending")
        if operation.error:
            return RemoteVideo(id=remote_id, status="failed", error_code=str(operation.error.get("code", "")),
                               error_message=str(operation.error.get("message") or "Veo could not render this."))
        result = operation.result
        videos = [v.video for v in (result.generated_videos or []) if v.video and v.video.video_bytes] if result else []
        if not videos:
            reasons = (result.rai_media_filtered_reasons or []) if result else []
            return RemoteVideo(id=remote_id, status="failed", error_code=_FILTERED,
                               error_message=reasons[0] if reasons else "Veo returned no video.")
        self._videos[remote_id] = videos[0].video_bytes
        return RemoteVideo(id=remote_id, status="completed", progress=1.0)

    def download(self, remote_id: str, path: Path, heartbeat: Callable[[], None]) -> int:
        if remote_id not in self._videos:  # a resumed job: the finished operation holds it
            if self.retrieve(remote_id).status != "completed":
                raise TransientBackendError(f"Veo operation {remote_id} has no video yet.")
        data = self._videos.pop(remote_id)
        path.write_bytes(data)
        return len(data)

    def delete(self, remote_id: str) -> None:
        # The SDK offers no cancel for a video operation: it runs to its end (and is billed, README).
        logger.info("generation.remote.cancel_unsupported", extra={"job_id": self.job_id, "remote_id": remote_id})


class VeoBackend(HostedBackend):
    name = "veo"
    provider_name = "veo"

    def model(self) -> str:
        return settings.GENERATION_VEO_MODEL

    def provider(self, job_id: str = "") -> VeoProvider:
        return VeoProvider(job_id=job_id)
