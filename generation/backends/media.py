"""MP4 writing, poster images, watermarks and probing, shared by the backends.

Everything the app serves is H.264 in an MP4 with the moov atom first
(faststart, so phones start playing before the download ends), yuv420p (the
only chroma layout every phone decodes in hardware), with generator metadata.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterable

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .base import RenderOutput, RenderSpec


@dataclass(frozen=True)
class VideoInfo:
    duration_seconds: float
    width: int
    height: int
    fps: float
    frame_count: int
    bytes: int
    sha256: str
    codec: str
    pix_fmt: str
    metadata: dict[str, str]


def font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


class Overlay:
    """A pre-rendered RGBA patch alpha-blended onto every frame (cheap: numpy on a small box)."""

    def __init__(self, rgba: np.ndarray, x: int, y: int) -> None:
        self.rgb = rgba[:, :, :3].astype(np.float32)
        self.alpha = rgba[:, :, 3:4].astype(np.float32) / 255.0
        self.x, self.y = x, y
        self.h, self.w = rgba.shape[:2]

    def apply(self, frame: np.ndarray) -> np.ndarray:
        return self.apply_at(frame, self.x, self.y)

    def apply_at(self, frame: np.ndarray, x: int, y: int) -> np.ndarray:
        box = frame[y:y + self.h, x:x + self.w].astype(np.float32)
        frame[y:y + self.h, x:x + self.w] = (box * (1 - self.alpha) + self.rgb * self.alpha).astype(np.uint8)
        return frame


def text_overlay(text: str, width: int, height: int, *, size: int, anchor: str, max_lines: int = 3,
                 background: bool = True, typeface: ImageFont.FreeTypeFont | None = None) -> Overlay | None:
    """Text in a translucent box, at the top-right ("watermark"; MovingWatermark moves it) or
    bottom-centre ("caption"), in `typeface` (default: font(size))."""
    if not text:
        return None
    fnt = typeface or font(size)
    margin = max(4, size // 2)
    limit = width - 4 * margin
    lines: list[str] = []
    line = ""
    words = text.split()
    for word in words:
        trial = f"{line} {word}".strip()
        if fnt.getlength(trial) <= limit or not line:
            line = trial
            continue
        lines.append(line)
        line = word
        if len(lines) == max_lines:
            line = ""
            lines[-1] += " …"  # more words than room: say so
            break
    if line:
        lines.append(line)
    lines = [ln if fnt.getlength(ln) <= limit else ln[: max(1, len(ln) * 3 // 4)] + "…" for ln in lines]
    text_w = int(max(fnt.getlength(ln) for ln in lines))
    line_h = size + size // 4
    box_w = min(width - 2 * margin, text_w + 2 * margin)
    box_h = min(height - 2 * margin, line_h * len(lines) + margin)
    img = Image.new("RGBA", (box_w, box_h), (0, 0, 0, 110 if background else 0))
    draw = ImageDraw.Draw(img)
    for i, ln in enumerate(lines):
        draw.text((margin, margin // 2 + i * line_h), ln, font=fnt, fill=(255, 255, 255, 235))
    # The watermark sits top-right so it never covers the caption at the bottom.
    x = width - box_w - margin if anchor == "watermark" else (width - box_w) // 2
    y = margin if anchor == "watermark" else height - box_h - margin
    return Overlay(np.asarray(img), x, y)


class MovingWatermark:
    """The creator's "@handle", moving across the frame so it cannot be cropped or blurred out
    in one place: it bounces off the edges along a path fixed by the job's seed (the same job
    renders the same frames, which the preview backend's determinism relies on). Horizontal and
    vertical periods differ, so over a clip it visits most of the picture. It stays out of the
    bottom fifth, where the caption is."""

    SECONDS_ACROSS = 3.0  # time to cross the free width once
    SECONDS_DOWN = 4.4  # time to cross the free height once (not a multiple: the path does not repeat)

    def __init__(self, text: str, width: int, height: int, *, fps: int, seed: int) -> None:
        size = max(12, height // 28)
        patch = text_overlay(text, width, height, size=size, anchor="watermark", max_lines=1)
        assert patch is not None  # text is not empty
        self.patch = patch
        margin = max(4, size // 2)
        self.x0, self.y0 = margin, margin
        self.span_x = max(0, width - patch.w - 2 * margin)
        self.span_y = max(0, int(height * 0.8) - patch.h - 2 * margin)
        self.fps = max(1, fps)
        rng = random.Random(seed)
        # Where on its path the mark starts, as a fraction of one there-and-back trip.
        self.phase_x, self.phase_y = rng.random(), rng.random()

    @staticmethod
    def _bounce(fraction: float) -> float:
        # A triangle wave in [0, 1]: out and back, one trip per unit.
        fraction %= 1.0
        return 2 * fraction if fraction < 0.5 else 2 - 2 * fraction

    def position(self, index: int) -> tuple[int, int]:
        t = index / self.fps
        x = self.x0 + round(self.span_x * self._bounce(self.phase_x + t / (2 * self.SECONDS_ACROSS)))
        y = self.y0 + round(self.span_y * self._bounce(self.phase_y + t / (2 * self.SECONDS_DOWN)))
        return x, y

    def apply(self, frame: np.ndarray, index: int) -> np.ndarray:
        x, y = self.position(index)
        return self.patch.apply_at(frame, x, y)


def watermark_overlay(spec: RenderSpec) -> MovingWatermark | None:
    if not spec.watermark_text:
        return None
    return MovingWatermark(spec.watermark_text, spec.width, spec.height, fps=spec.fps, seed=spec.seed)


def watermark_output(output: RenderOutput, spec: RenderSpec, workdir: Path) -> RenderOutput:
    """A backend's output with the moving watermark drawn in (and a poster showing it)."""
    video = workdir / "watermarked.mp4"
    poster = workdir / "watermarked-poster.jpg"
    save_poster(watermark_video(output.video_path, video, spec), poster)
    return RenderOutput(video_path=video, poster_path=poster)


