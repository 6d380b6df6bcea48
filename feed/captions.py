"""Captions: the hashtags they carry and the language they are written in."""

from __future__ import annotations

import re

import py3langid

HASHTAG_RE = re.compile(r"#(\w{1,100})", re.UNICODE)
MAX_HASHTAGS = 10


def parse_hashtags(caption: str) -> list[str]:
    seen: list[str] = []
    for match in HASHTAG_RE.finditer(caption):
        tag = match.group(1).lower()
        if tag not in seen:
            seen.append(tag)
    return seen[:MAX_HASHTAGS]


def detect_language(text: str, fallback: str) -> str:
    stripped = HASHTAG_RE.sub(" ", text).strip()
    if len(stripped) < 12:  # too short to tell; the author's language is a better guess
        return fallback
    language, _ = py3langid.classify(stripped)
    return language
