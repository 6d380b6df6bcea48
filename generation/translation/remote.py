"""A hosted translation API speaking LibreTranslate's protocol (self-hosted LibreTranslate, or
any service with the same `POST /translate`):

    POST {url}/translate  {"q": text, "source": "en", "target": "es", "format": "text", "api_key": ...}
    200 {"translatedText": "..."}      400/403/429/500 {"error": "..."}

    GET {url}/languages  [{"code": "en", "targets": ["es", ...]}, ...]   (which pairs exist)
"""

from __future__ import annotations

import logging
import time

import requests

from .base import TranslationFailed, UnsupportedPair, base_language

logger = logging.getLogger(__name__)
LANGUAGES_TTL = 3600  # seconds the API's list of pairs is reused


class RemoteBackend:
    name = "remote"

    def __init__(self, *, url: str, api_key: str = "", timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self._pairs: set[tuple[str, str]] | None = None
        self._pairs_at = 0.0

    def _code(self, code: str) -> str:
        # LibreTranslate names Chinese (simplified) "zh" and Brazilian Portuguese "pt".
        return base_language(code)

    def _known_pairs(self) -> set[tuple[str, str]]:
        if self._pairs is None or time.monotonic() - self._pairs_at > LANGUAGES_TTL:
            try:
                answer = requests.get(f"{self.url}/languages", timeout=self.timeout)
                answer.raise_for_status()
                self._pairs = {(item["code"], target) for item in answer.json() for target in item.get("targets", [])}
            except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
                raise TranslationFailed(f"languages: {exc}") from exc
            self._pairs_at = time.monotonic()
        return self._pairs

    def supports(self, source: str, target: str) -> bool:
        try:
            return (self._code(source), self._code(target)) in self._known_pairs()
        except TranslationFailed:
            return False

    def translate(self, text: str, *, source: str, target: str) -> str:
        if not self.supports(source, target):
            raise UnsupportedPair(f"{source}->{target}")
        body = {"q": text, "source": self._code(source), "target": self._code(target), "format": "text"}
        if self.api_key:
            body["api_key"] = self.api_key
        try:
            answer = requests.post(f"{self.url}/translate", json=body, timeout=self.timeout)
        except requests.RequestException as exc:
            raise TranslationFailed(str(exc)) from exc
        if answer.status_code != 200:
            logger.warning("translation.remote_failed", extra={"status": answer.status_code, "body": answer.text[:300]})
            raise TranslationFailed(f"HTTP {answer.status_code}")
        try:
            return str(answer.json()["translatedText"])
        except (ValueError, KeyError, TypeError) as exc:
            raise TranslationFailed(f"unreadable answer: {exc}") from exc
