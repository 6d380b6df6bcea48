"""A local fake of OpenAI's audio API (what the hosted localisation stages call), speaking its
protocol and refusing what the real API refuses, with OpenAI's error body:

    POST /v1/audio/transcriptions   multipart: file (<= 25 MB, an audio format), model (required,
                                    known), language (ISO 639-1), response_format (json, text, srt,
                                    verbose_json, vtt; whisper-1 only for all but json and text),
                                    timestamp_granularities[] (verbose_json only)
    POST /v1/audio/speech           JSON: model (required, known), input (1-4096 chars), voice (a
                                    built-in), response_format (mp3 opus aac flac wav pcm); answers
                                    the audio (a real WAV: a tone as long as the text)

The transcript is what `transcripts` maps the uploaded file's sha256 to, else one segment
`default_text` over the whole WAV. Run by hand: python -m tests.fakes.openai_audio [port]
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import struct
import sys
import threading
import wave
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .server import FakeHandler, FakeServer
from .video_common import RecordedRequest, parse_multipart

MAX_FILE_BYTES = 25 * 1024 * 1024
MAX_INPUT = 4096
STT_MODELS = {"whisper-1": ("json", "text", "srt", "verbose_json", "vtt"),
              "gpt-4o-transcribe": ("json", "text"), "gpt-4o-mini-transcribe": ("json", "text")}
TTS_MODELS = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts")
VOICES = ("alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer", "verse", "marin",
          "cedar")
SPEECH_FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm")
AUDIO_EXTENSIONS = ("flac", "mp3", "mp4", "mpeg", "mpga", "m4a", "ogg", "wav", "webm")
LANGUAGE_NAMES = {"en": "english", "es": "spanish", "pt": "portuguese", "ja": "japanese"}


class ApiError(Exception):
    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.param, self.code = status, param, code

    def body(self) -> dict[str, Any]:
        kind = "invalid_request_error" if self.status < 500 else "server_error"
        return {"error": {"message": str(self), "type": kind, "param": self.param, "code": self.code}}


@dataclass
class Segment:
    start: float
    end: float
    text: str


def tone_wav(seconds: float, *, rate: int = 24000, hz: float = 220.0) -> bytes:
    """A mono 16-bit WAV: a soft tone (so a mixer's levels can be checked)."""
    frames = max(1, int(seconds * rate))
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * hz * i / rate)))
                                 for i in range(frames)))
    return buffer.getvalue()


def _wav_seconds(data: bytes) -> float | None:
    try:
        with wave.open(io.BytesIO(data), "rb") as wav:
            return wav.getnframes() / float(wav.getframerate())
    except (wave.Error, EOFError):
        return None


