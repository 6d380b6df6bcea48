"""The provider-independent life of a hosted render: create (or resume), poll, download, re-encode.

Never twice: the provider's job id is handed to `spec.remote.record` the moment the create
call returns (the worker commits it on our job in its own transaction), before any poll. A
retry, or a new worker after this one died, finds that id and polls it; it creates again only
when the provider says the first job failed before it was paid for, or no longer knows it.
Nothing here relies on the provider deduplicating an Idempotency-Key.

Waiting is never done by sleeping out a rate limit: a 429 becomes TransientBackendError with
the provider's Retry-After, and the task is retried after it (generation.tasks).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Protocol

from ..base import (
    JobCanceled,
    PermanentBackendError,
    ProgressFn,
    RenderOutput,
    RenderParams,
    RenderSpec,
    TransientBackendError,
    UnsupportedRequest,
    conditioning_image,
)
from .capabilities import Capability, capability, check_params
from .reencode import POLL_SHARE, first_frame, reencode, reference_image

logger = logging.getLogger(__name__)

# A single 502 from a load balancer should not abandon a render that has been running for
# minutes; only this many failed polls in a row give up (the task retries, polling the same id).
_MAX_CONSECUTIVE_POLL_ERRORS = 3
# Error codes hosted APIs use for content-policy refusals (OpenAI: "moderation_blocked").
_REJECTION_MARKERS = ("moderation", "content_policy", "content_filter", "safety", "policy_violation")


class RemoteGone(PermanentBackendError):
    """The provider does not know this job (or its content) any more: deleted or expired."""

    code = "remote_gone"


@dataclass(frozen=True)
class RemoteVideo:
    id: str
    status: str  # "pending" | "completed" | "failed"
    progress: float = 0.0  # 0..1
    error_code: str = ""
    error_message: str = ""
    expires_at: datetime | None = None


@dataclass(frozen=True)
class CreateRequest:
    """What the provider is asked for: its own size (we downscale), the prompt with the style."""

    model: str
    prompt: str
    seconds: int
    width: int
    height: int
    image: Path | None = None  # already fitted to (width, height)


class Provider(Protocol):
    """One provider's SDK calls; every failure comes out as a BackendError (RemoteGone for 404)."""

    name: str
    model: str
    poll_interval: float
    max_wait: float

    def create(self, request: CreateRequest) -> RemoteVideo: ...

    def remix(self, source_remote_id: str, request: CreateRequest) -> RemoteVideo: ...

    def retrieve(self, remote_id: str) -> RemoteVideo: ...

    def download(self, remote_id: str, path: Path, heartbeat: Callable[[], None]) -> int: ...

    def delete(self, remote_id: str) -> None: ...


def is_rejection(*texts: str) -> bool:
    text = " ".join(texts).lower()
    return any(marker in text for marker in _REJECTION_MARKERS)


def _expired(video: RemoteVideo) -> bool:
    return video.expires_at is not None and video.expires_at <= datetime.now(timezone.utc)


