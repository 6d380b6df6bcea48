"""Signed C2PA provenance in every stored render: valid and trusted under our own test CA,
broken by one flipped byte, absent from an unsigned MP4, a remix naming its parent, cameos listed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from accounts.cameos.models import Cameo, CameoLevel, CameoStatus
from accounts.tests.factories import UserFactory
from billing.selectors import credit_balance
from generation import services
from generation.backends.media import file_sha256, probe
from generation.models import GenerationJob, JobStatus
from generation.provenance import Ingredient, ProvenanceClaim, provenance_read, provenance_sign
from generation.provenance.claims import TRAINED_ALGORITHMIC_MEDIA
from tests.pki import make_test_pki

pytestmark = pytest.mark.django_db(transaction=True)

OWNER = "worker-p:1:task-1"


@pytest.fixture
def pki(settings, tmp_path):
    paths = make_test_pki(tmp_path / "pki")
    settings.PROVENANCE_SIGNING_KEY = str(paths["key"])
    settings.PROVENANCE_CERT_CHAIN = str(paths["chain"])
    settings.PROVENANCE_TRUST_ANCHORS = str(paths["ca"])  # the test CA is the only anchor
    settings.PROVENANCE_DEV_KEYS = False
    return paths


def _submit(user, **overrides) -> GenerationJob:
    params = {"kind": "text_to_video", "prompt": "lanterns drifting over a lake", "duration_seconds": 4,
              "size": "480x854"}
    params.update(overrides)
    return services.generation_submit(user=user, **params)[0]


def _render(job: GenerationJob) -> GenerationJob:
    assert services.job_claim(owner=OWNER, hint_job_id=job.pk).job_id == job.pk
    assert services.job_render(job_id=job.pk, owner=OWNER) == JobStatus.SUCCEEDED
    job.refresh_from_db()
    return job


def _stored(job: GenerationJob) -> Path:
    return Path(default_storage.path(job.video.name))


def _cameo(owner, name="Ada") -> Cameo:
    cameo = Cameo.objects.create(owner=owner, name=name, level=CameoLevel.EVERYONE, status=CameoStatus.VERIFIED,
                                 verified_at=timezone.now())
    cameo.reference_image.save("reference.jpg", ContentFile(_jpeg()), save=True)
    return cameo


def _jpeg() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 64), (20, 200, 20)).save(out, "JPEG")
    return out.getvalue()


def test_a_stored_render_is_signed_valid_and_trusted_by_the_test_ca(pki):
    user = UserFactory(handle="maker")
    job = _render(_submit(user))

    report = provenance_read(_stored(job))

    assert report.state == "trusted"
    assert report.failures == ()
    assert report.job_id == str(job.pk)
    assert (report.claim_generator, report.generator, report.model, report.creator_handle) == (
        "clipsocial", "preview", "", "maker")
    assert report.ai_generated is True
    assert [a["action"] for a in report.actions] == ["c2pa.created"]
    assert report.actions[0]["digitalSourceType"] == TRAINED_ALGORITHMIC_MEDIA
    assert report.ingredients == ()
    assert report.cameos == ()
    assert report.signer["common_name"] == "Test Signer"
    # The job's recorded hash and size are the signed file's (what clients download).
    assert (job.result_sha256, job.result_bytes) == (file_sha256(_stored(job)), _stored(job).stat().st_size)
    assert probe(_stored(job)).frame_count == 32  # still a playable MP4


def test_one_flipped_byte_in_the_media_data_makes_it_invalid(pki, tmp_path):
    job = _render(_submit(UserFactory()))
    data = bytearray(_stored(job).read_bytes())
    mdat = data.rindex(b"mdat")  # faststart: the media data comes after the moov and the manifest
    data[mdat + 4 + (len(data) - mdat) // 2] ^= 0x01
    tampered = tmp_path / "tampered.mp4"
    tampered.write_bytes(bytes(data))

    report = provenance_read(tampered)

    assert report.state == "invalid"
    assert "assertion.bmffHash.mismatch" in report.failures
    assert report.job_id == ""  # a broken manifest names no job of ours


def test_an_unsigned_mp4_has_no_manifest(settings, tmp_path):
    settings.PROVENANCE_DEV_KEYS = False  # signing not configured: the render is stored as made
    job = _render(_submit(UserFactory()))

    report = provenance_read(_stored(job))

    assert report.state == "none"
    assert (report.job_id, report.actions, report.ingredients, report.ai_generated) == ("", (), (), False)


def test_another_ca_reads_as_untrusted(pki, settings, tmp_path):
    job = _render(_submit(UserFactory()))
    settings.PROVENANCE_TRUST_ANCHORS = str(make_test_pki(tmp_path / "other", label="Other")["ca"])

    report = provenance_read(_stored(job))

    assert report.state == "untrusted"
    assert report.job_id == ""


def test_a_remix_lists_its_parent_and_the_cameos_used(pki):
    user, star = UserFactory(handle="maker"), UserFactory(handle="star")
    cameo = _cameo(star)
    parent = _render(_submit(user, cameo_ids=[cameo.pk]))
    remix = _render(_submit(user, kind="remix", source_generation_id=parent.pk, prompt="the lanterns at dawn"))

    report = provenance_read(_stored(remix))

    assert report.state == "trusted"
    assert report.job_id == str(remix.pk)
    assert report.ingredients == ({"title": f"job {parent.pk}", "relationship": "parentOf", "format": "video/mp4"},)
    assert report.cameos == ("star",)  # the remix kept its parent's cameo
    assert provenance_read(_stored(parent)).cameos == ("star",)


def test_sign_without_configuration_copies_and_says_so(settings, tmp_path):
    settings.PROVENANCE_DEV_KEYS = False
    src = tmp_path / "in.mp4"
    src.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100)
    dst = tmp_path / "out.mp4"

    assert provenance_sign(src, dst, claim=ProvenanceClaim(title="t", generator="preview")) is False
    assert dst.read_bytes() == src.read_bytes()


def test_extra_actions_and_ingredients_from_other_callers(pki, tmp_path):
    # The shape renditions (translated/dubbed copies) sign with: an extra action, a parent.
    job = _render(_submit(UserFactory(handle="maker")))
    parent = tmp_path / "parent.mp4"
    shutil.copyfile(_stored(job), parent)
    out = tmp_path / "dubbed.mp4"
    # c2pa validates a translated action: it must name both languages.
    translated = {"action": "c2pa.translated", "parameters": {"sourceLanguage": "en", "targetLanguage": "fr"}}
    claim = ProvenanceClaim(title="dubbed", generator="dubbing", job_id="r-1", actions=(translated,),
                            ingredients=(Ingredient(path=parent, title="original"),))

    assert provenance_sign(parent, out, claim=claim) is True
    report = provenance_read(out)
    assert [a["action"] for a in report.actions] == ["c2pa.created", "c2pa.translated"]
    assert report.ingredients[0]["title"] == "original"
    assert (report.state, report.job_id) == ("trusted", "r-1")


def test_a_broken_signing_key_fails_the_job_and_stores_nothing(pki, settings, tmp_path):
    bad = tmp_path / "bad.key"
    bad.write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    settings.PROVENANCE_SIGNING_KEY = str(bad)
    user = UserFactory()
    job = _submit(user)
    before = credit_balance(user_id=user.pk)
    assert services.job_claim(owner=OWNER, hint_job_id=job.pk).job_id == job.pk

    assert services.job_render(job_id=job.pk, owner=OWNER) == JobStatus.FAILED

    job.refresh_from_db()
    assert (job.error_code, job.video.name or "", job.poster.name or "") == ("provenance_failed", "", "")
    assert not default_storage.exists(f"generation/{user.pk}/{job.pk}/video.mp4")
    after = credit_balance(user_id=user.pk)
    assert (after.available, after.reserved) == (before.available + before.reserved, 0)


def test_a_hosted_render_names_the_provider_and_its_model(pki, settings):
    from tests.fakes.video_api import FakeVideoAPI

    with FakeVideoAPI(api_key="sk-hosted", fps=4) as server:
        settings.GENERATION_BACKEND = "openai"
        settings.GENERATION_REMOTE_URL = server.url
        settings.GENERATION_REMOTE_API_KEY = "sk-hosted"
        settings.GENERATION_REMOTE_MODEL = "sora-2"
        settings.GENERATION_REMOTE_POLL_INTERVAL = 0.01
        job = _render(_submit(UserFactory(handle="maker")))

    report = provenance_read(_stored(job))

    assert (report.state, report.job_id, report.generator, report.model) == ("trusted", str(job.pk), "openai", "sora-2")
    assert report.actions[0]["softwareAgent"] == {"name": "openai", "version": "sora-2"}


def test_without_keys_development_makes_a_ca_once_and_signs_with_it(settings, tmp_path, caplog):
    settings.PROVENANCE_SIGNING_KEY = settings.PROVENANCE_CERT_CHAIN = settings.PROVENANCE_TRUST_ANCHORS = ""
    settings.PROVENANCE_DEV_KEYS = True
    settings.PROVENANCE_DEV_DIR = str(tmp_path / "dev-keys")
    first = _render(_submit(UserFactory()))
    made = {p.name: p.read_bytes() for p in (tmp_path / "dev-keys").glob("*.pem")}
    second = _render(_submit(UserFactory(), prompt="a second clip"))

    assert sorted(made) == ["ca.pem", "chain.pem"]
    assert {p.name: p.read_bytes() for p in (tmp_path / "dev-keys").glob("*.pem")} == made  # made once, kept
    assert [r.message for r in caplog.records].count("provenance.dev_key_created") == 1
    assert provenance_read(_stored(first)).state == "trusted"  # the dev CA is the only anchor
    assert provenance_read(_stored(second)).signer["common_name"] == "clipsocial development signer"