def watermark_video(src: Path, dst: Path, spec: RenderSpec) -> np.ndarray:
    """Draws the moving watermark onto a finished MP4 (decode, draw, H.264 encode), for a backend
    that writes its file itself rather than through Mp4Writer. Returns the first marked frame
    (the poster). The spec's size and frame rate are the output's."""
    with av.open(str(src)) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or spec.fps
    fps = int(round(float(rate))) or spec.fps
    out_spec = dataclasses.replace(spec, fps=fps)
    return write_mp4(read_frames(src, spec.width, spec.height), dst, out_spec)


class Mp4Writer:
    """Encodes RGB frames (H x W x 3, uint8) to H.264 MP4 with faststart and metadata."""

    def __init__(self, path: Path, spec: RenderSpec, *, crf: int = 23, preset: str = "superfast",
                 audio_rate: int = 0, audio_channels: int = 0) -> None:
        self.path = path
        self.spec = spec
        self.watermark = watermark_overlay(spec)
        self.container = av.open(str(path), mode="w", format="mp4", options={"movflags": "+faststart"})
        for key, value in spec.metadata.items():
            self.container.metadata[key] = value
        self.stream = self.container.add_stream("libx264", rate=Fraction(spec.fps, 1))
        self.stream.width, self.stream.height = spec.width, spec.height
        self.stream.pix_fmt = "yuv420p"
        self.stream.options = {"crf": str(crf), "preset": preset}
        self.stream.codec_context.time_base = Fraction(1, spec.fps)
        self.audio = None
        if audio_rate:
            # AAC, the audio codec every phone plays inside MP4.
            self.audio = self.container.add_stream("aac", rate=audio_rate)
            self.audio.layout = "stereo" if audio_channels >= 2 else "mono"
        self.first_frame: np.ndarray | None = None
        self.frames = 0

    def write_audio(self, samples: np.ndarray) -> None:
        """All the soundtrack at once: samples x channels, float in [-1, 1]."""
        if self.audio is None:
            raise ValueError("this writer has no audio stream")
        channels = 2 if self.audio.layout.name == "stereo" else 1
        pcm = np.ascontiguousarray(samples[:, :channels].T, dtype=np.float32)
        if pcm.shape[0] < channels:
            pcm = np.repeat(pcm, channels, axis=0)
        frame = av.AudioFrame.from_ndarray(pcm, format="fltp", layout=self.audio.layout.name)
        frame.sample_rate = self.audio.rate
        frame.pts = 0
        for packet in self.audio.encode(frame):
            self.container.mux(packet)

    def write(self, rgb: np.ndarray) -> None:
        if rgb.shape != (self.spec.height, self.spec.width, 3):
            raise ValueError(f"frame is {rgb.shape}, expected {(self.spec.height, self.spec.width, 3)}")
        rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
        if self.watermark is not None:
            rgb = self.watermark.apply(rgb.copy(), self.frames)
        if self.first_frame is None:
            self.first_frame = rgb.copy()
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts = self.frames
        self.frames += 1
        for packet in self.stream.encode(frame):
            self.container.mux(packet)

    def close(self) -> None:
        for packet in self.stream.encode():
            self.container.mux(packet)
        if self.audio is not None:
            for packet in self.audio.encode():
                self.container.mux(packet)
        self.container.close()

    def __enter__(self) -> "Mp4Writer":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.container.close()


