"""From a request to what the model renders, and back to the exact clip that was paid for.

The model renders at its native frame rate, a frame count its VAE accepts
(temporal_factor * k + 1) and a size on its grid (multiples of size_multiple,
no larger than its trained area). The frames are then resampled in time to the
job's rate (each output frame takes the model frame nearest its timestamp, so
motion keeps its speed) and scaled to cover the requested size with the
aspect ratio kept, the overflow cropped evenly from both sides (never
stretched, never padded).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..base import RenderParams, UnsupportedRequest
from .profiles import IMAGE_REQUIRED, Profile


@dataclass(frozen=True)
class RenderPlan:
    width: int  # what the model renders
    height: int
    num_frames: int
    fps: int  # the model's rate
    out_width: int  # what the job gets
    out_height: int
    out_frames: int
    out_fps: int


def _on_grid(value: float, multiple: int) -> int:
    return max(multiple, int(round(value / multiple)) * multiple)


def model_size(profile: Profile, width: int, height: int) -> tuple[int, int]:
    if profile.fixed_size:
        return profile.fixed_size
    scale = 1.0
    if profile.max_pixels and width * height > profile.max_pixels:
        scale = math.sqrt(profile.max_pixels / (width * height))
    m = profile.size_multiple
    w, h = _on_grid(width * scale, m), _on_grid(height * scale, m)
    # Rounding up may cross the trained area; step the longer side down one notch then.
    while profile.max_pixels and w * h > profile.max_pixels and max(w, h) > m:
        if w >= h:
            w -= m
        else:
            h -= m
    return w, h


def model_frames(profile: Profile, duration_seconds: int, out_fps: int) -> tuple[int, int]:
    """(frames, fps) the model renders so the clip covers `duration_seconds` at its own rate."""
    fps = profile.native_fps or out_fps
    needed = duration_seconds * fps  # frames at t = 0, 1/fps, ... up to the clip's last output frame
    t = max(1, profile.temporal_factor)
    if t == 1:
        return needed, fps
    return t * math.ceil((needed - 1) / t) + 1, fps


def _orientation(w: int, h: int) -> int:
    return (w > h) - (w < h)


def plan(profile: Profile, params: RenderParams, out_fps: int, *, has_image: bool) -> RenderPlan:
    """The render plan of a request, or UnsupportedRequest for what this model cannot render."""
    if has_image and not profile.takes_images:
        raise UnsupportedRequest(f"{profile.family} cannot start from an image.", code="image_not_supported",
                                 field="image")
    if not has_image and profile.image == IMAGE_REQUIRED:
        raise UnsupportedRequest(f"{profile.family} needs a starting image.", code="image_required", field="image")
    if profile.fixed_size and _orientation(*profile.fixed_size) != _orientation(params.width, params.height):
        fw, fh = profile.fixed_size
        raise UnsupportedRequest(f"{profile.family} renders {fw}x{fh} only; ask for a size of that orientation.",
                                 code="size_not_supported", field="size")
    frames, fps = model_frames(profile, params.duration_seconds, out_fps)
    if profile.max_frames and frames > profile.max_frames:
        longest = _longest(profile, out_fps)
        raise UnsupportedRequest(
            f"{profile.family} renders at most {longest} s per clip." if longest else
            f"{profile.family} cannot render a clip this long.", code="duration_not_supported",
            field="duration_seconds")
    w, h = model_size(profile, params.width, params.height)
    return RenderPlan(width=w, height=h, num_frames=frames, fps=fps, out_width=params.width,
                      out_height=params.height, out_frames=params.duration_seconds * out_fps, out_fps=out_fps)


def _longest(profile: Profile, out_fps: int) -> int:
    seconds = 0
    while model_frames(profile, seconds + 1, out_fps)[0] <= (profile.max_frames or 0):
        seconds += 1
    return seconds


def frame_indices(plan_: RenderPlan, rendered: int) -> list[int]:
    """For each output frame, the model frame nearest its timestamp (clamped to what was rendered)."""
    last = max(rendered - 1, 0)
    return [min(last, int(math.floor(j * plan_.fps / plan_.out_fps + 0.5))) for j in range(plan_.out_frames)]


def cover(img: Image.Image, width: int, height: int) -> Image.Image:
    """Scale to cover width x height keeping the aspect ratio, then crop the overflow evenly."""
    if img.size == (width, height):
        return img
    scale = max(width / img.width, height / img.height)
    sw, sh = max(width, round(img.width * scale)), max(height, round(img.height * scale))
    img = img.resize((sw, sh), Image.Resampling.LANCZOS)
    left, top = (sw - width) // 2, (sh - height) // 2
    return img.crop((left, top, left + width, top + height))


def to_rgb(frame) -> Image.Image:
    """One frame of pipeline output (H x W x C floats in [0, 1], or a PIL image) as an RGB image."""
    if isinstance(frame, Image.Image):
        return frame.convert("RGB")
    arr = np.asarray(frame, dtype=np.float32)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    return Image.fromarray((np.clip(arr[:, :, :3], 0.0, 1.0) * 255.0).round().astype(np.uint8))

