"""Audio and MP4 work of the localisation stages, with PyAV: decode audio to arrays, write WAVs,
and mux the localised MP4 (H.264 copied, or re-encoded with the cues drawn in; the original audio
copied as its own track; a dubbed AAC track per language; the cues as a mov_text subtitle track;
each track tagged by language)."""

from __future__ import annotations

import wave
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from django.conf import settings
from PIL import ImageFont

from generation.backends.media import Overlay, text_overlay
from generation.translation import base_language

from . import movtext
from .base import Cue, StageFailed

# ISO 639-2/T, what an MP4 track's language box holds.
ISO639_2 = {
    "en": "eng", "es": "spa", "pt": "por", "hi": "hin", "id": "ind", "ja": "jpn", "zh": "zho", "ar": "ara",
    "fr": "fra", "de": "deu", "it": "ita", "ko": "kor", "ru": "rus", "tr": "tur", "vi": "vie", "th": "tha",
}


def iso639_2(language: str) -> str:
    return ISO639_2.get(base_language(language), "und")


def decode_audio(path: Path, *, rate: int, channels: int = 1) -> np.ndarray:
    """The first audio track as float32 samples (channels x n) at `rate`; empty when there is
    none."""
    layout = "stereo" if channels == 2 else "mono"
    chunks: list[np.ndarray] = []
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return np.zeros((channels, 0), dtype=np.float32)
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
        for frame in container.decode(audio=0):
            chunks.extend(out.to_ndarray() for out in resampler.resample(frame))
        chunks.extend(out.to_ndarray() for out in resampler.resample(None))
    if not chunks:
        return np.zeros((channels, 0), dtype=np.float32)
    return np.concatenate(chunks, axis=1).astype(np.float32)