def write_mp4(frames: Iterable[np.ndarray], path: Path, spec: RenderSpec, *, audio: np.ndarray | None = None,
              audio_rate: int = 0) -> np.ndarray:
    """Writes all frames (and a soundtrack: samples x channels, floats in [-1, 1], at `audio_rate`);
    returns the first (watermarked) frame for the poster."""
    with_audio = audio is not None and audio_rate > 0 and len(audio) > 0
    with Mp4Writer(path, spec, audio_rate=audio_rate if with_audio else 0,
                   audio_channels=audio.shape[1] if with_audio else 0) as writer:
        if with_audio:
            writer.write_audio(audio)
        for rgb in frames:
            writer.write(rgb)
    if writer.first_frame is None:
        raise ValueError("no frames to write")
    return writer.first_frame


def save_poster(rgb: np.ndarray, path: Path) -> None:
    Image.fromarray(rgb).save(path, format="JPEG", quality=85, optimize=True)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def probe(path: Path) -> VideoInfo:
    """Reads the facts of an MP4 by demuxing and decoding it (so a broken file fails here)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frame_count = sum(1 for _ in container.decode(stream))
        fps = float(stream.average_rate or stream.guessed_rate or 0)
        duration = frame_count / fps if fps else 0.0
        info = VideoInfo(
            duration_seconds=round(duration, 3),
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            fps=round(fps, 3),
            frame_count=frame_count,
            bytes=path.stat().st_size,
            sha256=file_sha256(path),
            codec=stream.codec_context.name,
            pix_fmt=stream.codec_context.pix_fmt or "",
            metadata={k: str(v) for k, v in container.metadata.items()},
        )
    return info


def read_frames(path: Path, width: int, height: int) -> Iterable[np.ndarray]:
    """Decodes a video to RGB frames of the given size (for re-encoding a downloaded clip)."""
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            yield frame.to_ndarray(width=width, height=height, format="rgb24")


def generator_metadata(spec: RenderSpec, backend: str) -> dict[str, str]:
    return {
        "title": spec.prompt[:200],
        "comment": json.dumps({"generator": "clipsocial", "backend": backend, "job": spec.job_id,
                               "seed": spec.seed}, separators=(",", ":")),
    }
