"""The `remote` backend: a hosted video-generation API shaped like OpenAI's `/v1/videos`.

Create a job (POST /v1/videos), poll it (GET /v1/videos/{id}), download the clip
(GET /v1/videos/{id}/content), then re-encode it locally. The re-encode is not
optional: hosted models return their own frame rate, size, pixel format and
container layout, and everything the app serves must carry our watermark and
metadata, be yuv420p with faststart, and match the size and length the user paid for.

The remote job is keyed by an Idempotency-Key derived from our job id, so a task
that is retried (worker lost, transient error, timeout) resumes the remote job it
already paid for instead of starting a second one.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator
from urllib.parse import urlsplit

import av
import numpy as np
import requests
from django.conf import settings
from PIL import Image, ImageOps, UnidentifiedImageError

from .base import (
    BackendError,
    JobCanceled,
    PermanentBackendError,
    ProgressFn,
    RenderOutput,
    RenderParams,
    RenderSpec,
    TransientBackendError,
)
from .media import read_frames, save_poster, write_mp4

logger = logging.getLogger(__name__)

# Remote progress covers 0..90 % of ours; download and re-encode take the rest.
_POLL_SHARE = 0.9
# A single 502 from a load balancer should not abandon a render that has been running
# for minutes; only this many failed polls in a row give up.
_MAX_CONSECUTIVE_POLL_ERRORS = 3
# Cancel is best effort and must not hold the worker up.
_DELETE_TIMEOUT = 5.0
# Heartbeat while downloading, so a big file on a slow link does not look like a dead worker.
_HEARTBEAT_SECONDS = 1.0
_CHUNK_BYTES = 1 << 20
# Error codes hosted APIs use for content-policy refusals (OpenAI: "moderation_blocked").
_REJECTION_MARKERS = ("moderation", "content_policy", "content_filter", "safety", "policy_violation")
_PENDING = ("queued", "in_progress")


@dataclass(frozen=True)
class _Config:
    base_url: str
    api_key: str
    model: str
    timeout: float
    poll_interval: float
    max_wait: float

    @classmethod
    def from_settings(cls) -> "_Config":
        base_url = (settings.GENERATION_REMOTE_URL or "").strip().rstrip("/")
        if not base_url:
            raise PermanentBackendError("GENERATION_REMOTE_URL is not set.", code="backend_not_configured")
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise PermanentBackendError(f"GENERATION_REMOTE_URL {base_url!r} is not an http(s) URL.",
                                        code="backend_not_configured")
        return cls(
            base_url=base_url,
            api_key=settings.GENERATION_REMOTE_API_KEY,
            model=settings.GENERATION_REMOTE_MODEL,
            timeout=float(settings.GENERATION_REMOTE_TIMEOUT),
            poll_interval=float(settings.GENERATION_REMOTE_POLL_INTERVAL),
            max_wait=float(settings.GENERATION_REMOTE_MAX_WAIT),
        )

    @property
    def timeouts(self) -> tuple[float, float]:
        # A host that does not accept a connection within seconds is down; waiting the
        # full read timeout for it only delays the retry.
        return (min(self.timeout, 10.0), self.timeout)


def idempotency_key(spec: RenderSpec) -> str:
    return f"clipsocial-generation-{spec.job_id}"


class RemoteBackend:
    name = "remote"

    def check(self, params: RenderParams) -> RenderParams:
        return params

    def render(self, spec: RenderSpec, workdir: Path, progress: ProgressFn) -> RenderOutput:
        config = _Config.from_settings()
        with requests.Session() as session:
            session.headers["User-Agent"] = "clipsocial-backend/remote"
            if config.api_key:
                session.headers["Authorization"] = f"Bearer {config.api_key}"
            client = _Client(session, config, spec)
            video = client.create(workdir)
            video_id = video["id"]
            try:
                client.wait(video, progress)
                downloaded = workdir / "remote.mp4"
                try:
                    client.download(video_id, downloaded, progress)
                    output = _reencode(downloaded, workdir, spec, progress)
                finally:
                    # Only our re-encode is served; the original would just fill the worker's disk.
                    downloaded.unlink(missing_ok=True)
            except JobCanceled:
                client.delete(video_id)
                raise
        progress(1.0)
        return output


class _Client:
    """One render's conversation with the API; turns every failure into a BackendError."""

    def __init__(self, session: requests.Session, config: _Config, spec: RenderSpec) -> None:
        self.session = session
        self.config = config
        self.spec = spec

    def _url(self, *parts: str) -> str:
        return "/".join((self.config.base_url, "v1", "videos", *parts))

    def _log_extra(self, **fields: Any) -> dict[str, Any]:
        return {"job_id": self.spec.job_id, "remote_base_url": self.config.base_url, **fields}

    def _send(self, method: str, url: str, *, action: str, timeout: Any = None, **kwargs: Any) -> requests.Response:
        try:
            response = self.session.request(method, url, timeout=timeout or self.config.timeouts, **kwargs)
        except requests.Timeout as exc:
            logger.warning("generation.remote.timeout", extra=self._log_extra(action=action, error=repr(exc)[:300]))
            raise TransientBackendError(f"Remote video API timed out ({action}).") from exc
        except requests.ConnectionError as exc:
            logger.warning("generation.remote.unreachable", extra=self._log_extra(action=action, error=repr(exc)[:300]))
            raise TransientBackendError(f"Remote video API is unreachable ({action}).") from exc
        if response.status_code >= 400:
            with response:
                raise self._http_error(response, action)
        return response

    def _json(self, response: requests.Response, action: str) -> dict[str, Any]:
        try:
            body = response.json()
        except requests.JSONDecodeError as exc:
            # A 2xx that is not JSON comes from a proxy or maintenance page, not from the API.
            raise TransientBackendError(f"Remote video API sent a non-JSON answer ({action}).") from exc
        if not isinstance(body, dict) or not isinstance(body.get("id"), str) or not isinstance(body.get("status"), str):
            raise TransientBackendError(f"Remote video API sent an unexpected answer ({action}).")
        return body

    def _http_error(self, response: requests.Response, action: str) -> BackendError:
        status = response.status_code
        remote_code, remote_type, message = _remote_error(response)
        extra = self._log_extra(action=action, http_status=status, remote_code=remote_code, remote_message=message[:300])
        if status == 429:
            logger.warning("generation.remote.rate_limited",
                           extra={**extra, "retry_after": response.headers.get("Retry-After", "")})
            return TransientBackendError(f"Remote video API is rate limiting us ({action}): {message}",
                                         code="backend_rate_limited")
        # 409: another request with the same Idempotency-Key is still in flight.
        if status >= 500 or status in (408, 409, 425):
            logger.warning("generation.remote.unavailable", extra=extra)
            return TransientBackendError(f"Remote video API answered {status} ({action}): {message}")
        if status in (401, 403):
            logger.error("generation.remote.auth_failed", extra=extra)
            return PermanentBackendError(f"Remote video API refused our credentials ({status}): {message}",
                                         code="backend_auth_failed")
        if status in (400, 422) and _is_rejection(remote_code, remote_type):
            logger.info("generation.remote.rejected", extra=extra)
            return PermanentBackendError(message, code="backend_rejected")
        logger.error("generation.remote.bad_request", extra=extra)
        return PermanentBackendError(f"Remote video API answered {status} ({action}): {message}",
                                     code="backend_invalid_request")

    def create(self, workdir: Path) -> dict[str, Any]:
        spec = self.spec
        fields = {
            "model": self.config.model,
            # Hosted models take no style parameter; the prompt is the only way to ask for one.
            "prompt": f"{spec.prompt}\n\nStyle: {spec.style}" if spec.style else spec.prompt,
            "seconds": str(spec.duration_seconds),
            "size": f"{spec.width}x{spec.height}",
        }
        headers = {"Idempotency-Key": idempotency_key(spec)}
        if spec.image_path is not None:
            reference = _reference_image(spec, workdir)
            try:
                with open(reference, "rb") as fh:
                    response = self._send("POST", self._url(), action="create", headers=headers, data=fields,
                                          files={"input_reference": (reference.name, fh, "image/jpeg")})
            finally:
                reference.unlink(missing_ok=True)
        else:
            response = self._send("POST", self._url(), action="create", headers=headers, json=fields)
        with response:
            video = self._json(response, "create")
        logger.info("generation.remote.created",
                    extra=self._log_extra(remote_video_id=video["id"], remote_status=video["status"],
                                          with_image=spec.image_path is not None))
        return video

    def wait(self, video: dict[str, Any], progress: ProgressFn) -> None:
        deadline = time.monotonic() + self.config.max_wait
        reported = 0.0
        poll_errors = 0
        while True:
            status = video["status"]
            if status == "completed":
                progress(max(reported, _POLL_SHARE))
                return
            if status not in _PENDING:
                raise self._failed(video)
            reported = max(reported, _fraction(video.get("progress")) * _POLL_SHARE)
            progress(reported)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                # The remote job is left running on purpose: the retried task sends the same
                # Idempotency-Key and picks it up, finished or not.
                logger.warning("generation.remote.gave_up",
                               extra=self._log_extra(remote_video_id=video["id"], remote_status=status,
                                                     max_wait=self.config.max_wait))
                raise TransientBackendError(
                    f"Remote video {video['id']} did not finish within {self.config.max_wait:g} s.",
                    code="backend_timeout",
                )
            time.sleep(min(self.config.poll_interval, remaining))
            try:
                with self._send("GET", self._url(video["id"]), action="poll") as response:
                    video = self._json(response, "poll")
            except TransientBackendError:
                poll_errors += 1
                if poll_errors >= _MAX_CONSECUTIVE_POLL_ERRORS:
                    raise
                continue
            poll_errors = 0

    def _failed(self, video: dict[str, Any]) -> PermanentBackendError:
        error = video.get("error") if isinstance(video.get("error"), dict) else {}
        remote_code = str(error.get("code") or "")
        message = str(error.get("message") or f"Remote video ended with status {video['status']!r}.")
        code = "backend_rejected" if _is_rejection(remote_code, "") else "backend_failed"
        logger.info("generation.remote.failed",
                    extra=self._log_extra(remote_video_id=video["id"], remote_status=video["status"],
                                          remote_code=remote_code, remote_message=message[:300]))
        return PermanentBackendError(message, code=code)

    def download(self, video_id: str, path: Path, progress: ProgressFn) -> Path:
        response = self._send("GET", self._url(video_id, "content"), action="download", params={"variant": "video"},
                              stream=True)
        written = 0
        beat = time.monotonic()
        with response, open(path, "wb") as fh:
            try:
                for chunk in response.iter_content(_CHUNK_BYTES):
                    fh.write(chunk)
                    written += len(chunk)
                    if time.monotonic() - beat >= _HEARTBEAT_SECONDS:
                        progress(_POLL_SHARE)
                        beat = time.monotonic()
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
                logger.warning("generation.remote.download_broken",
                               extra=self._log_extra(remote_video_id=video_id, bytes=written, error=repr(exc)[:300]))
                raise TransientBackendError(f"Download of remote video {video_id} broke off.") from exc
        expected = response.headers.get("Content-Length")
        if expected is not None and expected.isdigit() and int(expected) != written:
            raise TransientBackendError(f"Download of remote video {video_id} was cut short.")
        if written == 0:
            raise PermanentBackendError(f"Remote video {video_id} is empty.", code="backend_failed")
        logger.info("generation.remote.downloaded", extra=self._log_extra(remote_video_id=video_id, bytes=written))
        return path

    def delete(self, video_id: str) -> None:
        try:
            with self._send("DELETE", self._url(video_id), action="delete",
                            timeout=(min(self.config.timeout, _DELETE_TIMEOUT),) * 2):
                pass
        except BackendError as exc:
            logger.info("generation.remote.delete_failed",
                        extra=self._log_extra(remote_video_id=video_id, error_code=exc.code))
            return
        logger.info("generation.remote.deleted", extra=self._log_extra(remote_video_id=video_id))


