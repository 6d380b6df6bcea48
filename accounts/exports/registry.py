"""What goes into an account export: each app registers its own sections (in its
AppConfig.ready, from its `account_export.py`), so accounts, the lowest app, assembles the ZIP
without importing any app above it.

A section is one JSON file of the archive, `<name>.json`. Its collector takes the user and
returns a `Section`: `data`, a JSON-able dict written whole, or an iterable of rows (a
queryset's `.values().iterator()`) written as a JSON array one row at a time so a big history
is never held at once; and `media`, the stored files that go into the archive, uncompressed,
under `media/`, read from storage in chunks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..models import User


@dataclass(frozen=True)
class MediaFile:
    path: str  # inside the archive, e.g. "media/generations/<id>/video.mp4"
    name: str  # in Django's default storage


@dataclass(frozen=True)
class Section:
    data: dict[str, Any] | Iterable[dict[str, Any]]
    media: Iterable[MediaFile] = field(default_factory=tuple)


Collector = Callable[[User], Section]

_SECTIONS: dict[str, Collector] = {}


def media_file(folder: str, name: str) -> MediaFile | None:
    """The archive entry of a stored file, under media/<folder>/ with the file's own name;
    None for an empty field (no file)."""
    if not name:
        return None
    return MediaFile(path=f"media/{folder}/{name.rsplit('/', 1)[-1]}", name=name)


def account_export_section_register(name: str, collect: Collector) -> None:
    """`name` becomes `<name>.json` in every archive; one app owns each name."""
    if not name.replace("_", "").isalnum() or not name.islower():
        raise ValueError(f"export section name {name!r}: lower-case letters, digits and '_' only")
    if _SECTIONS.get(name, collect) is not collect:
        raise ValueError(f"export section {name!r} is registered already")
    _SECTIONS[name] = collect


def account_export_sections() -> dict[str, Collector]:
    return dict(sorted(_SECTIONS.items()))
