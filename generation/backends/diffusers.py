"""The `diffusers` backend: a real diffusion video pipeline from a local model folder.

The folder (settings.GENERATION_MODEL_DIR) is whatever `save_pretrained` wrote:
model_index.json plus one subfolder per component. Text-to-video for every
pipeline; image-to-video when the job carries a still and the pipeline takes an
`image` argument. Nothing is ever downloaded: workers run without hub access and
a surprise multi-GB download would stall the GPU queue.

torch and diffusers are optional dependencies (the `diffusers` extra), imported
only when rendering, so API processes and CPU workers never pay for them.
"""

from __future__ import annotations

import inspect
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from PIL import Image, UnidentifiedImageError

from .base import PermanentBackendError, ProgressFn, RenderOutput, RenderParams, RenderSpec, TransientBackendError
from .media import save_poster, write_mp4

logger = logging.getLogger(__name__)

# Denoising is nearly all of the work; decoding frames and encoding the MP4 share the rest.
DENOISE_SHARE = 0.9


@dataclass
class _Loaded:
    pipe: Any
    device: str
    # Pipelines keep per-call state (the scheduler's timesteps), so one pipeline
    # must not run two calls at once even if the worker pool is threaded.
    lock: threading.Lock = field(default_factory=threading.Lock)


# One GPU worker renders many jobs and loading takes from seconds to minutes, so
# each process keeps what it loaded, per model folder and device.
_PIPELINES: dict[tuple[str, str], _Loaded] = {}
_LOAD_LOCK = threading.Lock()


class DiffusersBackend:
    name = "diffusers"

    def check(self, params: RenderParams) -> RenderParams:
        return params

    def render(self, spec: RenderSpec, workdir: Path, progress: ProgressFn) -> RenderOutput:
        model_dir = _model_dir()
        torch = _import_torch()
        progress(0.0)
        loaded = _pipeline(model_dir, torch)
        # Loading may have taken minutes: report before the first step so the job does not look stalled.
        progress(0.0)
        with loaded.lock:
            frames = _generate(loaded, spec, progress, torch)
        frames = _resample(frames, spec.frame_count)

        video = workdir / "video.mp4"
        poster = workdir / "poster.jpg"
        first = write_mp4(_encode_progress(frames, progress), video, spec)
        save_poster(first, poster)
        return RenderOutput(video_path=video, poster_path=poster)


def _model_dir() -> Path:
    configured = getattr(settings, "GENERATION_MODEL_DIR", "") or ""
    if not str(configured).strip():
        raise PermanentBackendError("GENERATION_MODEL_DIR is not set.", code="model_not_configured")
    path = Path(configured).expanduser()
    if not (path / "model_index.json").is_file():
        raise PermanentBackendError(f"No diffusers model (model_index.json) in {path}.", code="model_not_found")
    return path.resolve()


def _import_torch():
    # Imported here, not at the top: torch and diffusers are the optional 'diffusers' extra
    # (GPU workers only), and the API and CPU workers must load this module without them.
    try:
        import torch
        import diffusers  # noqa: F401  (fail here, not halfway through loading)
    except ImportError as exc:
        raise PermanentBackendError(
            f"The diffusers backend needs torch and diffusers installed (the 'diffusers' extra): {exc}",
            code="backend_not_installed",
        ) from exc
    return torch


def _pipeline(model_dir: Path, torch) -> _Loaded:
    device = "cuda" if torch.cuda.is_available() else "cpu"
    key = (str(model_dir), device)
    with _LOAD_LOCK:
        loaded = _PIPELINES.get(key)
        if loaded is None:
            loaded = _PIPELINES[key] = _Loaded(_load(model_dir, device, torch), device)
    return loaded