def _remote_error(response: requests.Response) -> tuple[str, str, str]:
    """(code, type, message) from an OpenAI-style `{"error": {...}}` body, or the raw text."""
    try:
        body = response.json()
    except requests.JSONDecodeError:
        return "", "", (response.text or response.reason or "").strip()[:500]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("code") or ""), str(error.get("type") or ""), str(error.get("message") or "")
    if isinstance(error, str):
        return "", "", error
    return "", "", str(body)[:500]


def _is_rejection(code: str, error_type: str) -> bool:
    text = f"{code} {error_type}".lower()
    return any(marker in text for marker in _REJECTION_MARKERS)


def _fraction(value: Any) -> float:
    try:
        percent = float(value)
    except (TypeError, ValueError):
        return 0.0
    return min(max(percent, 0.0), 100.0) / 100.0 if math.isfinite(percent) else 0.0


def _reference_image(spec: RenderSpec, workdir: Path) -> Path:
    """The input still, cropped to the requested size: hosted image-to-video models refuse a
    reference whose size differs from the video's."""
    target = workdir / "input_reference.jpg"
    try:
        with Image.open(spec.image_path) as img:
            fitted = ImageOps.fit(ImageOps.exif_transpose(img).convert("RGB"), (spec.width, spec.height),
                                  Image.Resampling.LANCZOS)
    except (OSError, UnidentifiedImageError) as exc:
        raise PermanentBackendError("The input image cannot be read.", code="backend_bad_input") from exc
    fitted.save(target, format="JPEG", quality=92)
    return target