class HostedBackend:
    """A backend built on one provider's SDK. Subclasses set `name` and build `provider()`."""

    name = "hosted"
    draws_watermark = True  # the provider's clip is re-encoded locally by write_mp4, which draws it
    provider_name = ""

    def provider(self, job_id: str = "") -> Provider:
        raise NotImplementedError

    def model(self) -> str:
        raise NotImplementedError

    def capability(self) -> Capability:
        return capability(self.provider_name, self.model())

    def check(self, params: RenderParams) -> RenderParams:
        return check_params(self.capability(), params)

    def render(self, spec: RenderSpec, workdir: Path, progress: ProgressFn) -> RenderOutput:
        try:
            # A job submitted before a settings change (another model) may not fit any more.
            cap = self.capability()
            check_params(cap, spec)
        except UnsupportedRequest as exc:
            raise PermanentBackendError(str(exc), code=exc.code) from exc
        provider = self.provider(spec.job_id)
        width, height = cap.size_for(spec.width, spec.height)
        log = {"job_id": spec.job_id, "provider": provider.name, "model": provider.model}
        video = self._resume(provider, spec, log)
        if video is None:
            video = self._create(provider, cap, spec, (width, height), workdir, log)
        try:
            video = self._wait(provider, video, progress, log)
            downloaded = workdir / "remote.mp4"
            try:
                self._download(provider, video, downloaded, progress, log)
                output = reencode(downloaded, workdir, spec, progress)
            finally:
                # Only our re-encode is served; the original would just fill the worker's disk.
                downloaded.unlink(missing_ok=True)
        except JobCanceled:
            provider.delete(video.id)
            raise
        progress(1.0)
        return output

    def _resume(self, provider: Provider, spec: RenderSpec, log: dict) -> RemoteVideo | None:
        link = spec.remote
        if link is None or not link.remote_id:
            return None
        try:
            video = provider.retrieve(link.remote_id)
        except RemoteGone:
            logger.warning("generation.hosted.resume_gone", extra={**log, "remote_id": link.remote_id})
            link.forget(reason="remote_gone")
            return None
        logger.info("generation.hosted.resumed", extra={**log, "remote_id": video.id, "remote_status": video.status})
        return video

    def _create(self, provider: Provider, cap: Capability, spec: RenderSpec, size: tuple[int, int], workdir: Path,
                log: dict) -> RemoteVideo:
        # Hosted models take no style parameter; the prompt is the only way to ask for one.
        prompt = f"{spec.prompt}\n\nStyle: {spec.style}" if spec.style else spec.prompt
        request = CreateRequest(model=provider.model, prompt=prompt, seconds=cap.duration_for(spec.duration_seconds),
                                width=size[0], height=size[1])
        still: Path | None = None
        if spec.kind == "remix" and cap.remix and spec.source_remote_id:
            video = provider.remix(spec.source_remote_id, request)
            how = "remix"
        else:
            if spec.image_path is not None or spec.cameo_image_paths:
                # The uploaded still, else the cameo's reference frame: the person to show.
                still = conditioning_image(spec)
            elif spec.kind == "remix" and spec.source_video_path is not None and cap.image_input:
                # No remix by id here: the source's first frame is the start of a new clip.
                still = first_frame(spec.source_video_path, workdir)
            fitted = reference_image(still, size, workdir) if still is not None else None
            try:
                video = provider.create(CreateRequest(**{**request.__dict__, "image": fitted}))
            finally:
                if fitted is not None:
                    fitted.unlink(missing_ok=True)
            how = "image" if still is not None else "text"
        if spec.remote is not None:
            spec.remote.record(video.id, expires_at=video.expires_at)
        logger.info("generation.hosted.created", extra={**log, "remote_id": video.id, "how": how})
        return video

    def _wait(self, provider: Provider, video: RemoteVideo, progress: ProgressFn, log: dict) -> RemoteVideo:
        deadline = time.monotonic() + provider.max_wait
        reported = 0.0
        poll_errors = 0
        while True:
            if video.status == "completed":
                progress(max(reported, POLL_SHARE))
                return video
            if video.status == "failed":
                raise self._failed(video, log)
            reported = max(reported, video.progress * POLL_SHARE)
            progress(reported)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                # Left running on purpose: the retried task polls the same id (stored on our job).
                logger.warning("generation.hosted.gave_up", extra={**log, "remote_id": video.id})
                raise TransientBackendError(f"Remote video {video.id} did not finish within {provider.max_wait:g} s.",
                                            code="backend_timeout")
            time.sleep(min(provider.poll_interval, remaining))
            try:
                video = provider.retrieve(video.id)
            except TransientBackendError as exc:
                poll_errors += 1
                if poll_errors >= _MAX_CONSECUTIVE_POLL_ERRORS or exc.retry_after:
                    raise
                continue
            poll_errors = 0

    def _failed(self, video: RemoteVideo, log: dict) -> PermanentBackendError:
        message = video.error_message or "The provider could not render this video."
        code = "backend_rejected" if is_rejection(video.error_code) else "backend_failed"
        logger.info("generation.hosted.failed", extra={**log, "remote_id": video.id, "remote_code": video.error_code,
                                                       "remote_message": message[:300]})
        return PermanentBackendError(message, code=code)

    def _download(self, provider: Provider, video: RemoteVideo, path: Path, progress: ProgressFn, log: dict) -> None:
        expired = PermanentBackendError(f"The provider no longer has the content of {video.id}.",
                                        code="remote_content_expired")
        if _expired(video):
            raise expired
        try:
            written = provider.download(video.id, path, lambda: progress(POLL_SHARE))
        except RemoteGone as exc:
            raise expired from exc
        # A broken download is a TransientBackendError: the retry polls the same id and fetches
        # again, as long as the provider still has the content (expires_at).
        logger.info("generation.hosted.downloaded", extra={**log, "remote_id": video.id, "bytes": written})
