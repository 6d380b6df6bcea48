"""The hosted speech stages: an OpenAI-compatible audio API through the official `openai` SDK.

`HostedTranscriber` ("hosted" for LOCALIZATION_TRANSCRIBER) posts the 16 kHz mono WAV to
`/v1/audio/transcriptions` asking for `verbose_json`, whose segments carry the times the cues
need. `HostedSynthesizer` ("hosted" for LOCALIZATION_SYNTHESIZER) asks `/v1/audio/speech` for a WAV
of each translated cue. LOCALIZATION_HOSTED_URL points both at the provider (a local fake in
tests); what the API refuses (too large a file, too long an input) is checked here first, so a
language fails with a clear code instead of a paid round trip.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

import httpx2
import openai
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .base import Cue, StageFailed

logger = logging.getLogger(__name__)

# What the audio API takes: a file up to 25 MB, an input of up to 4096 characters.
MAX_AUDIO_BYTES = 25 * 1024 * 1024
MAX_SPEECH_INPUT = 4096
# Whisper's languages among the app's (ISO 639-1, the API's `language`); the speech models speak
# the same ones.
HOSTED_LANGUAGES = frozenset({"en", "es", "pt", "hi", "id", "ja", "zh", "ar", "fr", "de", "it", "ko", "ru", "tr"})


def _primary(language: str) -> str:
    return language.split("-")[0].lower()


def hosted_client() -> openai.OpenAI:
    return _client(settings.LOCALIZATION_HOSTED_URL or "", settings.LOCALIZATION_HOSTED_API_KEY or "",
                   float(settings.LOCALIZATION_HOSTED_TIMEOUT))


@lru_cache(maxsize=4)
def _client(url: str, key: str, timeout: float) -> openai.OpenAI:
    # One client (and its connection pool) per configuration, shared by the stages.
    base_url = url.strip().rstrip("/")
    parts = urlsplit(base_url)
    if not base_url or parts.scheme not in ("http", "https") or not parts.netloc:
        raise ImproperlyConfigured("LOCALIZATION_HOSTED_URL must be the http(s) URL of the audio API.")
    # One retry: the SDK's backoff for a dropped connection or a 5xx; a language that still fails
    # is retried by the user (only the failed languages run again).
    return openai.OpenAI(api_key=key or "unset", base_url=f"{base_url}/v1", max_retries=1,
                         timeout=httpx2.Timeout(timeout, connect=min(timeout, 10.0)))


def _call(stage: str, action, **log):
    try:
        return action()
    except openai.APIStatusError as exc:
        logger.warning("localization.hosted_refused", extra={"stage": stage, "status": exc.status_code, **log})
        raise StageFailed(stage, f"The speech API refused ({exc.status_code}): {exc.message}"[:300],
                          code="hosted_stage_refused") from exc
    except (openai.APIConnectionError, openai.APITimeoutError) as exc:  # timeout is a connection error too
        logger.warning("localization.hosted_unavailable", extra={"stage": stage, **log})
        raise StageFailed(stage, "The speech API is not reachable.", code="hosted_stage_unavailable") from exc


class _Hosted:
    name = "hosted"

    def supports(self, language: str) -> bool:
        return _primary(language) in HOSTED_LANGUAGES

    @property
    def client(self) -> openai.OpenAI:
        return hosted_client()


class HostedTranscriber(_Hosted):
    def transcribe(self, audio_wav: Path, *, language: str) -> list[Cue]:
        audio_wav = Path(audio_wav)
        if audio_wav.stat().st_size > MAX_AUDIO_BYTES:
            raise StageFailed("transcribe", "The audio is larger than the speech API takes (25 MB).",
                              code="audio_too_large")
        with open(audio_wav, "rb") as fh:
            result = _call("transcribe", lambda: self.client.audio.transcriptions.create(
                file=(audio_wav.name, fh, "audio/wav"), model=settings.LOCALIZATION_HOSTED_STT_MODEL,
                language=_primary(language), response_format="verbose_json", timestamp_granularities=["segment"],
            ), language=language)
        cues = [Cue(start=float(s.start), end=float(s.end), text=" ".join(s.text.split()))
                for s in (result.segments or []) if s.text.strip() and s.end > s.start]
        return cues


class HostedSynthesizer(_Hosted):
    def synthesize(self, text: str, *, language: str, out_wav: Path) -> Path:
        text = " ".join(text.split())
        if not text or len(text) > MAX_SPEECH_INPUT:
            raise StageFailed("dub", f"A line to speak must be 1-{MAX_SPEECH_INPUT} characters.",
                              code="dub_input_invalid")
        response = _call("dub", lambda: self.client.audio.speech.create(
            input=text, model=settings.LOCALIZATION_HOSTED_TTS_MODEL, voice=settings.LOCALIZATION_HOSTED_VOICE,
            response_format="wav",
        ), language=language)
        out_wav = Path(out_wav)
        response.write_to_file(out_wav)
        return out_wav