def write_wav(samples: np.ndarray, path: Path, *, rate: int) -> Path:
    """Mono float samples in [-1, 1] as a 16-bit PCM WAV."""
    pcm = (np.clip(samples.reshape(-1), -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as fh:
        fh.setnchannels(1)
        fh.setsampwidth(2)
        fh.setframerate(rate)
        fh.writeframes(pcm.tobytes())
    return path


@dataclass(frozen=True)
class SourceInfo:
    duration: float
    width: int
    height: int
    audio_rate: int  # 0: no audio track
    audio_channels: int


def source_info(path: Path) -> SourceInfo:
    try:
        with av.open(str(path)) as container:
            video = container.streams.video[0]
            if video.duration is not None and video.time_base is not None:
                duration = float(video.duration * video.time_base)
            else:
                duration = (container.duration or 0) / av.time_base
            audio = container.streams.audio[0] if container.streams.audio else None
            return SourceInfo(duration=duration, width=video.codec_context.width, height=video.codec_context.height,
                              audio_rate=audio.codec_context.sample_rate if audio else 0,
                              audio_channels=min(2, audio.codec_context.channels) if audio else 0)
    except (av.error.FFmpegError, IndexError, OSError) as exc:
        raise StageFailed("mux", f"the source video does not open: {exc}", code="source_unreadable") from exc


@dataclass(frozen=True)
class AudioTrack:
    samples: np.ndarray  # channels x n, float32 in [-1, 1]
    rate: int
    language: str  # BCP 47


def caption_font(size: int) -> ImageFont.FreeTypeFont:
    """LOCALIZATION_BURN_IN_FONT at `size`; raises StageFailed when it does not load."""
    try:
        return ImageFont.truetype(settings.LOCALIZATION_BURN_IN_FONT, size)
    except (OSError, ValueError) as exc:
        raise StageFailed("burn_in", f"LOCALIZATION_BURN_IN_FONT does not load: {exc}",
                          code="burn_in_unsupported") from exc


def missing_glyphs(text: str, typeface: ImageFont.FreeTypeFont) -> str:
    """The characters of `text` that `typeface` would draw as its "missing glyph" box."""
    missing_box = bytes(typeface.getmask("\uffff"))
    return "".join(sorted({c for c in text if not c.isspace() and bytes(typeface.getmask(c)) == missing_box}))


class _Captions:
    """The cue shown at a time, pre-rendered once per cue (cheap to blend on every frame)."""

    def __init__(self, cues: list[Cue], width: int, height: int) -> None:
        self.cues = cues
        self.size = max(14, height // 18)
        self.width, self.height = width, height
        self.typeface = caption_font(self.size)
        missing = missing_glyphs("".join(cue.text for cue in cues), self.typeface)
        if missing:
            # A burnt-in box instead of a letter cannot be undone: refuse (the soft track and the
            # WebVTT still carry the text; players draw it with the phone's fonts).
            raise StageFailed("burn_in", f"the caption font has no glyphs for {missing[:20]!r}",
                              code="burn_in_unsupported")
        self._overlays: dict[int, Overlay | None] = {}

    def at(self, t: float) -> Overlay | None:
        for i, cue in enumerate(self.cues):
            if cue.start <= t < cue.end:
                if i not in self._overlays:
                    self._overlays[i] = text_overlay(cue.text, self.width, self.height, size=self.size,
                                                     anchor="caption", typeface=self.typeface)
                return self._overlays[i]
        return None


def mux(*, source_video: Path, out_path: Path, source_language: str, dub_tracks: list[AudioTrack],
        burn_cues: list[Cue] | None = None, soft_cues: list[Cue] | None = None, soft_language: str = "") -> Path:
    """The localised MP4. The original audio track is copied (tagged `source_language`) after the
    dubbed ones, so a player's default first audio track is the dub; with `burn_cues` the video is
    re-encoded with the cues drawn in, else its packets are copied; `soft_cues` become a mov_text
    subtitle track tagged `soft_language`."""
    captions = None
    if burn_cues:
        info = source_info(source_video)
        captions = _Captions(burn_cues, info.width, info.height)  # refuses missing glyphs before any work
    try:
        with av.open(str(source_video)) as src, movtext.open_template() as template, \
                av.open(str(out_path), mode="w", format="mp4", options={"movflags": "+faststart"}) as out:
            in_video = src.streams.video[0]
            in_audio = src.streams.audio[0] if src.streams.audio else None
            if captions is not None:
                rate = in_video.average_rate or in_video.guessed_rate or Fraction(24)
                video = out.add_stream("libx264", rate=rate)
                video.width, video.height = in_video.codec_context.width, in_video.codec_context.height
                video.pix_fmt = "yuv420p"
                video.options = {"crf": "20", "preset": "superfast"}
                video.codec_context.time_base = in_video.time_base
            else:
                video = out.add_stream_from_template(in_video)
            dubs = []
            for track in dub_tracks:
                layout = "stereo" if track.samples.shape[0] == 2 else "mono"
                stream = out.add_stream("aac", rate=track.rate, layout=layout)
                stream.metadata["language"] = iso639_2(track.language)
                dubs.append((stream, track))
            audio = None
            if in_audio is not None:
                audio = out.add_stream_from_template(in_audio)
                audio.metadata["language"] = iso639_2(source_language)
            subtitles = None
            if soft_cues:
                subtitles = out.add_stream_from_template(template.streams.subtitles[0], opaque=True)
                subtitles.metadata["language"] = iso639_2(soft_language)
                subtitles.time_base = movtext.TIME_BASE
            for stream, track in dubs:
                frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(track.samples, dtype=np.float32),
                                                   format="fltp", layout=stream.layout.name)
                frame.sample_rate, frame.pts = track.rate, 0
                out.mux(stream.encode(frame))
                out.mux(stream.encode(None))
            streams = [s for s in (in_video, in_audio) if s is not None]
            for packet in src.demux(*streams):
                if packet.stream is in_video and captions is not None:
                    # The demuxer's last, empty packet flushes the decoder's held-back frames.
                    for frame in packet.decode():
                        out.mux(video.encode(_draw(frame, captions)))
                    continue
                if packet.dts is None:
                    continue
                packet.stream = video if packet.stream is in_video else audio
                out.mux(packet)
            if captions is not None:
                out.mux(video.encode(None))
            if subtitles is not None:
                out.mux(movtext.packets(soft_cues, subtitles))
    except (av.error.FFmpegError, ValueError, OSError) as exc:
        Path(out_path).unlink(missing_ok=True)
        raise StageFailed("mux", f"muxing failed: {exc}", code="mux_failed") from exc
    return out_path


def _draw(frame: av.VideoFrame, captions: _Captions) -> av.VideoFrame:
    overlay = captions.at(float(frame.time or 0.0))
    if overlay is None:
        drawn = frame.reformat(format="yuv420p")
    else:
        rgb = overlay.apply(frame.to_ndarray(format="rgb24"))
        drawn = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
    drawn.pts, drawn.time_base = frame.pts, frame.time_base
    return drawn


def with_soundtrack(video_path: Path, samples: np.ndarray, *, rate: int, out_path: Path) -> Path:
    """`video_path`'s video (packets copied) with mono float `samples` as its AAC sound: how the
    tests and the benchmark give a silent preview render a voice."""
    with av.open(str(video_path)) as src, av.open(str(out_path), mode="w", format="mp4") as out:
        video = out.add_stream_from_template(src.streams.video[0])
        sound = out.add_stream("aac", rate=rate, layout="mono")
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is None:
                continue
            packet.stream = video
            out.mux(packet)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples.reshape(1, -1), dtype=np.float32),
                                           format="fltp", layout="mono")
        frame.sample_rate, frame.pts = rate, 0
        out.mux(sound.encode(frame))
        out.mux(sound.encode(None))
    return out_path
