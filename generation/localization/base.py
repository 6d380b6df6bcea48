"""The shapes the localisation stages share: a cue, what one target language asks for and gets, and
the pluggable speech stages (transcribe, synthesize), chosen by settings like the video backends.

The stages themselves live beside this module: `subtitles` (parse and write cues), `pipeline`
(translate, dub, mux one language), the offline speech stages and the hosted ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

# A stage name and how far it is, 0.0 to 1.0, for the job's progress.
Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class Cue:
    """One subtitle cue: times in seconds from the start of the video."""

    start: float
    end: float
    text: str


class SubtitlesInvalid(Exception):
    """The subtitles file does not parse, or a cue lies outside the video. `code` is the API's."""

    def __init__(self, message: str, *, code: str = "subtitles_invalid") -> None:
        super().__init__(message)
        self.code = code


class StageFailed(Exception):
    """A stage of one language failed (backend down, refused, bad output); the others go on."""

    def __init__(self, stage: str, message: str, *, code: str = "localization_stage_failed") -> None:
        super().__init__(message)
        self.stage = stage
        self.code = code


@dataclass(frozen=True)
class LanguageRequest:
    """What one target language asks for. Languages are BCP 47 tags as stored on a Rendition
    (`es`, `pt-BR`, `zh-Hans`)."""

    source_language: str
    target_language: str
    burn_in: bool = False
    dub: bool = False
    # Source term -> the term to use in the target language (names, series terms).
    glossary: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LanguageResult:
    video: Path  # MP4: H.264 copied (re-encoded only when burning in), AAC track(s) tagged by language
    vtt: Path  # WebVTT of the translated cues
    cues: list[Cue]  # translated cues, source times


class Transcriber(Protocol):
    name: str

    def supports(self, language: str) -> bool: ...

    def transcribe(self, audio_wav: Path, *, language: str) -> list[Cue]:
        """Cues of the speech in a 16 kHz mono WAV; raises StageFailed."""


class Synthesizer(Protocol):
    name: str

    def supports(self, language: str) -> bool: ...

    def synthesize(self, text: str, *, language: str, out_wav: Path) -> Path:
        """Speech of `text` as a WAV file; raises StageFailed."""
