"""One video into one target language: (transcribe) -> translate the cues -> (dub) -> mux.

The job (generation.tasks) calls `transcribe_video` once per source video when the creator sent
no subtitles, then `localize_language` once per target language; a language that fails raises
StageFailed and the others go on. The speech stages are chosen by settings, like the video
backends: LOCALIZATION_TRANSCRIBER and LOCALIZATION_SYNTHESIZER name an entry of TRANSCRIBERS /
SYNTHESIZERS below.
"""

from __future__ import annotations

import logging
import tempfile
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from generation.translation import base_language

from .base import Cue, LanguageRequest, LanguageResult, Progress, StageFailed, Synthesizer, Transcriber
from .media import AudioTrack, caption_font, decode_audio, missing_glyphs, mux, source_info, write_wav
from .subtitles import write_vtt
from .translate import supported_pair, translate_cues

logger = logging.getLogger(__name__)

__all__ = ["burn_in_supported", "get_synthesizer", "get_transcriber", "localize_language", "supported_pair",
           "transcribe_video"]

# Setting value -> class. The hosted speech APIs register here ("hosted") next to the offline ones.
TRANSCRIBERS: dict[str, str] = {
    "pocketsphinx": "generation.localization.offline.PocketsphinxTranscriber",
    "hosted": "generation.localization.hosted.HostedTranscriber",
}
SYNTHESIZERS: dict[str, str] = {
    "espeak": "generation.localization.offline.EspeakSynthesizer",
    "hosted": "generation.localization.hosted.HostedSynthesizer",
}

SPEECH_RATE = 16000  # what the transcribers get (pocketsphinx's acoustic model's rate)
MIX_RATE = 48000  # the dubbed track's rate


@lru_cache(maxsize=4)
def _stage(registry: str, name: str):
    table = TRANSCRIBERS if registry == "transcriber" else SYNTHESIZERS
    if name not in table:
        raise ImproperlyConfigured(f"Unknown LOCALIZATION_{registry.upper()} {name!r}: use {', '.join(table)}.")
    return import_string(table[name])()


def get_transcriber() -> Transcriber:
    return _stage("transcriber", settings.LOCALIZATION_TRANSCRIBER)


def get_synthesizer() -> Synthesizer:
    return _stage("synthesizer", settings.LOCALIZATION_SYNTHESIZER)


# A few letters of each non-Latin script we ship, to tell at submit time whether the burn-in font
# can draw a language (the cues themselves are checked again when drawn).
_SCRIPT_SAMPLES = {"ja": "日本語ですか", "zh": "中文字幕", "hi": "हिन्दी", "ar": "العربية", "ru": "Русский",
                   "ko": "한국어", "th": "ภาษาไทย"}


def burn_in_supported(language: str) -> bool:
    """Whether subtitles in `language` can be burnt in with LOCALIZATION_BURN_IN_FONT."""
    sample = _SCRIPT_SAMPLES.get(base_language(language), "Ação éñü ß")
    try:
        return not missing_glyphs(sample, caption_font(24))
    except StageFailed:
        return False


def _noop(stage: str, fraction: float) -> None:
    return None


def transcribe_video(source_video: Path, *, language: str, transcriber: Transcriber | None = None) -> list[Cue]:
    """Cues of the speech in the video's first audio track, in `language`. Raises StageFailed
    (stage "transcribe"): `transcription_unsupported` for a language the transcriber does not
    know, `no_audio` for a video without sound, `no_speech` when nothing was recognised."""
    transcriber = transcriber or get_transcriber()
    if not transcriber.supports(language):
        raise StageFailed("transcribe", f"{transcriber.name} cannot transcribe {language}.",
                          code="transcription_unsupported")
    samples = decode_audio(Path(source_video), rate=SPEECH_RATE)
    if samples.shape[1] == 0:
        raise StageFailed("transcribe", "the video has no audio track", code="no_audio")
    with tempfile.TemporaryDirectory(prefix="transcribe-") as tmp:
        wav = write_wav(samples[0], Path(tmp) / "speech.wav", rate=SPEECH_RATE)
        cues = transcriber.transcribe(wav, language=language)
    if not cues:
        raise StageFailed("transcribe", "no speech was recognised", code="no_speech")
    return cues


def localize_language(*, source_video: Path, cues: list[Cue], request: LanguageRequest, out_dir: Path,
                      progress: Progress | None = None, synthesizer: Synthesizer | None = None) -> LanguageResult:
    """`source_video` in `request.target_language`: the translated cues as WebVTT, and an MP4
    with the original audio kept as its own track, a dubbed track when asked, the cues burnt in
    when asked. Files are written in `out_dir` (named after the target language)."""
    progress = progress or _noop
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = request.target_language
    if request.burn_in and not burn_in_supported(target):
        raise StageFailed("burn_in", f"the caption font cannot draw {target}", code="burn_in_unsupported")
    progress("translate", 0.0)
    translated = translate_cues(cues, source=request.source_language, target=target, glossary=request.glossary)
    progress("translate", 1.0)
    vtt = write_vtt(translated, out_dir / f"{target}.vtt")
    info = source_info(Path(source_video))
    dub_tracks: list[AudioTrack] = []
    if request.dub:
        from .dub import dub_track  # espeak / numpy work only when a dub is asked

        synthesizer = synthesizer or get_synthesizer()
        if not synthesizer.supports(target):
            raise StageFailed("dub", f"{synthesizer.name} cannot speak {target}.", code="dub_unsupported")
        progress("dub", 0.0)
        samples = dub_track(source_video=Path(source_video), cues=translated, language=target,
                            synthesizer=synthesizer, rate=MIX_RATE, duration=info.duration,
                            channels=2 if info.audio_channels >= 2 else 1,
                            progress=lambda fraction: progress("dub", fraction))
        dub_tracks.append(AudioTrack(samples=samples, rate=MIX_RATE, language=target))
        progress("dub", 1.0)
    progress("mux", 0.0)
    video = mux(source_video=Path(source_video), out_path=out_dir / f"{target}.mp4",
                source_language=request.source_language, dub_tracks=dub_tracks,
                burn_cues=translated if request.burn_in else None, soft_cues=translated, soft_language=target)
    progress("mux", 1.0)
    logger.info("localization.language_done", extra={"target": target, "cues": len(translated),
                                                     "dub": request.dub, "burn_in": request.burn_in})
    return LanguageResult(video=video, vtt=vtt, cues=translated)
