from __future__ import annotations

from functools import lru_cache
from typing import Protocol

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class UnsupportedPair(Exception):
    """The backend cannot translate between these two languages."""


class TranslationFailed(Exception):
    """The backend was asked and failed (down, timed out, answered an error)."""


class TranslationBackend(Protocol):
    name: str

    def supports(self, source: str, target: str) -> bool:
        """Whether `source` -> `target` (base language codes, or Django codes) can be translated."""

    def translate(self, text: str, *, source: str, target: str) -> str:
        """`text` in `target`; raises UnsupportedPair or TranslationFailed."""


def base_language(code: str) -> str:
    return (code or "").replace("_", "-").split("-")[0].lower()


class NoTranslation:
    name = "none"

    def supports(self, source: str, target: str) -> bool:
        return False

    def translate(self, text: str, *, source: str, target: str) -> str:
        raise UnsupportedPair(f"{source}->{target}")


@lru_cache(maxsize=4)
def _backend(name: str, url: str, key: str, timeout: float) -> TranslationBackend:
    if name == "none":
        return NoTranslation()
    if name == "apertium":
        from .apertium import ApertiumBackend
        return ApertiumBackend()
    if name == "remote":
        from .remote import RemoteBackend
        if not url:
            raise ImproperlyConfigured("TRANSLATION_BACKEND=remote needs TRANSLATION_REMOTE_URL.")
        return RemoteBackend(url=url, api_key=key, timeout=timeout)
    raise ImproperlyConfigured(f"Unknown TRANSLATION_BACKEND {name!r}: use apertium, remote or none.")


def get_translation_backend() -> TranslationBackend:
    # Keyed by the settings so a change (tests) builds a fresh backend.
    return _backend(settings.TRANSLATION_BACKEND, settings.TRANSLATION_REMOTE_URL,
                    settings.TRANSLATION_REMOTE_API_KEY, settings.TRANSLATION_TIMEOUT)