class FakeOpenAIAudio:
    def __init__(self, *, api_key: str = "sk-test", host: str = "127.0.0.1", port: int = 0,
                 default_text: str = "Hello from the fake transcriber.") -> None:
        self.api_key = api_key
        self.default_text = default_text
        self.transcripts: dict[str, list[Segment]] = {}  # sha256 of the uploaded file -> segments
        self.requests: list[RecordedRequest] = []
        self.failures: dict[str, list[int]] = {"transcriptions": [], "speech": []}
        self.lock = threading.Lock()
        self.http = FakeServer(_handler_for(self), name="fake-openai-audio", host=host, port=port)

    @property
    def url(self) -> str:
        return self.http.url

    def fail(self, route: str, *statuses: int) -> None:
        with self.lock:
            self.failures[route].extend(statuses)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path]

    def start(self) -> "FakeOpenAIAudio":
        self.http.start()
        return self

    def stop(self) -> None:
        self.http.stop()

    def __enter__(self) -> "FakeOpenAIAudio":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- the routes -----------------------------------------------------------------------

    def transcribe(self, recorded: RecordedRequest) -> tuple[bytes, str]:
        form, files = recorded.form, recorded.files
        model = form.get("model")
        if not model:
            raise ApiError(400, "you must provide a model parameter", param="model")
        if model not in STT_MODELS:
            raise ApiError(400, f"The model `{model}` does not exist or you do not have access to it.",
                           param="model", code="model_not_found")
        if "file" not in files:
            raise ApiError(400, "you must provide a file parameter", param="file")
        filename, __, data = files["file"]
        if len(data) > MAX_FILE_BYTES:
            raise ApiError(413, f"Maximum content size limit ({MAX_FILE_BYTES}) exceeded.", param="file")
        if filename.rsplit(".", 1)[-1].lower() not in AUDIO_EXTENSIONS:
            raise ApiError(400, f"Invalid file format. Supported formats: {list(AUDIO_EXTENSIONS)}", param="file")
        fmt = form.get("response_format", "json")
        if fmt not in STT_MODELS[model]:
            raise ApiError(400, f"response_format '{fmt}' is not compatible with model '{model}'.",
                           param="response_format", code="unsupported_value")
        granularities = [v for k, v in form.items() if k.startswith("timestamp_granularities")]
        if granularities and fmt != "verbose_json":
            raise ApiError(400, "timestamp_granularities requires response_format=verbose_json.",
                           param="timestamp_granularities")
        if any(g not in ("segment", "word") for g in granularities):
            raise ApiError(400, "timestamp_granularities must be segment or word.", param="timestamp_granularities")
        language = form.get("language", "")
        if language and (len(language) != 2 or not language.isalpha()):
            raise ApiError(400, f"Invalid language '{language}'. Use ISO-639-1.", param="language")
        seconds = _wav_seconds(data) if filename.lower().endswith(".wav") else 5.0
        if seconds is None:
            raise ApiError(400, "The audio file could not be decoded or its format is not supported.", param="file")
        segments = self.transcripts.get(hashlib.sha256(data).hexdigest()) or [
            Segment(0.0, round(seconds, 3), self.default_text)]
        text = " ".join(s.text for s in segments)
        if fmt == "text":
            return text.encode(), "text/plain"
        if fmt == "json":
            return json.dumps({"text": text, "usage": {"type": "duration", "seconds": math.ceil(seconds)}}).encode(), \
                "application/json"
        if fmt in ("srt", "vtt"):
            return self._timed_text(segments, fmt).encode(), "text/plain"
        body = {"task": "transcribe", "language": LANGUAGE_NAMES.get(language, language or "english"),
                "duration": round(seconds, 3), "text": text,
                "segments": [{"id": i, "seek": 0, "start": s.start, "end": s.end, "text": s.text, "tokens": [1, 2],
                              "temperature": 0.0, "avg_logprob": -0.2, "compression_ratio": 1.1,
                              "no_speech_prob": 0.01} for i, s in enumerate(segments)],
                "usage": {"type": "duration", "seconds": math.ceil(seconds)}}
        return json.dumps(body).encode(), "application/json"

    @staticmethod
    def _timed_text(segments: list[Segment], fmt: str) -> str:
        def stamp(t: float) -> str:
            ms = round(t * 1000)
            sep = "," if fmt == "srt" else "."
            return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d}{sep}{ms % 1000:03d}"
        blocks = [f"{i + 1}\n{stamp(s.start)} --> {stamp(s.end)}\n{s.text}" for i, s in enumerate(segments)]
        return ("WEBVTT\n\n" if fmt == "vtt" else "") + "\n\n".join(blocks) + "\n"

    def speak(self, recorded: RecordedRequest) -> tuple[bytes, str]:
        body = recorded.json
        if not isinstance(body, dict):
            raise ApiError(400, "We could not parse the JSON body of your request.")
        model = body.get("model")
        if not model:
            raise ApiError(400, "you must provide a model parameter", param="model")
        if model not in TTS_MODELS:
            raise ApiError(400, f"The model `{model}` does not exist or you do not have access to it.",
                           param="model", code="model_not_found")
        text = body.get("input")
        if not isinstance(text, str) or not text:
            raise ApiError(400, "Missing required parameter: 'input'.", param="input")
        if len(text) > MAX_INPUT:
            raise ApiError(400, f"[{{'type': 'string_too_long', 'loc': ('body', 'input'), 'msg': 'String should "
                           f"have at most {MAX_INPUT} characters'}}]", param="input", code="string_too_long")
        voice = body.get("voice")
        if isinstance(voice, dict):
            voice = voice.get("id")
        if voice not in VOICES:
            raise ApiError(400, f"Invalid value for 'voice': '{voice}'.", param="voice", code="invalid_value")
        fmt = body.get("response_format", "mp3")
        if fmt not in SPEECH_FORMATS:
            raise ApiError(400, f"Invalid value for 'response_format': '{fmt}'.", param="response_format",
                           code="invalid_value")
        speed = body.get("speed", 1.0)
        if not isinstance(speed, (int, float)) or not 0.25 <= speed <= 4.0:
            raise ApiError(400, "speed must be between 0.25 and 4.0", param="speed")
        if fmt != "wav":  # only WAV is made here; the others are accepted and answered as tagged bytes
            return b"FAKE-" + fmt.encode(), f"audio/{fmt}"
        # About 15 characters a second, like a speaking voice.
        return tone_wav(max(0.3, len(text) / 15 / speed)), "audio/wav"


def _handler_for(api: FakeOpenAIAudio) -> type[FakeHandler]:
    routes = {"/v1/audio/transcriptions": ("transcriptions", api.transcribe), "/v1/audio/speech": ("speech", api.speak)}

    class Handler(FakeHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            parts = urlsplit(self.path)
            body = self.read_body()
            recorded = RecordedRequest(method="POST", path=parts.path, query={}, headers=dict(self.headers.items()),
                                       body=body)
            content_type = self.headers.get("Content-Type", "")
            if content_type.startswith("application/json"):
                try:
                    recorded.json = json.loads(body)
                except ValueError:
                    recorded.json = None
            elif content_type.startswith("multipart/form-data"):
                recorded.form, recorded.files = parse_multipart(content_type, body)
            with api.lock:
                api.requests.append(recorded)
            try:
                if recorded.header("Authorization") != f"Bearer {api.api_key}":
                    raise ApiError(401, "Incorrect API key provided.", code="invalid_api_key")
                if parts.path not in routes:
                    raise ApiError(404, f"Invalid URL (POST {parts.path})")
                name, route = routes[parts.path]
                with api.lock:
                    failure = api.failures[name].pop(0) if api.failures[name] else None
                if failure is not None:
                    raise ApiError(failure, "The server had an error while processing your request.")
                data, kind = route(recorded)
            except ApiError as exc:
                self.send_json(exc.status, exc.body())
                return
            recorded.accepted = True
            self.send_body(200, data, content_type=kind)

    return Handler


if __name__ == "__main__":
    fake = FakeOpenAIAudio(port=int(sys.argv[1]) if len(sys.argv) > 1 else 8091)
    print(f"fake OpenAI audio API on {fake.url}")
    fake.http.serve_until_interrupted()
