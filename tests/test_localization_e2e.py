"""End to end: an English clip posted to /localizations -> a real Celery worker process localises
it (apertium translation, the hosted speech stages against the local OpenAI audio fake) -> the
renditions download: subtitle cue times are the source's, the dub tracks are there and tagged,
the MP4 decodes and its C2PA manifest verifies with the source as its parent ingredient; credits
settled exactly once. A clip without subtitles is transcribed first."""

from __future__ import annotations

from pathlib import Path

import av
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from accounts.models import Event
from accounts.services import tokens_for_user
from accounts.tests.factories import UserFactory
from billing.models import CreditEntry
from billing.selectors import credit_balance, localization_price
from generation.backends.media import probe
from generation.localization.subtitles import parse_subtitles
from generation.models import GenerationJob
from generation.provenance import provenance_read
from generation.tests.test_localization_stages import SRT, make_clip
from generation.translation.apertium import installed_modes
from tests.fakes.openai_audio import FakeOpenAIAudio
from tests.worker import WorkerProcess, purge_queues, wait_until

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not {"eng-spa", "es-pt_BR"} <= installed_modes(),
                       reason="apertium with apertium-eng-spa and apertium-es-pt (scripts/venv.sh)"),
]

KEY = "sk-e2e-audio"


@pytest.fixture
def env(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.GENERATION_HEARTBEAT_TIMEOUT = 10
    settings.CREDITS_SIGNUP_GRANT = 100
    settings.TRANSLATION_BACKEND = "apertium"
    settings.LOCALIZATION_TRANSCRIBER = "hosted"
    settings.LOCALIZATION_SYNTHESIZER = "hosted"
    settings.LOCALIZATION_HOSTED_API_KEY = KEY
    purge_queues()
    with FakeOpenAIAudio(api_key=KEY) as audio:
        settings.LOCALIZATION_HOSTED_URL = audio.url
        worker = WorkerProcess({"TRANSLATION_BACKEND": "apertium", "LOCALIZATION_TRANSCRIBER": "hosted",
                                "LOCALIZATION_SYNTHESIZER": "hosted", "LOCALIZATION_HOSTED_URL": audio.url,
                                "LOCALIZATION_HOSTED_API_KEY": KEY}, tmp_path / "worker.log").start()
        try:
            yield tmp_path, audio
        finally:
            worker.stop()


def _client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_for_user(user)['access']}")
    return client


def _download(client: APIClient, url: str, path: Path) -> Path:
    response = client.get(url)
    assert response.status_code == 200
    path.write_bytes(b"".join(response.streaming_content))
    return path


def _finished(job_id: str) -> GenerationJob:
    return wait_until(lambda: (job := GenerationJob.objects.get(pk=job_id)).is_terminal and job, timeout=180,
                      interval=0.25, what="the localisation to finish")


