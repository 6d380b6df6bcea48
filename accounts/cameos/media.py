"""The verification clip, read with PyAV: nothing but a real, short video with sound is kept."""

from __future__ import annotations

import io
import tempfile
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext as _

from config.errors import ApplicationError

ALLOWED_VIDEO_CODECS = {"h264", "hevc", "vp8", "vp9", "av1"}
ALLOWED_CONTAINERS = {"mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm"}
SPEECH_RATE = 16000  # what the offline checker's acoustic model expects


@dataclass(frozen=True)
class ClipInfo:
    duration_seconds: float
    width: int
    height: int
    codec: str
    has_audio: bool


def _clip_error(code: str, message: str) -> ApplicationError:
    return ApplicationError(message, code=code, fields={"clip": [{"code": code, "message": message}]})


def clip_check(clip: UploadedFile) -> tuple[ClipInfo, bytes]:
    """Size, container, codec, length and an audio track, before anything is stored. Returns the
    facts and a JPEG of the middle frame (the reference image backends get)."""
    if clip.size > settings.CAMEO_CLIP_MAX_BYTES:
        raise _clip_error("clip_too_large", _("The clip must be at most %(mb)d MB.")
                          % {"mb": settings.CAMEO_CLIP_MAX_BYTES // (1024 * 1024)})
    clip.seek(0)
    try:
        with av.open(clip, mode="r") as container:
            if container.format.name not in ALLOWED_CONTAINERS:
                raise _clip_error("clip_format_unsupported", _("Send an MP4, MOV or WebM video."))
            if not container.streams.video:
                raise _clip_error("clip_invalid", _("The file has no video."))
            stream = container.streams.video[0]
            codec = stream.codec_context.name
            if codec not in ALLOWED_VIDEO_CODECS:
                raise _clip_error("clip_codec_unsupported", _("Record the clip as H.264, HEVC, VP9 or AV1."))
            duration = _duration(container, stream)
            if not settings.CAMEO_CLIP_MIN_SECONDS <= duration <= settings.CAMEO_CLIP_MAX_SECONDS:
                raise _clip_error("clip_length", _("The clip must be %(min)d-%(max)d seconds long.")
                                  % {"min": settings.CAMEO_CLIP_MIN_SECONDS, "max": settings.CAMEO_CLIP_MAX_SECONDS})
            if stream.codec_context.width * stream.codec_context.height > settings.CAMEO_CLIP_MAX_PIXELS:
                raise _clip_error("clip_too_many_pixels", _("The clip's picture is too large."))
            has_audio = bool(container.streams.audio)
            if not has_audio:
                raise _clip_error("clip_no_audio", _("Say the phrase out loud: the clip needs sound."))
            reference = _middle_frame(container, stream, duration)
            info = ClipInfo(duration_seconds=duration, width=stream.codec_context.width,
                            height=stream.codec_context.height, codec=codec, has_audio=has_audio)
    except ApplicationError:
        raise
    except (av.error.FFmpegError, ValueError, OSError, IndexError) as exc:
        raise _clip_error("clip_invalid", _("The file is not a video we can read.")) from exc
    clip.seek(0)
    return info, reference


def _duration(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    raise ValueError("no duration")


def _middle_frame(container, stream, duration: float) -> bytes:
    target = duration / 2
    frame_image = None
    for frame in container.decode(stream):
        frame_image = frame.to_image()
        if frame.time is not None and frame.time >= target:
            break
    if frame_image is None:
        raise ValueError("no frames")
    out = io.BytesIO()
    frame_image.convert("RGB").save(out, "JPEG", quality=90)
    return out.getvalue()


def speech_pcm(path: Path | str) -> bytes:
    """The clip's first audio track as 16 kHz mono signed 16-bit PCM, for the speech checker."""
    chunks: list[bytes] = []
    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=SPEECH_RATE)
        for frame in container.decode(audio=0):
            chunks.extend(out.to_ndarray().tobytes() for out in resampler.resample(frame))
        chunks.extend(out.to_ndarray().tobytes() for out in resampler.resample(None))
    return b"".join(chunks)


def write_test_clip(path: Path, *, seconds: float = 3.0, width: int = 320, height: int = 240,
                    audio: np.ndarray | None = None, audio_rate: int = SPEECH_RATE, with_audio: bool = True) -> Path:
    """An H.264 + AAC MP4 (for tests, the demo and the bench): moving colour, the given audio or
    silence."""
    fps = 24
    with av.open(str(path), mode="w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        sound = out.add_stream("aac", rate=audio_rate, layout="mono") if with_audio else None
        for i in range(int(seconds * fps)):
            rgb = np.full((height, width, 3), (40 + i * 3) % 255, dtype=np.uint8)
            rgb[:, : width // 2, 1] = 180
            for packet in video.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        if sound is not None:
            samples = audio if audio is not None else np.zeros(int(seconds * audio_rate), dtype=np.int16)
            frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1).astype(np.int16), format="s16", layout="mono")
            frame.sample_rate = audio_rate
            for packet in sound.encode(frame):
                out.mux(packet)
            for packet in sound.encode():
                out.mux(packet)
    return path


def temp_copy(data: bytes, suffix: str) -> Path:
    with tempfile.NamedTemporaryFile(suffix=suffix, delete=False) as fh:
        fh.write(data)
    return Path(fh.name)
