"""Cue translation through the caption translator (generation.translation), with a glossary.

All cues of a language go to the backend in one call, separated by a marker line that apertium
keeps as formatting (a "superblank"); when the answer does not split back into as many cues (a
backend that touched the marker), each cue is translated on its own. Glossary terms are swapped
for placeholder words the translator does not know (so it passes them through untouched) and
the target terms are put in afterwards: a name or series term reads the same in every cue.
"""

from __future__ import annotations

import re

from generation.translation import TranslationFailed, UnsupportedPair, base_language, get_translation_backend

from .base import Cue, StageFailed

SEPARATOR = "\n[@@]\n"
_PLACEHOLDER = "Qzgl{}x"  # letters only, unknown to every dictionary; the index is spelled in letters


def _placeholder(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("a") + rest) + letters
    return _PLACEHOLDER.format(letters)


def supported_pair(source: str, target: str) -> bool:
    if base_language(source) == base_language(target):
        return True
    return get_translation_backend().supports(source, target)


def _protect(text: str, glossary: dict[str, str]) -> tuple[str, dict[str, str]]:
    used: dict[str, str] = {}
    # Longest terms first, so "New York City" wins over "New York".
    for i, term in enumerate(sorted(glossary, key=len, reverse=True)):
        if not term.strip():
            continue
        pattern = re.compile(rf"(?<!\w){re.escape(term)}(?!\w)", re.IGNORECASE)
        token = _placeholder(i)
        text, count = pattern.subn(token, text)
        if count:
            used[token] = glossary[term]
    return text, used


def _restore(text: str, used: dict[str, str]) -> str:
    for token, target in used.items():
        text = re.sub(re.escape(token), lambda _m, t=target: t, text, flags=re.IGNORECASE)
    return text


def translate_cues(cues: list[Cue], *, source: str, target: str, glossary: dict[str, str] | None = None) -> list[Cue]:
    """The cues in `target`, same times. Raises StageFailed(stage="translate") with code
    `language_pair_unsupported` or `translation_failed`."""
    glossary = glossary or {}
    if base_language(source) == base_language(target):
        return [Cue(c.start, c.end, _restore(*_protect(c.text, glossary))) for c in cues]
    backend = get_translation_backend()
    if not backend.supports(source, target):
        raise StageFailed("translate", f"{source}->{target} cannot be translated here.",
                          code="language_pair_unsupported")
    protected = [_protect(cue.text, glossary) for cue in cues]
    try:
        texts = _translate_all(backend, [text for text, _ in protected], source=source, target=target)
    except UnsupportedPair as exc:
        raise StageFailed("translate", str(exc), code="language_pair_unsupported") from exc
    except TranslationFailed as exc:
        raise StageFailed("translate", str(exc), code="translation_failed") from exc
    return [Cue(cue.start, cue.end, " ".join(_restore(text, used).split()))
            for cue, text, (_, used) in zip(cues, texts, protected)]


def _translate_all(backend, texts: list[str], *, source: str, target: str) -> list[str]:
    if not texts:
        return []
    joined = backend.translate(SEPARATOR.join(texts), source=source, target=target)
    parts = [part.strip() for part in joined.split(SEPARATOR.strip())]
    if len(parts) == len(texts):
        return parts
    return [backend.translate(text, source=source, target=target) for text in texts]