def test_an_english_clip_with_srt_becomes_spanish_and_brazilian_renditions(env):
    tmp, audio = env
    user = UserFactory()
    client = _client(user)
    clip = make_clip(tmp, seconds=6)
    response = client.post("/api/v1/localizations", {
        "video": SimpleUploadedFile("talk.mp4", clip.read_bytes(), content_type="video/mp4"),
        "subtitles": SimpleUploadedFile("talk.srt", SRT), "languages": ["es", "pt-BR"], "dub": "true",
        "glossary": '{"Zorblax": "Zorblax"}'}, format="multipart")
    assert response.status_code == 201, response.json()
    job_id = response.json()["id"]

    job = _finished(job_id)
    assert (job.status, job.progress) == ("succeeded", 100)
    state = client.get(f"/api/v1/generations/{job_id}").json()
    source_cues = parse_subtitles(SRT, filename="talk.srt", duration=6.0)
    tags = {"es": "spa", "pt-BR": "por"}
    for rendition in state["renditions"]:
        language = rendition["language"]
        assert (rendition["status"], rendition["dubbed"], rendition["burned_in"], rendition["error_code"]) == (
            "succeeded", True, False, None)
        vtt = _download(client, rendition["subtitles_url"], tmp / f"{language}.vtt")
        cues = parse_subtitles(vtt.read_bytes(), filename="x.vtt", duration=6.0)
        assert [(c.start, c.end) for c in cues] == [(c.start, c.end) for c in source_cues]
        assert [c.text for c in cues] != [c.text for c in source_cues]  # translated
        assert "Zorblax" in cues[1].text
        video = _download(client, rendition["video_url"], tmp / f"{language}.mp4")
        info = probe(video)
        assert (info.codec, info.width, info.height, info.duration_seconds) == ("h264", 160, 96, 6.0)
        with av.open(str(video)) as container:
            audio_tracks = [s.metadata.get("language") for s in container.streams.audio]
            subtitle_tracks = [s.metadata.get("language") for s in container.streams.subtitles]
            decoded = sum(1 for _ in container.decode(audio=0))
        assert subtitle_tracks == [tags[language]]  # the soft subtitles, in the target language
        assert audio_tracks == [tags[language], "eng"]  # the dub (played first), then the original speech
        assert decoded > 0
        report = provenance_read(video)
        assert (report.state, report.job_id, report.ai_generated) == ("trusted", job_id, True)
        translated = next(a for a in report.actions if a["action"] == "c2pa.translated")
        assert (translated["parameters"]["sourceLanguage"], translated["parameters"]["targetLanguage"]) == (
            "en", language)
        assert any(a["action"] == "c2pa.dubbed" for a in report.actions)
        assert [i["relationship"] for i in report.ingredients] == ["parentOf"]

    events = list(Event.objects.filter(user=user, type="generation.updated").order_by("seq")
                  .values_list("data", flat=True))
    statuses = [e["job"]["status"] for e in events]
    assert statuses[0] == "queued" and statuses[-1] == "succeeded" and "running" in statuses
    assert any(0 < e["job"]["progress"] < 100 for e in events if e["job"]["status"] == "running")
    price = localization_price(seconds=6, languages=2, dub=True, burn_in=False, transcribe=False)
    assert CreditEntry.objects.filter(kind="capture").count() == 2
    assert not CreditEntry.objects.filter(kind="release").exists()
    balance = credit_balance(user_id=user.pk)
    assert (balance.available, balance.reserved) == (100 - price.total, 0)


def test_a_clip_without_subtitles_is_transcribed_first(env):
    tmp, audio = env
    audio.default_text = "The cat is here. The dog eats bread."
    user = UserFactory()
    client = _client(user)
    clip = make_clip(tmp, seconds=4)
    response = client.post("/api/v1/localizations", {
        "video": SimpleUploadedFile("talk.mp4", clip.read_bytes(), content_type="video/mp4"),
        "languages": ["es"]}, format="multipart")
    assert response.status_code == 201, response.json()

    job = _finished(response.json()["id"])
    assert job.status == "succeeded"
    transcription = audio.requests_to("/v1/audio/transcriptions")
    assert len(transcription) == 1 and transcription[0].form["language"] == "en"
    rendition = client.get(f"/api/v1/generations/{job.pk}").json()["renditions"][0]
    vtt = _download(client, rendition["subtitles_url"], tmp / "es.vtt").read_text()
    assert "gato" in vtt and "perro" in vtt
    assert not audio.requests_to("/v1/audio/speech")  # no dub asked
    with av.open(str(_download(client, rendition["video_url"], tmp / "es.mp4"))) as container:
        assert [s.metadata.get("language") for s in container.streams.audio] == ["eng"]
    price = localization_price(seconds=4, languages=1, dub=False, burn_in=False, transcribe=True)
    assert list(CreditEntry.objects.filter(reference=job.credit_reference).values_list("kind", flat=True)
                .order_by("id")) == ["reserve", "capture"]
    assert credit_balance(user_id=user.pk).available == 100 - price.total
