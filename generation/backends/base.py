"""The one small interface every video backend implements.

A backend turns a RenderSpec into an MP4 and a poster image in a work folder,
calling `progress(fraction)` as it goes. `progress` may raise JobCanceled (the
user canceled; stop now) and doubles as the worker's heartbeat, so call it at
least every few seconds. Errors: TransientBackendError (worth retrying later:
timeouts, 5xx, busy GPU) or PermanentBackendError (this request will never work).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from datetime import datetime
from typing import Callable, Protocol

ProgressFn = Callable[[float], None]


@dataclass(frozen=True, kw_only=True)
class RenderParams:
    """What a person asks for: the one record of a render's parameters. Submission validates
    and fingerprints it; a job stores it; the worker turns the job into a RenderSpec."""

    kind: str  # "text_to_video" | "image_to_video" | "remix"
    prompt: str
    duration_seconds: int
    width: int
    height: int
    seed: int | None = None  # None: the service picks one
    style: str = ""
    cameo_count: int = 0  # how many cameos the job carries (their media reach the RenderSpec)


@dataclass(frozen=True, kw_only=True)
class RenderSpec(RenderParams):
    """A job's parameters as a backend renders them: local files, the frame rate, a seed."""

    job_id: str
    fps: int
    seed: int
    image_path: Path | None = None  # the uploaded still for image_to_video
    source_video_path: Path | None = None  # the source clip of a remix, when the backend can use it
    watermark_text: str | None = None  # e.g. "@handle"; None means no watermark
    metadata: dict[str, str] = field(default_factory=dict)  # written into the MP4 container
    # Cameos (at most two), in the order asked: each one's reference frame (a local JPEG of the
    # person, from their verification clip), the name prompts use for them, and the owner's
    # restrictions the render must honour. Backends that cannot condition on a person must
    # refuse in `check` rather than render someone else.
    cameo_image_paths: tuple[Path, ...] = ()
    cameo_names: tuple[str, ...] = ()
    cameo_restrictions: tuple[str, ...] = ()
    # Hosted backends: where the provider's job id is kept (None: not a hosted render).
    remote: RemoteJobLink | None = field(default=None, compare=False, repr=False)
    # A remix's source as the same provider knows it (its remote id), when it rendered it.
    source_remote_id: str = ""

    @property
    def frame_count(self) -> int:
        return self.duration_seconds * self.fps


def cameos_asked(params: RenderParams) -> int:
    """How many people the render must show: counted at submit, or from the spec's media."""
    return max(params.cameo_count, len(getattr(params, "cameo_image_paths", ()) or ()))


def check_single_reference(params: RenderParams, *, takes_image: bool, field: str = "cameo_ids") -> None:
    """For backends whose one way to condition on a person is their starting/reference image:
    at most one cameo, and not together with an uploaded image (it would take the same slot).
    Raises UnsupportedRequest `cameos_not_supported`."""
    from django.utils.translation import gettext as _

    count = cameos_asked(params)
    if count == 0:
        return
    if not takes_image:
        raise UnsupportedRequest(_("This video model cannot put a cameo in a video."), code="cameos_not_supported",
                                 field=field)
    if count > 1:
        raise UnsupportedRequest(_("This video model can put only one cameo in a video."),
                                 code="cameos_not_supported", field=field)
    if params.kind == "image_to_video":
        raise UnsupportedRequest(_("This video model cannot use an image and a cameo together."),
                                 code="cameos_not_supported", field=field)


def conditioning_image(spec: RenderSpec) -> Path | None:
    """The still a backend conditions on: the uploaded image, else the cameo's reference frame
    (check_single_reference let at most one through)."""
    if spec.image_path is not None:
        return spec.image_path
    return spec.cameo_image_paths[0] if spec.cameo_image_paths else None


@dataclass(frozen=True)
class RenderOutput:
    video_path: Path  # H.264 MP4, yuv420p, faststart
    poster_path: Path  # JPEG


class JobCanceled(Exception):
    """Raised from a progress callback: the job was canceled while rendering."""


class BackendError(Exception):
    code = "backend_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code:
            self.code = code


class TransientBackendError(BackendError):
    """Retry later with backoff; `retry_after` (seconds) when the provider said how long to wait."""

    code = "backend_unavailable"

    def __init__(self, message: str, *, code: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class PermanentBackendError(BackendError):
    """Fail the job; the credits are released."""

    code = "backend_failed"


class ProviderQuotaExhausted(PermanentBackendError):
    """The provider will not take more work from this account (billing quota, not a rate limit):
    permanent for that provider until staff act; the job may go to another one."""

    code = "provider_quota_exhausted"


class RemoteJobLink(Protocol):
    """The provider's job id as our job stores it. `record` commits at once, before polling, so
    a worker that dies after the create leaves the id for the next one to resume."""

    remote_id: str

    def record(self, remote_id: str, *, expires_at: datetime | None = None) -> None: ...

    def forget(self, *, reason: str) -> None:
        """The remote job is gone (failed or expired at the provider): the next create is allowed."""
        ...


class UnsupportedRequest(BackendError):
    """Raised by `check`: this backend cannot serve the request as asked. Submission refuses it
    (400, `code` on `field`) before anything is charged."""

    code = "request_not_supported"

    def __init__(self, message: str, *, code: str, field: str) -> None:
        super().__init__(message, code=code)
        self.field = field


class VideoBackend(Protocol):
    name: str
    # True when the backend's MP4 already carries spec.watermark_text (it encodes through
    # media.Mp4Writer, which draws the moving mark); otherwise the worker draws it afterwards.
    draws_watermark: bool

    def check(self, params: RenderParams) -> RenderParams:
        """At submit, before any charge: the params this backend will render (the same, or
        mapped where the request leaves it a choice), or UnsupportedRequest."""
        ...

    def render(self, spec: RenderSpec, workdir: Path, progress: ProgressFn) -> RenderOutput: ...
