"""A local translation API speaking LibreTranslate's protocol, and a fixture pointing
generation.translation's `remote` backend at it.

    GET  /languages   [{"code": "en", "name": "English", "targets": ["es", ...]}, ...]
    POST /translate   {"q", "source", "target", "format", "api_key"?} -> {"translatedText"}
                      400 {"error"} for an unsupported pair, 403 for a wrong key, 500 when told to fail

It "translates" from a small phrase book (and marks anything else as `[target] text`), so a
test can tell a translation from the original. The backend does the real HTTP against it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from .server import FakeHandler, serve_fake

PHRASES = {("en", "ja"): {"My cat dances in the rain": "私の猫は雨の中で踊る"},
           ("en", "ar"): {"My cat dances in the rain": "قطتي ترقص تحت المطر"}}


@dataclass
class FakeTranslateAPI:
    api_key: str = "tr-test"
    pairs: set[tuple[str, str]] = field(default_factory=lambda: {("en", "ja"), ("en", "ar"), ("ja", "en")})
    fail_with: int | None = None
    requests: list[dict] = field(default_factory=list)
    url: str = ""


def _handler_for(api: FakeTranslateAPI) -> type[FakeHandler]:
    class Handler(FakeHandler):
        def do_GET(self) -> None:
            if self.path != "/languages":
                return self.send_json(404, {"error": "Not found"})
            codes = sorted({s for s, _ in api.pairs} | {t for _, t in api.pairs})
            self.send_json(200, [{"code": c, "name": c, "targets": sorted(t for s, t in api.pairs if s == c)}
                                 for c in codes])

        def do_POST(self) -> None:
            if self.path != "/translate":
                return self.send_json(404, {"error": "Not found"})
            try:
                body = json.loads(self.read_body() or b"{}")
            except ValueError:
                return self.send_json(400, {"error": "Invalid request"})
            api.requests.append(body)
            if api.fail_with is not None:
                return self.send_json(api.fail_with, {"error": "Translation failed"})
            if body.get("api_key") != api.api_key:
                return self.send_json(403, {"error": "Invalid API key"})
            pair = (body.get("source"), body.get("target"))
            if pair not in api.pairs or not isinstance(body.get("q"), str):
                return self.send_json(400, {"error": f"{pair[0]} -> {pair[1]} is not supported"})
            text = PHRASES.get(pair, {}).get(body["q"], f"[{pair[1]}] {body['q']}")
            self.send_json(200, {"translatedText": text})

    return Handler


@pytest.fixture
def translate_api() -> Iterator[FakeTranslateAPI]:
    yield from serve_fake(FakeTranslateAPI(), _handler_for, name="fake-translate-api")


@pytest.fixture
def remote_translation(translate_api, settings) -> FakeTranslateAPI:
    settings.TRANSLATION_BACKEND = "remote"
    settings.TRANSLATION_REMOTE_URL = translate_api.url
    settings.TRANSLATION_REMOTE_API_KEY = translate_api.api_key
    return translate_api
