"""What every hosted backend does locally: fit the input still to the provider's size, and
re-encode the provider's clip into what the app serves.

The re-encode is not optional: hosted models return their own frame rate, size, pixel format
and container layout, and everything the app serves must carry our watermark and metadata, be
yuv420p with faststart, and match the size and length the user paid for.
"""

from __future__ import annotations

import contextlib
import logging
import math
from pathlib import Path
from typing import Iterable, Iterator

import av
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..base import PermanentBackendError, ProgressFn, RenderOutput, RenderSpec
from ..media import read_frames, save_poster, write_mp4

logger = logging.getLogger(__name__)

# Remote progress covers 0..90 % of ours; download and re-encode take the rest.
POLL_SHARE = 0.9


def reference_image(image: Path, size: tuple[int, int], workdir: Path) -> Path:
    """The input still, cropped to the size asked of the provider: hosted image-to-video models
    refuse a reference whose size differs from the video's."""
    target = workdir / "input_reference.jpg"
    try:
        with Image.open(image) as img:
            fitted = ImageOps.fit(ImageOps.exif_transpose(img).convert("RGB"), size,
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


def reencode(source: Path, workdir: Path, spec: RenderSpec, progress: ProgressFn) -> RenderOutput:
    video = workdir / "video.mp4"
    poster = workdir / "poster.jpg"
    total = spec.frame_count
    step = max(1, total // 20)

    def frames() -> Iterator[np.ndarray]:
        for i, rgb in enumerate(_retimed(read_frames(source, spec.width, spec.height), fps, spec)):
            yield rgb
            if i % step == 0 or i == total - 1:
                # Stops short of 1.0: the poster is still to come.
                progress(POLL_SHARE + (1 - POLL_SHARE) * 0.9 * (i + 1) / total)

    try:
        fps = _source_fps(source)
        first = write_mp4(frames(), video, spec)
    except av.FFmpegError as exc:
        logger.error("generation.remote.undecodable", extra={"job_id": spec.job_id, "error": repr(exc)[:300]})
        raise PermanentBackendError("The remote video cannot be decoded.", code="backend_failed") from exc
    save_poster(first, poster)
    return RenderOutput(video_path=video, poster_path=poster)


def first_frame(video: Path, workdir: Path) -> Path:
    """A remix's source as a still, for providers that cannot remix by id (image-to-video instead)."""
    target = workdir / "source_frame.png"
    try:
        with av.open(str(video)) as container:
            frame = next(container.decode(video=0))
            frame.to_image().save(target)
    except (av.FFmpegError, StopIteration) as exc:
        raise PermanentBackendError("The remix source cannot be decoded.", code="backend_bad_input") from exc
    return target
