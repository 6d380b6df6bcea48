"""Subtitles in and out: SRT, WebVTT and ASS/SSA read through pysubs2 into cues; cues written as
WebVTT (what the apps and browsers play beside the MP4)."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pysubs2

from .base import Cue, SubtitlesInvalid

# A cue may end a little after the last frame (rounding in the editor that wrote it).
END_TOLERANCE = 0.25  # seconds
_FORMATS = {".srt": "srt", ".vtt": "vtt", ".ass": "ass", ".ssa": "ssa"}


def _text(data: bytes) -> str:
    for encoding in ("utf-8-sig", "utf-16"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" not in text:
            return text
    raise SubtitlesInvalid("The subtitles are not UTF-8 text.")


def parse_subtitles(data: bytes, *, filename: str, duration: float) -> list[Cue]:
    """The cues of a subtitles file, in time order. The format comes from the file name's
    extension when it has a known one, else from the content. Raises SubtitlesInvalid with
    code `subtitles_invalid` (unreadable, empty, a cue ending before it starts) or
    `subtitles_out_of_range` (a cue outside [0, duration])."""
    text = _text(data)
    fmt = _FORMATS.get(Path(filename or "").suffix.lower())
    try:
        subs = pysubs2.SSAFile.from_string(text, format_=fmt)
    except (pysubs2.Pysubs2Error, ValueError, KeyError, IndexError, TypeError) as exc:
        raise SubtitlesInvalid(f"The subtitles do not parse: {exc}") from exc
    cues: list[Cue] = []
    for event in subs:
        if event.is_comment:
            continue
        line = " ".join(event.plaintext.split())
        if subs.format == "vtt":  # WebVTT cue text is markup: &amp; is "&"
            line = html.unescape(line)
        if not line:
            continue
        start, end = event.start / 1000, event.end / 1000
        if end <= start:
            raise SubtitlesInvalid(f"A cue ends before it starts ({start:.3f} s).")
        if start < 0 or end > duration + END_TOLERANCE:
            raise SubtitlesInvalid(f"A cue ({start:.3f}-{end:.3f} s) lies outside the video (0-{duration:.3f} s).",
                                   code="subtitles_out_of_range")
        cues.append(Cue(start=start, end=min(end, duration), text=line))
    if not cues:
        raise SubtitlesInvalid("The subtitles have no cues.")
    cues.sort(key=lambda cue: (cue.start, cue.end))
    return cues


def _timestamp(seconds: float) -> str:
    ms = max(0, round(seconds * 1000))
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{ms:03d}"


def _vtt_text(text: str) -> str:
    # WebVTT cue text is markup: escape it, and a blank line would end the cue.
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(r"\n\s*\n+", "\n", text).strip()


def write_vtt(cues: list[Cue], path: Path) -> Path:
    path = Path(path)
    blocks = ["WEBVTT"]
    for i, cue in enumerate(cues, start=1):
        blocks.append(f"{i}\n{_timestamp(cue.start)} --> {_timestamp(cue.end)}\n{_vtt_text(cue.text)}")
    path.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    return path
