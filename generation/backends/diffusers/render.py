"""One call of a loaded pipeline: its arguments from the profile, step progress, errors."""

from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from PIL import Image, UnidentifiedImageError

from ..base import PermanentBackendError, ProgressFn, RenderSpec, TransientBackendError
from .pipeline import Loaded, image_pipeline
from .plan import RenderPlan, cover, frame_indices, to_rgb
from .profiles import IMAGE_REQUIRED, Profile

logger = logging.getLogger(__name__)

# Denoising is nearly all of the work; decoding frames and encoding the MP4 share the rest.
DENOISE_SHARE = 0.9
# What a pipeline raises for inputs or states it cannot handle (shape mismatches, bad sizes, a
# helper it failed to import). Retrying the same request gives the same error: the job fails now.
PIPELINE_ERRORS = (RuntimeError, ValueError, TypeError, IndexError, KeyError, AttributeError, NameError,
                   AssertionError, ZeroDivisionError)


@dataclass
class Rendered:
    frames: list[np.ndarray]  # exact size, the job's frame count
    audio: np.ndarray | None = None  # samples x channels, float32 in [-1, 1], trimmed to the clip
    sample_rate: int = 0


def _steps(profile: Profile) -> int:
    return int(settings.GENERATION_INFERENCE_STEPS) or profile.steps


def call_kwargs(pipe, profile: Profile, spec: RenderSpec, plan: RenderPlan, torch, device: str) -> dict[str, Any]:
    params = inspect.signature(pipe.__call__).parameters
    kwargs: dict[str, Any] = {
        "num_inference_steps": _steps(profile),
        "generator": torch.Generator(device=device).manual_seed(spec.seed),
        "output_type": "np",
    }
    optional: dict[str, Any] = {
        "prompt": f"{spec.prompt}, {spec.style}" if spec.style else spec.prompt,
        "height": plan.height,
        "width": plan.width,
        "num_frames": plan.num_frames,
    }
    if profile.guidance is not None:
        optional["guidance_scale"] = profile.guidance
    if profile.negative_prompt:
        optional["negative_prompt"] = profile.negative_prompt
    if profile.max_sequence_length:
        optional["max_sequence_length"] = profile.max_sequence_length
    if profile.fps_argument:
        optional[profile.fps_argument] = plan.fps
    optional.update(profile.extra)
    kwargs.update({k: v for k, v in optional.items() if k in params})
    return kwargs


def pick_pipeline(loaded: Loaded, profile: Profile, spec: RenderSpec):
    """The pipeline for this job, and the starting image it takes (or None)."""
    if spec.kind == "image_to_video" and spec.image_path is None:
        raise PermanentBackendError("An image_to_video job needs its image.", code="image_required")
    if spec.image_path is None:
        image = inspect.signature(loaded.pipe.__call__).parameters.get("image")
        if image is not None and image.default is inspect.Parameter.empty:
            raise PermanentBackendError(f"{profile.family} needs a starting image.", code="image_required")
        return loaded.pipe, None
    pipe = image_pipeline(loaded, profile)
    if "image" not in inspect.signature(pipe.__call__).parameters:
        raise PermanentBackendError(f"{profile.family} cannot start from an image.", code="image_not_supported")
    return pipe, spec.image_path


def _load_image(path: Path, width: int, height: int) -> Image.Image:
    try:
        with Image.open(path) as img:
            return cover(img.convert("RGB"), width, height)
    except (OSError, UnidentifiedImageError) as exc:
        raise PermanentBackendError(f"Cannot read the starting image: {exc}", code="image_unreadable") from exc


