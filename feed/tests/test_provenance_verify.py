"""POST /api/v1/provenance/verify: the manifest summary of an uploaded video and, when it is one
of ours, the post it came from (only if the caller may see that post)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.tests.factories import BlockFactory, UserFactory
from feed.tests.factories import PostFactory
from generation import services
from generation.models import GenerationJob, JobStatus
from tests.pki import make_test_pki

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/v1/provenance/verify"


@pytest.fixture(autouse=True)
def _signing(settings, tmp_path):
    paths = make_test_pki(tmp_path / "pki")
    settings.PROVENANCE_SIGNING_KEY, settings.PROVENANCE_CERT_CHAIN = str(paths["key"]), str(paths["chain"])
    settings.PROVENANCE_TRUST_ANCHORS = str(paths["ca"])
    settings.GENERATION_BACKEND = "preview"
    settings.GENERATION_FPS = 8
    cache.clear()  # the throttle's counters


def _rendered(user) -> GenerationJob:
    job = services.generation_submit(user=user, kind="text_to_video", prompt="a paper boat on a pond",
                                     duration_seconds=4, size="480x854")[0]
    assert services.job_claim(owner="w", hint_job_id=job.pk).job_id == job.pk
    assert services.job_render(job_id=job.pk, owner="w") == JobStatus.SUCCEEDED
    job.refresh_from_db()
    return job


def _upload(data: bytes, name="clip.mp4") -> dict:
    return {"video": SimpleUploadedFile(name, data, content_type="video/mp4")}


def _bytes(job: GenerationJob) -> bytes:
    return Path(default_storage.path(job.video.name)).read_bytes()


def test_our_video_names_its_post_for_a_viewer_who_may_see_it(client_for):
    author = UserFactory(handle="maker")
    job = _rendered(author)
    post = PostFactory(author=author, generation=job)

    response = client_for(UserFactory()).post(URL, _upload(_bytes(job)), format="multipart")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["state"], body["ours"], body["ai_generated"]) == ("trusted", True, True)
    assert (body["claim_generator"], body["generator"], body["creator_handle"]) == ("clipsocial", "preview", "maker")
    assert [a["action"] for a in body["actions"]] == ["c2pa.created"]
    assert body["signer"]["common_name"] == "Test Signer"
    assert body["post"] == {"id": post.pk, "url": f"http://testserver/api/v1/posts/{post.pk}"}


def test_a_post_hidden_from_the_caller_is_not_named(client_for):
    author, blocked = UserFactory(), UserFactory()
    job = _rendered(author)
    PostFactory(author=author, generation=job)
    BlockFactory(blocker=author, blocked=blocked)

    body = client_for(blocked).post(URL, _upload(_bytes(job)), format="multipart").json()

    assert (body["state"], body["ours"], body["post"]) == ("trusted", True, None)


def test_a_tampered_video_is_invalid_and_names_nothing(client_for):
    author = UserFactory()
    job = _rendered(author)
    PostFactory(author=author, generation=job)
    data = bytearray(_bytes(job))
    data[data.rindex(b"mdat") + 1000] ^= 0x01

    body = client_for(UserFactory()).post(URL, _upload(bytes(data)), format="multipart").json()

    assert (body["state"], body["ours"], body["post"]) == ("invalid", False, None)
    assert "assertion.bmffHash.mismatch" in body["failures"]


def test_an_unsigned_video_has_no_manifest(client_for, settings):
    settings.PROVENANCE_SIGNING_KEY = settings.PROVENANCE_CERT_CHAIN = ""
    settings.PROVENANCE_DEV_KEYS = False
    job = _rendered(UserFactory())

    body = client_for(UserFactory()).post(URL, _upload(_bytes(job)), format="multipart").json()

    assert body == {"state": "none", "ours": False, "title": "", "claim_generator": "", "generator": "", "model": "",
                    "creator_handle": "", "cameos": [], "actions": [], "ingredients": [], "signer": {},
                    "ai_generated": False, "failures": [], "post": None}


@pytest.mark.parametrize("data", [b"", b"hello, not a video", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64])
def test_not_a_video_is_a_400(client_for, data):
    response = client_for(UserFactory()).post(URL, _upload(data), format="multipart")

    assert response.status_code == 400
    assert response.json()["error"]["code"] in {"not_a_video", "validation_error"}
    if data:
        assert response.json()["error"]["code"] == "not_a_video"


def test_an_image_in_an_mp4_name_is_not_a_video(client_for):
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (32, 32)).save(out, "PNG")
    response = client_for(UserFactory()).post(URL, _upload(out.getvalue(), "still.mp4"), format="multipart")

    assert (response.status_code, response.json()["error"]["code"]) == (400, "not_a_video")


def test_over_the_size_limit_is_a_413(client_for, settings):
    job = _rendered(UserFactory())
    settings.PROVENANCE_VERIFY_MAX_BYTES = len(_bytes(job)) - 1

    response = client_for(UserFactory()).post(URL, _upload(_bytes(job)), format="multipart")

    assert (response.status_code, response.json()["error"]["code"]) == (413, "upload_too_large")


def test_it_needs_a_signed_in_caller_and_is_throttled(client, client_for, settings):
    assert client.post(URL, _upload(b"x"), format="multipart").status_code == 401
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "provenance_verify": "2/hour"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK,
                               "DEFAULT_THROTTLE_RATES": settings.THROTTLE_RATES}
    caller = client_for(UserFactory())
    codes = [caller.post(URL, _upload(b"x"), format="multipart").status_code for _ in range(3)]
    assert codes == [400, 400, 429]