def _source_fps(path: Path) -> float:
    with av.open(str(path)) as container:
        if not container.streams.video:
            raise PermanentBackendError("The remote file holds no video stream.", code="backend_failed")
        stream = container.streams.video[0]
        return float(stream.average_rate or stream.guessed_rate or 0)


def _retimed(frames: Iterable[np.ndarray], source_fps: float, spec: RenderSpec) -> Iterator[np.ndarray]:
    """Exactly spec.frame_count frames at spec.fps: output frame i shows the source frame on screen
    at i / fps. A longer clip is cut, a shorter one holds its last frame, because the user is
    charged for, and the feed lays out, the duration they asked for."""
    wanted = spec.frame_count
    ratio = source_fps / spec.fps if source_fps > 0 else 1.0
    emitted = 0
    last = None
    with contextlib.closing(iter(frames)) as source:
        for index, frame in enumerate(source):
            last = frame
            while emitted < wanted and math.floor(emitted * ratio + 1e-6) <= index:
                yield frame
                emitted += 1
            if emitted >= wanted:
                return
    if last is None:
        raise PermanentBackendError("The remote video has no frames.", code="backend_failed")
    while emitted < wanted:
        yield last
        emitted += 1


def _reencode(source: Path, workdir: Path, spec: RenderSpec, progress: ProgressFn) -> RenderOutput:
    video = workdir / "video.mp4"
    poster = workdir / "poster.jpg"
    total = spec.frame_count
    step = max(1, total // 20)

    def frames() -> Iterator[np.ndarray]:
        for i, rgb in enumerate(_retimed(read_frames(source, spec.width, spec.height), fps, spec)):
            yield rgb
            if i % step == 0 or i == total - 1:
                # Stops short of 1.0: the poster is still to come.
                progress(_POLL_SHARE + (1 - _POLL_SHARE) * 0.9 * (i + 1) / total)

    try:
        fps = _source_fps(source)
        first = write_mp4(frames(), video, spec)
    except av.FFmpegError as exc:
        logger.error("generation.remote.undecodable", extra={"job_id": spec.job_id, "error": repr(exc)[:300]})
        raise PermanentBackendError("The remote video cannot be decoded.", code="backend_failed") from exc
    save_poster(first, poster)
    return RenderOutput(video_path=video, poster_path=poster)
