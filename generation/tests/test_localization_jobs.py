"""Localize jobs through the API and the worker's services in this process (the real Celery worker
runs in tests/test_localization_e2e.py): what a submit checks and refuses (nothing created,
charged or stored), per-language credits, a failed language beside a succeeded one, the retry of
only the failed ones, and the remix refusal."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from billing.models import CreditEntry
from billing.selectors import credit_balance, localization_price
from generation import services
from generation.models import GenerationJob, JobKind, Rendition
from generation.tests.factories import GenerationJobFactory
from generation.tests.test_localization_stages import SRT, make_clip
from generation.translation.apertium import installed_modes
from tests.fakes.openai_audio import FakeOpenAIAudio, Segment

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(not {"eng-spa", "es-pt_BR"} <= installed_modes(),
                       reason="apertium with apertium-eng-spa and apertium-es-pt (scripts/venv.sh)"),
]

KEY = "sk-audio"


@pytest.fixture
def audio(settings):
    settings.TRANSLATION_BACKEND = "apertium"
    settings.LOCALIZATION_TRANSCRIBER = "hosted"
    settings.LOCALIZATION_SYNTHESIZER = "hosted"
    settings.LOCALIZATION_HOSTED_API_KEY = KEY
    with FakeOpenAIAudio(api_key=KEY) as fake:
        settings.LOCALIZATION_HOSTED_URL = fake.url
        yield fake


@pytest.fixture
def clip(tmp_path) -> Path:
    return make_clip(tmp_path, seconds=6)


def _upload(path: Path, name: str = "clip.mp4") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, path.read_bytes(), content_type="video/mp4")


def _srt(data: bytes = SRT, name: str = "source.srt") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/x-subrip")


def _stored_files(settings) -> list[str]:
    root = Path(settings.MEDIA_ROOT)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


def _run_worker() -> str:
    claim = services.job_claim(owner="test-worker")
    assert claim.outcome == services.StartOutcome.STARTED
    return services.job_render(job_id=claim.job_id, owner="test-worker")


def _entries(reference: str) -> list[str]:
    return list(CreditEntry.objects.filter(reference=reference).order_by("id").values_list("kind", flat=True))


def test_submit_reserves_per_language_and_the_worker_settles_each(client_for, user, audio, clip, sent_tasks,
                                                                  django_capture_on_commit_callbacks):
    api = client_for(user)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/v1/localizations", {"video": _upload(clip), "subtitles": _srt(),
                                                      "languages": ["ES", "pt-br"], "dub": "true"}, format="multipart")
    assert response.status_code == 201, response.json()
    body = response.json()
    price = localization_price(seconds=6, languages=2, dub=True, burn_in=False, transcribe=False)
    assert (body["kind"], body["status"], body["cost"]) == ("localize", "queued", price.total)
    assert [(r["language"], r["status"], r["dubbed"], r["video_url"]) for r in body["renditions"]] == [
        ("es", "pending", True, None), ("pt-BR", "pending", True, None)]
    assert sent_tasks == [(services.RENDER_TASK, [body["id"]], {"queue": "gpu", "priority": 9})]
    assert credit_balance(user_id=user.pk).reserved == price.total

    assert _run_worker() == "succeeded"
    job = GenerationJob.objects.get(pk=body["id"])
    for rendition in job.renditions.all():
        assert (rendition.status, rendition.stage, rendition.cues) == ("succeeded", "mux", 3)
        assert _entries(rendition.credit_reference) == ["reserve", "capture"]
    assert _entries(job.credit_reference) == []  # subtitles came with the video: no transcription
    balance = credit_balance(user_id=user.pk)
    assert (balance.available, balance.reserved) == (100 - price.total, 0)
    state = api.get(f"/api/v1/generations/{job.pk}").json()
    assert state["status"] == "succeeded" and state["progress"] == 100
    assert all(r["video_url"] and r["subtitles_url"] and r["error_code"] is None for r in state["renditions"])
    # One speech request per translated cue and language.
    assert len(audio.requests_to("/v1/audio/speech")) == 6


def test_without_subtitles_the_source_is_transcribed_once_and_charged_once(client_for, user, audio, clip,
                                                                         sent_tasks):
    audio.default_text = "The cat is here."
    response = client_for(user).post("/api/v1/localizations", {"video": _upload(clip), "languages": ["es"]},
                                     format="multipart")
    assert response.status_code == 201, response.json()
    assert _run_worker() == "succeeded"
    job = GenerationJob.objects.get(pk=response.json()["id"])
    assert job.source_subtitles.name.endswith(".vtt")
    assert job.source_subtitles.read().decode().startswith("WEBVTT")
    sent = audio.requests_to("/v1/audio/transcriptions")
    assert len(sent) == 1 and sent[0].form["language"] == "en" and sent[0].form["model"] == "whisper-1"
    assert _entries(job.credit_reference) == ["reserve", "capture"]
    rendition = job.renditions.get()
    assert (rendition.language, rendition.status, rendition.cues) == ("es", "succeeded", 1)
    assert "gato" in rendition.subtitles.read().decode()


def test_a_failed_language_keeps_the_others_and_a_retry_redoes_only_it(client_for, user, audio, clip, sent_tasks):
    api = client_for(user)
    audio.fail("speech", 400)  # the first language's first line is refused (not retried by the SDK)
    response = api.post("/api/v1/localizations", {"video": _upload(clip), "subtitles": _srt(),
                                                  "languages": ["es", "pt-BR"], "dub": True}, format="multipart")
    assert response.status_code == 201
    assert _run_worker() == "succeeded"  # at least one language made it
    job = GenerationJob.objects.get(pk=response.json()["id"])
    es, pt = job.renditions.get(language="es"), job.renditions.get(language="pt-BR")
    assert (es.status, es.error_code, es.stage, bool(es.video)) == ("failed", "hosted_stage_refused", "dub", False)
    assert pt.status == "succeeded"
    assert _entries(es.credit_reference) == ["reserve", "release"]
    assert _entries(pt.credit_reference) == ["reserve", "capture"]

    retry = api.post(f"/api/v1/generations/{job.pk}/retry")
    assert retry.status_code == 201, retry.json()
    again = GenerationJob.objects.get(pk=retry.json()["id"])
    per_language = localization_price(seconds=6, languages=1, dub=True, burn_in=False, transcribe=False)
    assert (again.retry_of_id, again.cost) == (job.pk, per_language.total)
    assert [r.language for r in again.renditions.all()] == ["es"]
    # Retrying again while that retry is on its way is refused.
    assert api.post(f"/api/v1/generations/{job.pk}/retry").json()["error"]["code"] == "job_not_retryable"
    assert _run_worker() == "succeeded"
    assert _entries(again.renditions.get().credit_reference) == ["reserve", "capture"]
    # Nothing of the first job was settled twice.
    assert _entries(pt.credit_reference) == ["reserve", "capture"]
    assert _entries(es.credit_reference) == ["reserve", "release"]
    spent = 2 * per_language.total
    assert credit_balance(user_id=user.pk).available == 100 - spent
    # Nothing left to retry now.
    assert api.post(f"/api/v1/generations/{again.pk}/retry").json()["error"]["code"] == "job_not_retryable"


def test_all_languages_failing_fails_the_job_and_releases_everything(client_for, user, audio, clip, sent_tasks):
    audio.default_text = "The cat is here."
    audio.fail("speech", 400, 400)
    response = client_for(user).post("/api/v1/localizations", {"video": _upload(clip), "languages": ["es", "pt-BR"],
                                                               "dub": True}, format="multipart")
    assert _run_worker() == "failed"
    job = GenerationJob.objects.get(pk=response.json()["id"])
    assert (job.status, job.error_code) == ("failed", "localization_failed")
    assert _entries(job.credit_reference) == ["reserve", "release"]  # the transcription too
    assert credit_balance(user_id=user.pk).available == 100


def test_a_canceled_job_releases_its_pending_languages(client_for, user, audio, clip, sent_tasks):
    api = client_for(user)
    response = api.post("/api/v1/localizations", {"video": _upload(clip), "subtitles": _srt(),
                                                  "languages": ["es", "pt-BR"]}, format="multipart")
    job_id = response.json()["id"]
    assert api.post(f"/api/v1/generations/{job_id}/cancel").json()["status"] == "canceled"
    for rendition in Rendition.objects.filter(job_id=job_id):
        assert (rendition.status, rendition.error_code) == ("failed", "canceled")
        assert _entries(rendition.credit_reference) == ["reserve", "release"]
    assert credit_balance(user_id=user.pk).available == 100


def test_a_generation_of_the_caller_is_localised_and_keeps_its_cameos_checked(client_for, user, audio, sent_tasks,
                                                                              tmp_path, settings):
    source = GenerationJobFactory(user=user, status="succeeded")  # a render with a stored video
    clip = make_clip(tmp_path, seconds=4)
    from django.core.files.storage import default_storage

    source.video = default_storage.save(f"generation/{user.pk}/{source.pk}/video.mp4", _upload(clip))
    source.result_duration = 4.0
    source.save()
    response = client_for(user).post("/api/v1/localizations", {"source_generation_id": str(source.pk),
                                                               "languages": ["es"],
                                                               "glossary": {"lighthouse": "Faro"}}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["source_generation_id"] == str(source.pk)
    assert _run_worker() == "succeeded"
    rendition = Rendition.objects.get(job_id=response.json()["id"])
    assert rendition.source_job_id == source.pk

    other = client_for(GenerationJobFactory().user).post(
        "/api/v1/localizations", {"source_generation_id": str(source.pk), "languages": ["es"]}, format="json")
    assert (other.status_code, other.json()["error"]["code"]) == (404, "source_not_found")


def test_a_localisation_is_not_a_remix_source(client_for, user, audio, clip, sent_tasks):
    api = client_for(user)
    job_id = api.post("/api/v1/localizations", {"video": _upload(clip), "subtitles": _srt(), "languages": ["es"]},
                      format="multipart").json()["id"]
    assert _run_worker() == "succeeded"
    before = GenerationJob.objects.count()
    response = api.post("/api/v1/generations", {"kind": "remix", "prompt": "again", "duration_seconds": 4,
                                                "size": "480x854", "source_generation_id": job_id}, format="json")
    assert (response.status_code, response.json()["error"]["code"]) == (400, "source_not_remixable")
    assert GenerationJob.objects.count() == before


def test_an_idempotency_key_replays_the_first_job(client_for, user, audio, clip, sent_tasks):
    api = client_for(user)
    body = {"video": _upload(clip), "subtitles": _srt(), "languages": ["es"]}
    first = api.post("/api/v1/localizations", body, format="multipart", HTTP_IDEMPOTENCY_KEY="k1")
    again = api.post("/api/v1/localizations", {"video": _upload(clip), "subtitles": _srt(), "languages": ["es"]},
                     format="multipart", HTTP_IDEMPOTENCY_KEY="k1")
    assert (first.status_code, again.status_code, again.json()["id"]) == (201, 200, first.json()["id"])
    other = api.post("/api/v1/localizations", {"video": _upload(clip), "subtitles": _srt(), "languages": ["pt-BR"]},
                     format="multipart", HTTP_IDEMPOTENCY_KEY="k1")
    assert (other.status_code, other.json()["error"]["code"]) == (409, "idempotency_key_reused")
    assert GenerationJob.objects.filter(kind=JobKind.LOCALIZE).count() == 1


OUT_OF_RANGE = b"1\n00:00:01,000 --> 00:00:09,000\nToo late.\n"


@pytest.mark.parametrize("case, expected", [
    ("not_a_video", (400, "video_invalid")),
    ("too_long", (400, "video_too_long")),
    ("too_large", (400, "video_too_large")),
    ("subtitles_do_not_parse", (400, "subtitles_invalid")),
    ("cue_outside_the_video", (400, "subtitles_out_of_range")),
    ("unsupported_pair", (400, "language_pair_unsupported")),
    ("unknown_language", (400, "language_invalid")),
    ("target_is_the_source", (400, "language_invalid")),
    ("no_source", (400, "source_required")),
    ("both_sources", (400, "source_required")),
    ("bad_glossary", (400, "glossary_invalid")),
    ("not_enough_credits", (402, "insufficient_credits")),
])
def test_a_refused_submit_creates_charges_and_stores_nothing(client_for, user, audio, clip, settings, sent_tasks,
                                                            case, expected):
    body = {"video": _upload(clip), "subtitles": _srt(), "languages": ["es"]}
    if case == "not_a_video":
        body["video"] = SimpleUploadedFile("clip.mp4", b"\x00\x00\x00\x18ftypmp42 not really", content_type="video/mp4")
    elif case == "too_long":
        settings.LOCALIZATION_MAX_SECONDS = 3
    elif case == "too_large":
        settings.LOCALIZATION_MAX_UPLOAD_MB = 0
    elif case == "subtitles_do_not_parse":
        body["subtitles"] = _srt(b"\xff\xfe\x00garbage\x00\x00\x01", name="bad.srt")
    elif case == "cue_outside_the_video":
        body["subtitles"] = _srt(OUT_OF_RANGE)
    elif case == "unsupported_pair":
        body["languages"] = ["ja"]
    elif case == "unknown_language":
        body["languages"] = ["xx-Klingon"]
    elif case == "target_is_the_source":
        body["languages"] = ["en"]
    elif case == "no_source":
        body.pop("video")
    elif case == "both_sources":
        body["source_generation_id"] = str(GenerationJobFactory(user=user).pk)
    elif case == "bad_glossary":
        body["glossary"] = '{"cat": 3}'
    elif case == "not_enough_credits":
        settings.LOCALIZATION_CREDITS_PER_MINUTE = {"transcription": 1, "subtitles": 500, "dub": 1, "burn_in": 1}
    before = set(_stored_files(settings))
    jobs = GenerationJob.objects.filter(kind=JobKind.LOCALIZE).count()

    response = client_for(user).post("/api/v1/localizations", body, format="multipart")

    assert (response.status_code, response.json()["error"]["code"]) == expected, response.json()
    assert GenerationJob.objects.filter(kind=JobKind.LOCALIZE).count() == jobs
    assert not Rendition.objects.exists()
    assert not CreditEntry.objects.filter(kind="reserve").exists()
    assert sent_tasks == []
    assert set(_stored_files(settings)) == before


def test_the_transcriber_must_know_the_source_language_when_no_subtitles_come(client_for, user, audio, clip,
                                                                           settings, sent_tasks):
    response = client_for(user).post("/api/v1/localizations", {"video": _upload(clip), "languages": ["es"],
                                                               "source_language": "xx"}, format="multipart")
    assert (response.status_code, response.json()["error"]["code"]) == (400, "language_invalid")
    from generation.localization import hosted

    assert not hosted.HostedTranscriber().supports("tlh")
    assert not GenerationJob.objects.filter(kind=JobKind.LOCALIZE).exists()


def test_the_transcript_segments_become_the_cues(audio, tmp_path, settings):
    from generation.localization.hosted import HostedTranscriber
    from tests.fakes.openai_audio import tone_wav

    wav = tmp_path / "speech.wav"
    wav.write_bytes(tone_wav(3.0, rate=16000))
    audio.transcripts[hashlib.sha256(wav.read_bytes()).hexdigest()] = [Segment(0.2, 1.4, " Hello  there. "),
                                                                       Segment(1.5, 1.5, "dropped: no length")]
    cues = HostedTranscriber().transcribe(wav, language="en")
    assert [(c.start, c.end, c.text) for c in cues] == [(0.2, 1.4, "Hello there.")]


def test_a_rendition_inherits_its_sources_cameos_checked_at_submit_and_at_start(client_for, audio, tmp_path,
                                                                                sent_tasks):
    from accounts.cameos.models import CameoGrant, CameoLevel, GrantStatus
    from accounts.tests.factories import UserFactory
    from django.core.files.storage import default_storage
    from tests.test_cameos import verified_cameo

    owner, friend = UserFactory(), UserFactory()
    cameo = verified_cameo(owner, level=CameoLevel.APPROVED)
    grant = CameoGrant.objects.create(cameo=cameo, user=friend, status=GrantStatus.APPROVED)
    source = GenerationJobFactory(user=friend, status="succeeded", result_duration=4.0)
    source.cameos.set([cameo])
    source.video = default_storage.save(f"generation/{friend.pk}/{source.pk}/video.mp4",
                                        _upload(make_clip(tmp_path, seconds=4)))
    source.save()
    api = client_for(friend)
    body = {"source_generation_id": str(source.pk), "languages": ["es"]}
    response = api.post("/api/v1/localizations", body, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["cameo_ids"] == [str(cameo.pk)]

    CameoGrant.objects.filter(pk=grant.pk).delete()  # consent gone (without the revoke hooks)
    assert services.job_claim(owner="w").outcome == services.StartOutcome.IDLE
    job = GenerationJob.objects.get(pk=response.json()["id"])
    assert (job.status, job.error_code) == ("canceled", "cameo_consent_revoked")
    rendition = job.renditions.get()
    assert (rendition.status, rendition.error_code) == ("failed", "cameo_consent_revoked")
    assert _entries(rendition.credit_reference) == ["reserve", "release"]

    refused = api.post("/api/v1/localizations", body, format="json")
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "cameo_not_permitted")
    assert GenerationJob.objects.filter(kind=JobKind.LOCALIZE).count() == 1


def test_burned_in_subtitles_are_priced_and_marked(client_for, user, audio, clip, sent_tasks):
    response = client_for(user).post("/api/v1/localizations", {"video": _upload(clip), "subtitles": _srt(),
                                                               "languages": ["es"], "burn_in": True},
                                     format="multipart")
    assert response.status_code == 201, response.json()
    price = localization_price(seconds=6, languages=1, dub=False, burn_in=True, transcribe=False)
    assert response.json()["cost"] == price.total == 4
    assert _run_worker() == "succeeded"
    rendition = Rendition.objects.get(job_id=response.json()["id"])
    assert (rendition.status, rendition.burned_in, rendition.dubbed) == ("succeeded", True, False)


def test_the_hosted_stages_turn_api_errors_into_stage_failures(audio, settings, tmp_path):
    from generation.localization.base import StageFailed
    from generation.localization.hosted import HostedSynthesizer

    out = tmp_path / "line.wav"
    audio.fail("speech", 500)  # one 5xx: the SDK's single retry gets the speech
    assert HostedSynthesizer().synthesize("Hola", language="es", out_wav=out) == out and out.stat().st_size > 44
    assert len(audio.requests_to("/v1/audio/speech")) == 2

    settings.LOCALIZATION_HOSTED_VOICE = "robot"  # the API refuses an unknown voice
    with pytest.raises(StageFailed) as refused:
        HostedSynthesizer().synthesize("Hola", language="es", out_wav=out)
    assert (refused.value.stage, refused.value.code) == ("dub", "hosted_stage_refused")

    with pytest.raises(StageFailed) as too_long:  # checked before any request
        HostedSynthesizer().synthesize("x" * 4097, language="es", out_wav=out)
    assert too_long.value.code == "dub_input_invalid"
    assert len(audio.requests_to("/v1/audio/speech")) == 3

    settings.LOCALIZATION_HOSTED_URL = "http://127.0.0.1:9"  # nothing listens there
    settings.LOCALIZATION_HOSTED_VOICE = "alloy"
    settings.LOCALIZATION_HOSTED_TIMEOUT = 2.0
    with pytest.raises(StageFailed) as down:
        HostedSynthesizer().synthesize("Hola", language="es", out_wav=out)
    assert down.value.code == "hosted_stage_unavailable"
