"""Text translation backends (captions today; the video localisation jobs reuse them for
subtitles). One small interface, chosen by TRANSLATION_BACKEND:

- `apertium`: offline, Debian's apertium with the pairs installed here (no download, no
  network): English <-> Spanish, Spanish <-> Portuguese, and English <-> Portuguese through
  Spanish. Other pairs are unsupported (the caller shows the original).
- `remote`: a hosted HTTP translation API (LibreTranslate's `POST /translate` protocol), at
  TRANSLATION_REMOTE_URL.
- `none`: translation off.
"""

from __future__ import annotations

from .base import TranslationBackend, TranslationFailed, UnsupportedPair, base_language, get_translation_backend

__all__ = ["TranslationBackend", "TranslationFailed", "UnsupportedPair", "base_language", "get_translation_backend"]
