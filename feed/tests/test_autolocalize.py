"""Auto-localise: a post's localize_markets (accounts Market codes) give one localize job of the
post's video for the markets' languages, charged to the author, after commit; a change of markets
submits only the languages not rendered or on their way; an unknown market is a 400 that changes
nothing."""

from __future__ import annotations

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from billing.models import CreditEntry
from feed.models import Post
from feed.tests.factories import SucceededJobFactory
from generation import services
from generation.models import GenerationJob, JobKind, Rendition
from generation.tests.test_localization_stages import make_clip
from generation.translation.apertium import installed_modes
from tests.fakes.openai_audio import FakeOpenAIAudio

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(not {"eng-spa", "es-pt_BR"} <= installed_modes(),
                       reason="apertium with apertium-eng-spa and apertium-es-pt (scripts/venv.sh)"),
]

KEY = "sk-feed-audio"


@pytest.fixture(autouse=True)
def markets(db):
    """The markets these tests name (the seed migration's rows are gone after a transactional test)."""
    from accounts.models import Market

    for code, languages in {"es": ["es"], "mx": ["es"], "br": ["pt-br"], "gb": ["en"], "jp": ["ja"]}.items():
        Market.objects.update_or_create(code=code, defaults={"name": code.upper(), "languages": languages})


@pytest.fixture
def audio(settings):
    settings.TRANSLATION_BACKEND = "apertium"
    settings.LOCALIZATION_TRANSCRIBER = "hosted"
    settings.LOCALIZATION_SYNTHESIZER = "hosted"
    settings.LOCALIZATION_HOSTED_API_KEY = KEY
    settings.CREDITS_SIGNUP_GRANT = 100
    with FakeOpenAIAudio(api_key=KEY, default_text="The cat is here.") as fake:
        settings.LOCALIZATION_HOSTED_URL = fake.url
        yield fake


@pytest.fixture
def generation(user, tmp_path):
    job = SucceededJobFactory(user=user, result_width=160, result_height=96)
    clip = make_clip(tmp_path, seconds=4)
    job.video = default_storage.save(f"generation/{user.pk}/{job.pk}/video.mp4",
                                     SimpleUploadedFile("video.mp4", clip.read_bytes()))
    job.save()
    return job


def _localize_jobs():
    return GenerationJob.objects.filter(kind=JobKind.LOCALIZE).order_by("created_at")


def test_a_post_with_markets_is_localised_into_their_languages(auth_api, user, audio, generation, sent_tasks,
                                                               django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = auth_api.post("/api/v1/posts", {"generation_id": str(generation.pk),
                                                   "localize_markets": ["es", "mx", "br", "gb"]}, format="json")
    assert response.status_code == 201, response.json()
    post = Post.objects.get(pk=response.json()["id"])
    assert post.localize_markets == ["es", "mx", "br", "gb"]
    job = _localize_jobs().get()
    assert (job.user_id, job.source_job_id) == (user.pk, generation.pk)  # charged to the author
    # es and mx share Spanish; gb's English is the source's.
    assert sorted(job.renditions.values_list("language", flat=True)) == ["es", "pt-BR"]
    assert CreditEntry.objects.filter(user=user, kind="reserve").count() == 3  # transcription + 2 languages

    claim = services.job_claim(owner="w")
    assert services.job_render(job_id=claim.job_id, owner="w") == "succeeded"

    # Japan added: not translatable here, so skipped (nothing charged); Spanish is rendered already.
    with django_capture_on_commit_callbacks(execute=True):
        assert auth_api.patch(f"/api/v1/posts/{post.pk}", {"localize_markets": ["es", "br", "jp"]},
                              format="json").status_code == 200
    assert _localize_jobs().count() == 1
    assert Post.objects.get(pk=post.pk).localize_markets == ["es", "br", "jp"]


def test_a_new_market_submits_only_its_missing_language(auth_api, user, audio, generation, sent_tasks,
                                                        django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        post_id = auth_api.post("/api/v1/posts", {"generation_id": str(generation.pk), "localize_markets": ["es"]},
                                format="json").json()["id"]
    assert list(Rendition.objects.values_list("language", flat=True)) == ["es"]
    with django_capture_on_commit_callbacks(execute=True):
        auth_api.patch(f"/api/v1/posts/{post_id}", {"localize_markets": ["es", "br"]}, format="json")
    second = _localize_jobs().last()
    assert _localize_jobs().count() == 2
    assert list(second.renditions.values_list("language", flat=True)) == ["pt-BR"]  # es is on its way already


def test_an_unknown_market_is_refused_and_changes_nothing(auth_api, user, audio, generation, sent_tasks,
                                                          django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = auth_api.post("/api/v1/posts", {"generation_id": str(generation.pk),
                                                   "localize_markets": ["es", "atlantis"]}, format="json")
    assert (response.status_code, response.json()["error"]["code"]) == (400, "market_invalid")
    assert not Post.objects.exists()
    assert not _localize_jobs().exists()

    with django_capture_on_commit_callbacks(execute=True):
        post_id = auth_api.post("/api/v1/posts", {"generation_id": str(generation.pk)}, format="json").json()["id"]
        response = auth_api.patch(f"/api/v1/posts/{post_id}", {"localize_markets": ["narnia"], "caption": "new"},
                                  format="json")
    assert (response.status_code, response.json()["error"]["code"]) == (400, "market_invalid")
    post = Post.objects.get(pk=post_id)
    assert (post.localize_markets, post.caption) == ([], "")
    assert not _localize_jobs().exists()
    assert not CreditEntry.objects.filter(kind="reserve").exists()
