"""The fake of OpenAI's audio API (tests/fakes/openai_audio.py), driven by the official `openai` SDK:
the SDK's own types parse every answer, the fake's vocabularies (models, voices, formats, params)
are the SDK's, and the fake refuses what the real API refuses, with OpenAI's error body. If the
SDK changes shape, this fails first."""

from __future__ import annotations

import io
import json
import typing
import urllib.error
import urllib.request
import wave

import openai
import pytest
from openai.types import AudioModel, AudioResponseFormat
from openai.types.audio import SpeechModel, TranscriptionVerbose, speech_create_params, transcription_create_params

from tests.fakes import openai_audio
from tests.fakes.openai_audio import FakeOpenAIAudio, Segment, tone_wav

KEY = "sk-contract"


@pytest.fixture
def api():
    with FakeOpenAIAudio(api_key=KEY) as server:
        yield server


@pytest.fixture
def client(api):
    with openai.OpenAI(api_key=KEY, base_url=f"{api.url}/v1", max_retries=0, timeout=10) as sdk:
        yield sdk


def _raw(api, path: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(f"{api.url}{path}", data=json.dumps(body).encode(), method="POST",
                                     headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, {}
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_the_fakes_vocabulary_is_the_sdks():
    assert set(openai_audio.STT_MODELS) <= set(typing.get_args(AudioModel))
    assert {f for formats in openai_audio.STT_MODELS.values() for f in formats} <= set(typing.get_args(AudioResponseFormat))
    assert set(openai_audio.TTS_MODELS) <= set(typing.get_args(SpeechModel))
    voices = next(a for a in typing.get_args(speech_create_params.Voice) if typing.get_origin(a) is typing.Literal)
    assert set(openai_audio.VOICES) == set(typing.get_args(voices))
    formats = typing.get_type_hints(speech_create_params.SpeechCreateParams)["response_format"]
    assert set(openai_audio.SPEECH_FORMATS) == set(typing.get_args(formats))
    # Every form field the fake reads is a parameter of the SDK's create.
    read = {"file", "model", "language", "response_format", "timestamp_granularities"}
    assert read <= set(transcription_create_params.TranscriptionCreateParamsBase.__annotations__)
    assert {"input", "model", "voice", "response_format", "speed"} <= set(
        speech_create_params.SpeechCreateParams.__annotations__)


def test_verbose_transcription_parses_into_the_sdks_type_with_segments(client, api):
    wav = tone_wav(2.0, rate=16000)
    api.transcripts[__import__("hashlib").sha256(wav).hexdigest()] = [Segment(0.1, 0.9, "Hello there."),
                                                                      Segment(1.0, 1.8, "General Kenobi.")]
    result = client.audio.transcriptions.create(file=("speech.wav", wav, "audio/wav"), model="whisper-1",
                                                language="en", response_format="verbose_json",
                                                timestamp_granularities=["segment"])
    assert isinstance(result, TranscriptionVerbose)
    assert [(s.start, s.end, s.text) for s in result.segments] == [(0.1, 0.9, "Hello there."),
                                                                  (1.0, 1.8, "General Kenobi.")]
    assert (result.language, result.duration, result.text) == ("english", 2.0, "Hello there. General Kenobi.")
    sent = api.requests_to("/v1/audio/transcriptions")[0]
    assert sent.header("Content-Type").startswith("multipart/form-data")
    assert sent.form == {"model": "whisper-1", "language": "en", "response_format": "verbose_json",
                         "timestamp_granularities[]": "segment"}


def test_speech_is_a_wav_as_the_sdk_streams_it(client, api, tmp_path):
    response = client.audio.speech.create(input="Hola a todos", model="tts-1", voice="alloy", response_format="wav")
    out = tmp_path / "speech.wav"
    response.write_to_file(out)
    with wave.open(str(out), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 24000)
        assert wav.getnframes() > 0
    assert api.requests_to("/v1/audio/speech")[0].json == {"input": "Hola a todos", "model": "tts-1",
                                                             "voice": "alloy", "response_format": "wav"}


@pytest.mark.parametrize("change, param", [
    ({"model": "tts-9"}, "model"),
    ({"input": "x" * 4097}, "input"),
    ({"voice": "robot"}, "voice"),
    ({"response_format": "wma"}, "response_format"),
])
def test_speech_refuses_what_the_api_refuses(client, change, param):
    body = {"input": "Hola", "model": "tts-1", "voice": "alloy", "response_format": "wav", **change}
    with pytest.raises(openai.BadRequestError) as caught:
        client.audio.speech.create(**body)
    assert caught.value.status_code == 400 and caught.value.param == param


def test_speech_without_a_model_or_input_is_refused(api):
    status, body = _raw(api, "/v1/audio/speech", {"input": "Hola", "voice": "alloy"})
    assert (status, body["error"]["param"]) == (400, "model")
    status, body = _raw(api, "/v1/audio/speech", {"model": "tts-1", "voice": "alloy"})
    assert (status, body["error"]["param"]) == (400, "input")


def test_transcription_refuses_what_the_api_refuses(client, api):
    wav = tone_wav(0.5, rate=16000)
    with pytest.raises(openai.BadRequestError) as caught:  # gpt-4o models answer json or text only
        client.audio.transcriptions.create(file=("a.wav", wav, "audio/wav"), model="gpt-4o-transcribe",
                                           response_format="verbose_json")
    assert caught.value.param == "response_format"
    with pytest.raises(openai.BadRequestError) as caught:
        client.audio.transcriptions.create(file=("a.wav", wav, "audio/wav"), model="whisper-9")
    assert caught.value.param == "model"
    with pytest.raises(openai.BadRequestError) as caught:
        client.audio.transcriptions.create(file=("a.txt", b"not audio", "text/plain"), model="whisper-1")
    assert caught.value.param == "file"
    big = io.BytesIO(b"\0" * (25 * 1024 * 1024 + 1))
    with pytest.raises(openai.APIStatusError) as caught:
        client.audio.transcriptions.create(file=("big.wav", big, "audio/wav"), model="whisper-1")
    assert caught.value.status_code == 413


def test_a_wrong_key_is_a_401(api):
    with openai.OpenAI(api_key="sk-wrong", base_url=f"{api.url}/v1", max_retries=0, timeout=10) as sdk:
        with pytest.raises(openai.AuthenticationError):
            sdk.audio.speech.create(input="Hola", model="tts-1", voice="alloy")
