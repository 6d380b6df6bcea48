"""The translation catalogs (config/locale): extracting the messages and checking the catalogs.

`python manage.py messages` re-extracts every message of the code into each launch language's
`.po` (new ones untranslated) and compiles them; `python manage.py check_translations` (and
the test suite, tests/test_translations.py) lists, per language, every message that has no
translation, a fuzzy one, or other placeholders than its source.
"""

from __future__ import annotations

import io
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from babel.messages.pofile import read_po
from django.conf import settings
from django.core.management import call_command
from django.test.utils import override_settings
from django.utils.translation import to_locale

CATALOG_DIR = Path(settings.BASE_DIR) / "config" / "locale"
SOURCE_LANGUAGE = "en"  # msgids are English: no English catalog
# Paths (relative to the project) whose strings are not shown to people.
# config/locale too: makemessages would take a folder named "locale" for the catalogs of the
# files next to it, and write the check's extraction there.
IGNORE = ["tests", "*/tests", "bench", "var", "staticfiles", "build", "*/migrations", "config/locale"]
# %(name)s-style and {name}-style placeholders; Python's %-format also counts bare %d/%s.
_PLACEHOLDER = re.compile(r"%\((\w+)\)[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]|%[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]|\{(\w*)\}")


def languages() -> list[str]:
    """The launch languages with catalogs: every settings.LANGUAGES code but the source."""
    return [code for code, _name in settings.LANGUAGES if code != SOURCE_LANGUAGE]


def catalog_path(language: str) -> Path:
    return CATALOG_DIR / to_locale(language) / "LC_MESSAGES" / "django.po"


def makemessages(locale_dir: Path, locales: list[str], *, keep_pot: bool = False) -> None:
    with override_settings(LOCALE_PATHS=[str(locale_dir)]):
        call_command("makemessages", locale=locales, ignore_patterns=IGNORE, no_obsolete=True,
                     add_location="file", keep_pot=keep_pot, verbosity=0)


def update_catalogs() -> None:
    """Re-extract the messages into every launch language's catalog, then compile them."""
    CATALOG_DIR.mkdir(parents=True, exist_ok=True)
    makemessages(CATALOG_DIR, [to_locale(code) for code in languages()])
    call_command("compilemessages", locale=[to_locale(code) for code in languages()],
                 ignore_patterns=[".venv", "var"], verbosity=0)


def source_messages() -> dict[str, str | tuple[str, str]]:
    """Every message of the code now: msgid (with context, "ctx\\x04id") -> msgid or (singular, plural)."""
    with tempfile.TemporaryDirectory() as tmp:
        makemessages(Path(tmp), [to_locale(languages()[0])], keep_pot=True)
        # A fresh template's Plural-Forms is a placeholder ("nplurals=INTEGER") babel cannot read.
        text = (Path(tmp) / "django.pot").read_bytes()
        text = re.sub(rb'"Plural-Forms: [^"]*"\n', b"", text)
        pot = read_po(io.BytesIO(text))
    return {_key(m): m.id for m in pot if m.id}


def _key(message) -> str:
    msgid = message.id[0] if isinstance(message.id, tuple) else message.id
    return f"{message.context}\x04{msgid}" if message.context else msgid


def placeholders(text: str) -> list[str]:
    return sorted(m.group(0) if not (m.group(1) or m.group(2)) else (m.group(1) or m.group(2))
                  for m in _PLACEHOLDER.finditer(text))


@dataclass
class Problems:
    missing: list[str] = field(default_factory=list)
    fuzzy: list[str] = field(default_factory=list)
    placeholders: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.missing or self.fuzzy or self.placeholders)


def _placeholders_match(ids: tuple[str, ...], strings: list[str]) -> bool:
    """A translation has its source's placeholders. Of a plural, each form uses only the
    source's, and the last ("other") form all of the plural's: a form for one may say "one"
    instead of the count."""
    if len(ids) == 1:
        return set(placeholders(strings[0])) == set(placeholders(ids[0]))
    allowed = set(placeholders(ids[0])) | set(placeholders(ids[1]))
    return (all(set(placeholders(s)) <= allowed for s in strings)
            and set(placeholders(strings[-1])) == set(placeholders(ids[1])))


def check_language(language: str, sources: dict) -> Problems:
    problems = Problems()
    path = catalog_path(language)
    if not path.exists():
        problems.missing = sorted(sources)
        return problems
    with open(path, "rb") as handle:
        catalog = {_key(m): m for m in read_po(handle) if m.id}
    for key in sorted(sources):
        message = catalog.get(key)
        strings = [] if message is None else (
            list(message.string) if isinstance(message.string, tuple) else [message.string])
        if message is None or not strings or not all(strings):
            problems.missing.append(key)
            continue
        if message.fuzzy:
            problems.fuzzy.append(key)
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        if not _placeholders_match(ids, strings):
            problems.placeholders.append(f"{key}  ->  {strings}")
    return problems


def report(problems_by_language: dict[str, Problems]) -> str:
    lines = []
    for language, problems in problems_by_language.items():
        for kind in ("missing", "fuzzy", "placeholders"):
            for item in getattr(problems, kind):
                lines.append(f"{language}: {kind}: {item!r}")
    return "\n".join(lines)


def check_catalogs() -> dict[str, Problems]:
    sources = source_messages()
    return {code: found for code in languages() if (found := check_language(code, sources))}