def _load(model_dir: Path, device: str, torch):
    from diffusers import DiffusionPipeline  # the optional extra, see _import_torch

    # bfloat16 halves memory on the GPU with the range of float32 (no fp16 overflow
    # to NaN frames); CPUs lack fast bfloat16 kernels, so they stay in float32.
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    logger.info("diffusers.load", extra={"model_dir": str(model_dir), "device": device})
    try:
        pipe = DiffusionPipeline.from_pretrained(str(model_dir), dtype=dtype, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise PermanentBackendError(f"Cannot load the model in {model_dir}: {exc}", code="model_invalid") from exc
    try:
        pipe = pipe.to(device)
    except torch.cuda.OutOfMemoryError as exc:
        torch.cuda.empty_cache()
        raise TransientBackendError("Not enough free GPU memory to load the model.", code="gpu_busy") from exc
    # tqdm bars would flood worker logs; progress goes through the job instead.
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _generate(loaded: _Loaded, spec: RenderSpec, progress: ProgressFn, torch) -> list[np.ndarray]:
    pipe = loaded.pipe
    params = inspect.signature(pipe.__call__).parameters
    steps = int(settings.GENERATION_INFERENCE_STEPS)
    model_w, model_h = _multiple_of_8(spec.width), _multiple_of_8(spec.height)

    kwargs: dict[str, Any] = {
        "num_inference_steps": steps,
        "generator": torch.Generator(device=loaded.device).manual_seed(spec.seed),
        "output_type": "np",
    }
    optional = {
        "prompt": f"{spec.prompt}, {spec.style}" if spec.style else spec.prompt,
        "height": model_h,
        "width": model_w,
        "num_frames": _model_frame_count(pipe, spec.frame_count),
    }
    kwargs.update({k: v for k, v in optional.items() if k in params})

    takes_image = "image" in params
    if spec.kind == "image_to_video" and not takes_image:
        raise PermanentBackendError("The configured model cannot start from an image.", code="image_not_supported")
    if takes_image and spec.image_path is not None:
        kwargs["image"] = _load_image(spec.image_path, model_w, model_h)
    elif takes_image and params["image"].default is inspect.Parameter.empty:
        raise PermanentBackendError("The configured model needs a starting image.", code="image_required")

    reported = [0.0]

    def report(done_steps: int, total_steps: int) -> None:
        fraction = min(done_steps / max(total_steps, 1), 1.0) * DENOISE_SHARE
        # Schedulers of higher order can report a step twice; progress must never go back.
        if fraction > reported[0]:
            reported[0] = fraction
            progress(fraction)

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

    logger.info("diffusers.render", extra={"job": spec.job_id, "steps": steps, "device": loaded.device,
                                            "width": model_w, "height": model_h, "frames": kwargs.get("num_frames")})
    try:
        with torch.inference_mode():
            output = pipe(**kwargs)
    except torch.cuda.OutOfMemoryError as exc:
        # Free the cached blocks of the failed call so the retry (or the next job) starts clean.
        torch.cuda.empty_cache()
        raise TransientBackendError("The GPU ran out of memory; retry later.", code="gpu_busy") from exc
    return _to_rgb_frames(output.frames[0], spec.width, spec.height)


def _multiple_of_8(size: int) -> int:
    # VAEs downsample by 8, so latents need whole pixels; the frames are resized back to the exact size.
    return max(8, int(round(size / 8)) * 8)


def _model_frame_count(pipe, wanted: int) -> int:
    # Video VAEs that compress time (Wan, LTX, CogVideoX...) take 1 + a multiple of their temporal factor.
    temporal = getattr(pipe, "vae_scale_factor_temporal", None)
    if isinstance(temporal, int) and temporal > 1:
        return max(1, round((wanted - 1) / temporal)) * temporal + 1
    return wanted


def _load_image(path: Path, width: int, height: int) -> Image.Image:
    try:
        with Image.open(path) as img:
            return img.convert("RGB").resize((width, height), Image.Resampling.LANCZOS)
    except (OSError, UnidentifiedImageError) as exc:
        raise PermanentBackendError(f"Cannot read the starting image: {exc}", code="image_unreadable") from exc


def _to_rgb_frames(video: Any, width: int, height: int) -> list[np.ndarray]:
    """Pipeline output (one video: F x H x W x C floats in [0, 1], or PIL images) -> exact-size uint8 RGB."""
    frames = []
    for frame in video:
        if isinstance(frame, Image.Image):
            img = frame.convert("RGB")
        else:
            arr = np.asarray(frame, dtype=np.float32)
            if arr.ndim == 2:
                arr = arr[:, :, None]
            if arr.shape[2] == 1:
                arr = np.repeat(arr, 3, axis=2)
            rgb = (np.clip(arr[:, :, :3], 0.0, 1.0) * 255.0).round().astype(np.uint8)
            img = Image.fromarray(rgb)
        if img.size != (width, height):
            img = img.resize((width, height), Image.Resampling.LANCZOS)
        frames.append(np.asarray(img, dtype=np.uint8))
    if not frames:
        raise PermanentBackendError("The model returned no frames.", code="no_frames")
    return frames


def _resample(frames: list[np.ndarray], count: int) -> list[np.ndarray]:
    # Models have their own frame-count rules; the clip must still last exactly what was paid for,
    # so frames are repeated or dropped evenly (keeping the first, which becomes the poster).
    if len(frames) == count:
        return frames
    return [frames[i * len(frames) // count] for i in range(count)]


def _encode_progress(frames: list[np.ndarray], progress: ProgressFn):
    n = len(frames)
    step = max(1, n // 10)
    for i, frame in enumerate(frames):
        yield frame
        if (i + 1) % step == 0 or i == n - 1:
            progress(DENOISE_SHARE + (1.0 - DENOISE_SHARE) * (i + 1) / n)
