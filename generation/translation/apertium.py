"""Offline translation with Debian's apertium: one `apertium <mode>` process per text.

Apertium is rule-based: it translates word by word with grammar rules, keeps the sentence's
formatting, and marks words it does not know with `*` (removed here: `-u`). It knows only
the pairs whose data packages are installed (scripts/venv.sh installs apertium-eng-spa and
apertium-es-pt); English <-> Portuguese goes through Spanish, which loses more.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

from django.conf import settings

from .base import TranslationFailed, UnsupportedPair, base_language

logger = logging.getLogger(__name__)

# (source, target) base codes -> apertium modes, run one after the other.
_CHAINS: dict[tuple[str, str], tuple[str, ...]] = {
    ("en", "es"): ("eng-spa",),
    ("es", "en"): ("spa-eng",),
    ("es", "pt"): ("es-pt_BR",),
    ("pt", "es"): ("pt-es",),
    ("en", "pt"): ("eng-spa", "es-pt_BR"),
    ("pt", "en"): ("pt-es", "spa-eng"),
}


@lru_cache(maxsize=1)
def installed_modes() -> frozenset[str]:
    """The modes apertium can run here (its data packages' .mode files)."""
    if shutil.which("apertium") is None:
        return frozenset()
    modes = Path(settings.TRANSLATION_APERTIUM_MODES_DIR)
    return frozenset(p.stem for p in modes.glob("*.mode")) if modes.is_dir() else frozenset()


class ApertiumBackend:
    name = "apertium"

    def _chain(self, source: str, target: str) -> tuple[str, ...] | None:
        chain = _CHAINS.get((base_language(source), base_language(target)))
        return chain if chain and set(chain) <= installed_modes() else None

    def supports(self, source: str, target: str) -> bool:
        return self._chain(source, target) is not None

    def translate(self, text: str, *, source: str, target: str) -> str:
        chain = self._chain(source, target)
        if chain is None:
            raise UnsupportedPair(f"{source}->{target}")
        for mode in chain:
            try:
                done = subprocess.run(["apertium", "-u", mode], input=text, capture_output=True, text=True,
                                      timeout=settings.TRANSLATION_TIMEOUT, check=False)
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise TranslationFailed(f"apertium {mode}: {exc}") from exc
            if done.returncode != 0:
                logger.warning("translation.apertium_failed", extra={"mode": mode, "stderr": done.stderr[-500:]})
                raise TranslationFailed(f"apertium {mode} exited {done.returncode}")
            text = done.stdout.rstrip("\n")
        return text
