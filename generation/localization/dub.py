"""The dubbed soundtrack of one language: each translated cue spoken by the synthesizer, fitted to
its slot, mixed over the original sound, which is ducked while the dub speaks.

Fitting: the speech (its leading and trailing silence cut) should last no longer than its cue;
when it does, it is sped up with FFmpeg's atempo (pitch kept) by at most MAX_TEMPO. Whatever is
still too long is cut, with a short fade, so that it ends GAP seconds before the next cue starts
(or the video ends): one cue's speech never runs into the next one's.
"""

from __future__ import annotations

import tempfile
from fractions import Fraction
from pathlib import Path
from typing import Callable

import av
import numpy as np

from .base import Cue, StageFailed, Synthesizer
from .media import decode_audio

MAX_TEMPO = 1.5  # faster than this and synthetic speech stops being understood
GAP = 0.05  # seconds of quiet kept before the next cue
DUCK_DB = -12.0  # the original sound under the dub
RAMP = 0.06  # seconds the ducking takes to fade in and out
FADE = 0.02  # seconds of fade-out where speech is cut
SILENCE = 0.01  # amplitude under which synthesized audio counts as silence (trimmed at the ends)


def _trim(speech: np.ndarray) -> np.ndarray:
    loud = np.flatnonzero(np.abs(speech) > SILENCE)
    return speech[loud[0]:loud[-1] + 1] if loud.size else speech[:0]


def atempo(samples: np.ndarray, *, rate: int, factor: float) -> np.ndarray:
    """Mono float samples played `factor` times faster, same pitch (FFmpeg's atempo)."""
    if abs(factor - 1.0) < 1e-3 or samples.size == 0:
        return samples
    graph = av.filter.Graph()
    source = graph.add_abuffer(format="fltp", sample_rate=rate, layout="mono", time_base=Fraction(1, rate))
    tempo = graph.add("atempo", f"{factor:.4f}")
    sink = graph.add("abuffersink")
    source.link_to(tempo)
    tempo.link_to(sink)
    graph.configure()
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[None, :], dtype=np.float32), format="fltp",
                                       layout="mono")
    frame.sample_rate, frame.pts, frame.time_base = rate, 0, Fraction(1, rate)
    graph.push(frame)
    graph.push(None)
    chunks = []
    while True:
        try:
            chunks.append(graph.pull().to_ndarray()[0])
        except (av.error.BlockingIOError, av.error.EOFError):
            break
    return np.concatenate(chunks).astype(np.float32) if chunks else samples[:0]


def fit(speech: np.ndarray, *, rate: int, target: float, limit: float) -> np.ndarray:
    """`speech` sped up (at most MAX_TEMPO) to last `target` seconds, then cut to `limit`."""
    speech = _trim(speech)
    length = speech.size / rate
    if target > 0 and length > target:
        speech = atempo(speech, rate=rate, factor=min(length / target, MAX_TEMPO))
    most = max(0, int(limit * rate))
    if speech.size > most:
        speech = speech[:most].copy()
        fade = min(most, int(FADE * rate))
        if fade:
            speech[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    return speech


def _moving_average(mask: np.ndarray, width: int) -> np.ndarray:
    if width <= 1:
        return mask
    sums = np.cumsum(np.concatenate([[0.0], mask]))
    half = width // 2
    idx = np.arange(mask.size)
    lo = np.clip(idx - half, 0, mask.size)
    hi = np.clip(idx + half + 1, 0, mask.size)
    return ((sums[hi] - sums[lo]) / (hi - lo)).astype(np.float32)


def dub_track(*, source_video: Path, cues: list[Cue], language: str, synthesizer: Synthesizer, rate: int,
              duration: float, channels: int = 1, progress: Callable[[float], None] | None = None) -> np.ndarray:
    """The dubbed soundtrack (channels x samples, float32, at `rate`), as long as the video."""
    original = decode_audio(source_video, rate=rate, channels=channels)
    length = max(original.shape[1], int(round(duration * rate)))
    original = np.pad(original, ((0, 0), (0, length - original.shape[1])))
    speech = np.zeros(length, dtype=np.float32)
    speaking = np.zeros(length, dtype=np.float32)
    with tempfile.TemporaryDirectory(prefix="dub-") as tmp:
        for i, cue in enumerate(cues):
            next_start = cues[i + 1].start if i + 1 < len(cues) else duration
            limit = min(next_start, duration) - GAP - cue.start
            if not cue.text.strip() or limit <= 0:
                continue
            wav = synthesizer.synthesize(cue.text, language=language, out_wav=Path(tmp) / f"{i}.wav")
            try:
                voice = decode_audio(wav, rate=rate)[0]
            except (av.error.FFmpegError, IndexError) as exc:
                raise StageFailed("dub", f"{synthesizer.name} wrote unreadable audio: {exc}",
                                  code="dub_failed") from exc
            voice = fit(voice, rate=rate, target=cue.end - cue.start, limit=limit)
            at = int(round(cue.start * rate))
            end = min(length, at + voice.size)
            speech[at:end] += voice[:end - at]
            speaking[at:end] = 1.0
            if progress is not None:
                progress((i + 1) / len(cues))
    duck = 10 ** (DUCK_DB / 20)
    gain = 1.0 - (1.0 - duck) * _moving_average(speaking, int(RAMP * rate))
    return np.clip(original * gain[None, :] + speech[None, :], -1.0, 1.0).astype(np.float32)