def generate(loaded: Loaded, profile: Profile, spec: RenderSpec, plan: RenderPlan, progress: ProgressFn,
             torch) -> Rendered:
    pipe, image_path = pick_pipeline(loaded, profile, spec)
    if image_path is None and profile.image == IMAGE_REQUIRED:
        raise PermanentBackendError(f"{profile.family} needs a starting image.", code="image_required")
    kwargs = call_kwargs(pipe, profile, spec, plan, torch, loaded.device)
    if image_path is not None:
        kwargs["image"] = _load_image(image_path, plan.width, plan.height)
    steps = kwargs["num_inference_steps"]
    reported = [0.0]

    def report(done_steps: int, total_steps: int) -> None:
        fraction = min(done_steps / max(total_steps, 1), 1.0) * DENOISE_SHARE
        # Schedulers of higher order can report a step twice; progress must never go back.
        if fraction > reported[0]:
            reported[0] = fraction
            progress(fraction)

    params = inspect.signature(pipe.__call__).parameters
    if "callback_on_step_end" in params:
        def on_step_end(pipeline, step: int, timestep, callback_kwargs: dict) -> dict:
            # Multistep schedulers run more timesteps than num_inference_steps; the pipeline knows how many.
            report(step + 1, getattr(pipeline, "_num_timesteps", None) or steps)
            return callback_kwargs

        kwargs["callback_on_step_end"] = on_step_end
    elif "callback" in params:
        def on_step(step: int, timestep, latents) -> None:
            report(step + 1, steps)

        kwargs["callback"] = on_step
        if "callback_steps" in params:
            kwargs["callback_steps"] = 1

    logger.info("diffusers.render", extra={
        "job": spec.job_id, "family": profile.family, "pipeline": type(pipe).__name__, "steps": steps,
        "device": loaded.device, "width": plan.width, "height": plan.height, "frames": plan.num_frames,
        "fps": plan.fps})
    try:
        with torch.inference_mode():
            output = pipe(**kwargs)
    except torch.cuda.OutOfMemoryError as exc:
        # Free the cached blocks of the failed call so the retry (or the next job) starts clean.
        torch.cuda.empty_cache()
        raise TransientBackendError("The GPU ran out of memory; retry later.", code="gpu_busy") from exc
    except PIPELINE_ERRORS as exc:
        logger.warning("diffusers.render_failed", extra={"job": spec.job_id, "family": profile.family,
                                                         "error": f"{type(exc).__name__}: {exc}"[:500]})
        raise PermanentBackendError(f"The model could not render this request ({type(exc).__name__}: {exc})",
                                    code="render_failed") from exc
    rendered = Rendered(frames=_exact_frames(output.frames[0], plan))
    audio = getattr(output, "audio", None)
    if profile.audio and audio is not None:
        rendered.audio, rendered.sample_rate = _audio(audio, pipe, plan)
    return rendered


def _exact_frames(video: Any, plan: RenderPlan) -> list[np.ndarray]:
    """The model's frames -> the job's frames: nearest in time, covering the exact size."""
    video = list(video)
    if not video:
        raise PermanentBackendError("The model returned no frames.", code="no_frames")
    converted: dict[int, np.ndarray] = {}
    out = []
    for index in frame_indices(plan, len(video)):
        if index not in converted:
            img = cover(to_rgb(video[index]), plan.out_width, plan.out_height)
            converted[index] = np.asarray(img, dtype=np.uint8)
        out.append(converted[index])
    return out


def _audio(audio: Any, pipe, plan: RenderPlan) -> tuple[np.ndarray | None, int]:
    rate = getattr(getattr(getattr(pipe, "vocoder", None), "config", None), "output_sampling_rate", None) or \
        getattr(pipe, "audio_sampling_rate", None)
    if not rate:
        return None, 0
    samples = audio[0]
    samples = samples.float().cpu().numpy() if hasattr(samples, "cpu") else np.asarray(samples, dtype=np.float32)
    if samples.ndim == 1:
        samples = samples[:, None]
    elif samples.shape[0] < samples.shape[1]:  # channels first
        samples = samples.T
    keep = int(round(plan.out_frames / plan.out_fps * rate))
    return np.clip(samples[:keep], -1.0, 1.0).astype(np.float32), int(rate)
