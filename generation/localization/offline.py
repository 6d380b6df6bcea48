"""The offline speech stages: pocketsphinx transcribes English (its model ships in the wheel), and
Debian's espeak-ng speaks the dubs. Both run on one CPU core with no network; both sound and hear
like the 1990s (see the README's localisation section for what they do well and badly)."""

from __future__ import annotations

import io
import logging
import re
import shutil
import subprocess
import wave
from pathlib import Path

from generation.translation import base_language

from .base import Cue, StageFailed

logger = logging.getLogger(__name__)

# How transcribed words are grouped into cues: a new cue after a pause this long, or when the
# cue would get longer than MAX_CUE_SECONDS (a subtitle line one reads at a glance).
PAUSE_SECONDS = 0.5
MAX_CUE_SECONDS = 7.0
MAX_CUE_WORDS = 14
_FILLERS = re.compile(r"^(<.*>|\[.*\]|\+\+.*\+\+)$")  # <s>, <sil>, [NOISE], ++garbage++


class PocketsphinxTranscriber:
    """CMU pocketsphinx with its bundled US English acoustic and language models. Speech is cut
    into utterances by its voice activity detector (Segmenter) and each one decoded; the word
    times come from the decoder's segmentation."""

    name = "pocketsphinx"

    def __init__(self) -> None:
        self._decoder = None

    def supports(self, language: str) -> bool:
        return base_language(language) == "en"

    def _decoder_for(self, rate: int):
        if self._decoder is None:
            from pocketsphinx import Decoder  # loads the models: only in the worker that transcribes

            self._decoder = Decoder(samprate=rate, loglevel="ERROR")
        return self._decoder

    def words(self, audio_wav: Path) -> list[tuple[float, float, str]]:
        from pocketsphinx import Segmenter

        with wave.open(str(audio_wav), "rb") as fh:
            rate = fh.getframerate()
            if fh.getnchannels() != 1 or fh.getsampwidth() != 2:
                raise StageFailed("transcribe", "the transcriber takes 16-bit mono audio", code="transcription_failed")
            pcm = fh.readframes(fh.getnframes())
        decoder = self._decoder_for(rate)
        frame_rate = float(decoder.config["frate"])
        words: list[tuple[float, float, str]] = []
        for utterance in Segmenter(sample_rate=rate).segment(io.BytesIO(pcm)):
            decoder.start_utt()
            decoder.process_raw(utterance.pcm, full_utt=True)
            decoder.end_utt()
            for seg in decoder.seg():
                word = re.sub(r"\(\d+\)$", "", seg.word)  # alternate pronunciations: "the(2)"
                if not word or _FILLERS.match(word):
                    continue
                words.append((utterance.start_time + seg.start_frame / frame_rate,
                              utterance.start_time + (seg.end_frame + 1) / frame_rate, word))
        return words

    def transcribe(self, audio_wav: Path, *, language: str) -> list[Cue]:
        if not self.supports(language):
            raise StageFailed("transcribe", f"pocketsphinx cannot transcribe {language}",
                              code="transcription_unsupported")
        return group_words(self.words(audio_wav))


def group_words(words: list[tuple[float, float, str]]) -> list[Cue]:
    """Timed words into cues: a cue ends at a pause, at MAX_CUE_SECONDS or MAX_CUE_WORDS."""
    cues: list[Cue] = []
    current: list[tuple[float, float, str]] = []
    for word in words:
        if current and (word[0] - current[-1][1] > PAUSE_SECONDS or word[1] - current[0][0] > MAX_CUE_SECONDS
                        or len(current) >= MAX_CUE_WORDS):
            cues.append(Cue(round(current[0][0], 3), round(current[-1][1], 3), " ".join(w for _, _, w in current)))
            current = []
        current.append(word)
    if current:
        cues.append(Cue(round(current[0][0], 3), round(current[-1][1], 3), " ".join(w for _, _, w in current)))
    return cues


# BCP 47 base language (or full tag) -> espeak-ng voice.
ESPEAK_VOICES = {
    "en": "en-us", "es": "es-419", "es-ES": "es", "pt": "pt-br", "pt-PT": "pt", "hi": "hi", "id": "id", "ja": "ja",
    "zh": "cmn", "ar": "ar", "fr": "fr-fr", "de": "de", "it": "it",
}
ESPEAK_TIMEOUT = 60  # seconds for one cue


class EspeakSynthesizer:
    """espeak-ng, formant synthesis: fast (far faster than real time on one core), every
    language we ship, robotic. Latin American Spanish and Brazilian Portuguese by default, the
    app's biggest markets for those languages."""

    name = "espeak"

    def voice(self, language: str) -> str | None:
        tag = (language or "").replace("_", "-")
        return ESPEAK_VOICES.get(tag) or ESPEAK_VOICES.get(base_language(tag))

    def supports(self, language: str) -> bool:
        return shutil.which("espeak-ng") is not None and self.voice(language) is not None

    def synthesize(self, text: str, *, language: str, out_wav: Path) -> Path:
        voice = self.voice(language)
        if voice is None:
            raise StageFailed("dub", f"espeak-ng has no voice for {language}", code="dub_unsupported")
        try:
            done = subprocess.run(["espeak-ng", "-v", voice, "-w", str(out_wav), "--stdin"], input=text.encode(),
                                  capture_output=True, timeout=ESPEAK_TIMEOUT, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise StageFailed("dub", f"espeak-ng: {exc}", code="dub_failed") from exc
        if done.returncode != 0 or not out_wav.exists():
            logger.warning("localization.espeak_failed", extra={"voice": voice, "stderr": done.stderr[-300:]})
            raise StageFailed("dub", f"espeak-ng exited {done.returncode}", code="dub_failed")
        return out_wav
