"""Soft subtitles inside the MP4: a 3GPP timed-text (mov_text, "tx3g") track, which iOS and
Android players list as a subtitle track.

PyAV cannot encode mov_text (FFmpeg's encoder needs an ASS header that PyAV gives no way to set),
but a mov_text sample is only a 16-bit length and the UTF-8 text, so the muxer gets the samples
as raw packets. The stream itself is copied from a template: a tiny MP4 with one empty tx3g
track, built here box by box (ISO/IEC 14496-12 and 3GPP TS 26.245), which PyAV opens.
"""

from __future__ import annotations

import io
import struct
from fractions import Fraction

import av

from .base import Cue

TIME_BASE = Fraction(1, 1000)
_MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def _full(kind: bytes, payload: bytes, *, flags: int = 0) -> bytes:
    return _box(kind, struct.pack(">I", flags) + payload)


def template_mp4() -> bytes:
    """An MP4 with one empty tx3g track: white text, centred at the bottom."""
    font = b"Sans-Serif"
    tx3g = (b"\0" * 6 + struct.pack(">H", 1)  # SampleEntry: reserved, data_reference_index
            + struct.pack(">Ibb", 0, 1, -1)  # displayFlags; justification: centre, bottom
            + bytes(4)  # background RGBA: none
            + struct.pack(">4h", 0, 0, 0, 0)  # default text box: the player's
            + struct.pack(">HHHBB", 0, 0, 1, 0, 18) + bytes([255, 255, 255, 255])  # default style
            + _box(b"ftab", struct.pack(">HHB", 1, 1, len(font)) + font))
    stbl = _box(b"stbl", _full(b"stsd", struct.pack(">I", 1) + _box(b"tx3g", tx3g))
                + _full(b"stts", struct.pack(">I", 0)) + _full(b"stsc", struct.pack(">I", 0))
                + _full(b"stsz", struct.pack(">II", 0, 0)) + _full(b"stco", struct.pack(">I", 0)))
    dinf = _box(b"dinf", _full(b"dref", struct.pack(">I", 1) + _full(b"url ", b"", flags=1)))
    minf = _box(b"minf", _full(b"nmhd", b"") + dinf + stbl)
    mdia = _box(b"mdia", _full(b"mdhd", struct.pack(">IIIIHH", 0, 0, 1000, 0, 0x55C4, 0))  # "und"
                + _full(b"hdlr", struct.pack(">I4s12x", 0, b"sbtl") + b"SubtitleHandler\0") + minf)
    tkhd = _full(b"tkhd", struct.pack(">IIIII", 0, 0, 1, 0, 0) + bytes(8) + struct.pack(">hhhH", 0, 0, 0, 0)
                 + _MATRIX + struct.pack(">II", 0, 0), flags=3)
    mvhd = _full(b"mvhd", struct.pack(">IIII", 0, 0, 1000, 0) + struct.pack(">IH", 0x10000, 0x100) + bytes(10)
                 + _MATRIX + bytes(24) + struct.pack(">I", 2))
    ftyp = _box(b"ftyp", b"isom" + struct.pack(">I", 512) + b"isomiso2mp41")
    return ftyp + _box(b"moov", mvhd + _box(b"trak", tkhd + mdia))


def open_template() -> av.container.InputContainer:
    return av.open(io.BytesIO(template_mp4()))


def packets(cues: list[Cue], stream) -> list[av.Packet]:
    out = []
    for cue in cues:
        text = cue.text.encode("utf-8")[:65535]
        packet = av.Packet(struct.pack(">H", len(text)) + text)
        packet.stream, packet.time_base = stream, TIME_BASE
        packet.pts = packet.dts = round(cue.start * 1000)
        packet.duration = max(1, round(cue.end * 1000) - packet.pts)
        out.append(packet)
    return out
