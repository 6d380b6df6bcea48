"""Verification of a cameo clip: did the person in it say the challenge the server issued?

Pluggable (CAMEO_VERIFIER): `offline` transcribes the clip's speech here with pocketsphinx
(its English model ships in the wheel) against a digits-only grammar and compares the digits;
`staff` leaves every clip to the admin's review queue. A checker never rejects by itself:
what it cannot confirm goes to staff review, the fallback of every checker.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from django.conf import settings

from .media import SPEECH_RATE, speech_pcm

logger = logging.getLogger(__name__)

DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
CHALLENGE_DIGITS = 5


def challenge_phrase() -> str:
    return " ".join(secrets.choice(DIGITS) for _ in range(CHALLENGE_DIGITS))


def normalise_digits(text: str) -> list[str]:
    words = text.lower().replace(",", " ").split()
    return ["zero" if w == "oh" else w for w in words if w in DIGITS or w == "oh"]


def phrase_matches(*, phrase: str, transcript: str) -> bool:
    expected = normalise_digits(phrase)
    return bool(expected) and normalise_digits(transcript) == expected


@dataclass(frozen=True)
class Verdict:
    verified: bool  # False: staff review
    transcript: str = ""


class Verifier(Protocol):
    name: str

    def verify(self, *, clip_path: Path, phrase: str) -> Verdict: ...


class StaffReviewVerifier:
    name = "staff"

    def verify(self, *, clip_path: Path, phrase: str) -> Verdict:
        return Verdict(verified=False)


class OfflineSpeechVerifier:
    name = "offline"

    def transcribe(self, pcm: bytes) -> str:
        from pocketsphinx import Decoder  # loads the acoustic model: only in the worker that verifies

        decoder = Decoder(samprate=SPEECH_RATE, loglevel="ERROR")
        alternatives = " | ".join(DIGITS + ["oh"])
        decoder.add_jsgf_string("digits", f"#JSGF V1.0;\ngrammar digits;\npublic <digits> = ( {alternatives} )+ ;")
        decoder.activate_search("digits")
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()
        hyp = decoder.hyp()
        return hyp.hypstr if hyp is not None else ""

    def verify(self, *, clip_path: Path, phrase: str) -> Verdict:
        transcript = self.transcribe(speech_pcm(clip_path))
        return Verdict(verified=phrase_matches(phrase=phrase, transcript=transcript), transcript=transcript[:300])


VERIFIERS: dict[str, type] = {"offline": OfflineSpeechVerifier, "staff": StaffReviewVerifier}


def get_verifier(name: str | None = None) -> Verifier:
    return VERIFIERS[name or settings.CAMEO_VERIFIER]()
