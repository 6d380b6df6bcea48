"""The `diffusers` backend: a real diffusion video pipeline from a local model folder.

The folder (settings.GENERATION_MODEL_DIR) is whatever `save_pretrained` wrote:
model_index.json plus one subfolder per component. Each model family has a
profile (profiles.py: sizes, frame rules, frame rate, defaults) that submission
reads without torch to refuse what the model cannot render before any charge,
and that the worker renders from: at the model's own rate, frame count and
size grid, then resampled and cropped to exactly the clip that was asked for
(plan.py). Image jobs go to the pipeline itself when it takes an image, or to
an image pipeline sharing its weights (`from_pipe`).

torch and diffusers are optional dependencies (the `diffusers` extra), imported
only when rendering, so API processes and CPU workers never pay for them.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from django.conf import settings

from ..base import (
    PermanentBackendError,
    ProgressFn,
    RenderOutput,
    RenderParams,
    RenderSpec,
    UnsupportedRequest,
    cameos_asked,
    check_single_reference,
    conditioning_image,
)
from ..media import save_poster, write_mp4
from .heartbeat import Heartbeat
from .pipeline import get_pipeline, import_torch
from .plan import plan
from .profiles import Profile, profile_for, profile_of_class
from .render import DENOISE_SHARE, generate

logger = logging.getLogger(__name__)


class DiffusersBackend:
    name = "diffusers"
    draws_watermark = True  # its frames are encoded by write_mp4, which draws it

    def check(self, params: RenderParams) -> RenderParams:
        """Refuses at submit what the configured model cannot render (from its profile; no torch)."""
        try:
            profile = profile_for(model_dir())
        except PermanentBackendError:
            class_name = settings.GENERATION_MODEL_CLASS
            if not class_name:
                # A worker-side problem (no model folder here), not the user's request: the job is
                # accepted, and fails on the worker with its code and the credits released.
                logger.warning("diffusers.check_skipped", extra={"model_dir": settings.GENERATION_MODEL_DIR})
                return params
            profile = profile_of_class(class_name, settings.GENERATION_MODEL_DIR)
        # A cameo conditions the render as its starting image (image-to-video), where the model takes one.
        check_single_reference(params, takes_image=profile.takes_images)
        plan(profile, params, settings.GENERATION_FPS,
             has_image=params.kind == "image_to_video" or cameos_asked(params) > 0)
        return params

    def render(self, spec: RenderSpec, workdir: Path, progress: ProgressFn) -> RenderOutput:
        folder = model_dir()
        profile = profile_for(folder)
        if spec.image_path is None and spec.cameo_image_paths:
            try:
                check_single_reference(spec, takes_image=profile.takes_images)
            except UnsupportedRequest as exc:
                raise PermanentBackendError(str(exc), code=exc.code) from exc
            spec = dataclasses.replace(spec, image_path=conditioning_image(spec))
        try:
            render_plan = plan(profile, spec, spec.fps, has_image=spec.image_path is not None)
        except UnsupportedRequest as exc:
            # Accepted under another model or profile; this worker's cannot render it.
            raise PermanentBackendError(str(exc), code=exc.code) from exc
        torch = import_torch(profile)
        beat = Heartbeat(progress, settings.GENERATION_HEARTBEAT_INTERVAL)
        with beat:
            beat(0.0)
            loaded = get_pipeline(folder, profile, torch)
            # Loading may have taken minutes: report before the first step so the job does not look stalled.
            beat(0.0)
            with loaded.lock:
                rendered = generate(loaded, profile, spec, render_plan, beat, torch)

        video = workdir / "video.mp4"
        poster = workdir / "poster.jpg"
        first = write_mp4(_encode_progress(rendered.frames, progress), video, spec, audio=rendered.audio,
                          audio_rate=rendered.sample_rate)
        save_poster(first, poster)
        return RenderOutput(video_path=video, poster_path=poster)


def model_dir() -> Path:
    configured = getattr(settings, "GENERATION_MODEL_DIR", "") or ""
    if not str(configured).strip():
        raise PermanentBackendError("GENERATION_MODEL_DIR is not set.", code="model_not_configured")
    path = Path(configured).expanduser()
    if not (path / "model_index.json").is_file():
        raise PermanentBackendError(f"No diffusers model (model_index.json) in {path}.", code="model_not_found")
    return path.resolve()


def _encode_progress(frames, progress: ProgressFn):
    n = len(frames)
    step = max(1, n // 10)
    for i, frame in enumerate(frames):
        yield frame
        if (i + 1) % step == 0 or i == n - 1:
            progress(DENOISE_SHARE + (1.0 - DENOISE_SHARE) * (i + 1) / n)


__all__ = ["DiffusersBackend", "Profile", "model_dir", "profile_for"]
