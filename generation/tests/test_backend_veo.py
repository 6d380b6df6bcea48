"""The `veo` hosted backend through google-genai against the fake of Veo on Vertex AI
(tests/fakes/veo_api.py, checked against the SDK in tests/test_fake_veo_api_contract.py)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from celery.exceptions import Retry
from django.utils import timezone
from PIL import Image

from billing.models import CreditEntry
from billing.selectors import credit_balance
from config.errors import ApplicationError
from generation import services, tasks
from generation.backends import get_backend
from generation.backends.base import PermanentBackendError, RenderSpec
from generation.backends.hosted.flow import HostedBackend
from generation.backends.media import probe
from generation.models import GenerationJob, JobStatus, ProviderAlert
from generation.services import providers
from tests.fakes.runway_api import FakeRunwayAPI
from tests.fakes.veo_api import FakeVeoAPI

KEY = "veo-key"


class WorkerKilled(BaseException):
    pass


@pytest.fixture
def veo(settings):
    with FakeVeoAPI(api_key=KEY, fps=4) as server:
        settings.GENERATION_BACKEND = "veo"
        settings.GENERATION_VEO_URL = server.url
        settings.GENERATION_VEO_API_KEY = KEY
        settings.GENERATION_REMOTE_POLL_INTERVAL = 0.01
        settings.GENERATION_REMOTE_TIMEOUT = 10.0
        yield server


@pytest.fixture
def published(monkeypatch):
    from config.celery import app

    sent: list[tuple] = []
    monkeypatch.setattr(app, "send_task",
                        lambda name, args=None, kwargs=None, **options: sent.append((name, args, kwargs, options)))
    return sent


@pytest.fixture
def user():
    from accounts.tests.factories import UserFactory

    return UserFactory(handle="veoer")


def spec(**overrides) -> RenderSpec:
    fields = dict(job_id="job-veo", kind="text_to_video", prompt="rain on neon", duration_seconds=4, width=480,
                  height=854, fps=8, seed=3)
    return RenderSpec(**{**fields, **overrides})


def submit(user, **overrides) -> GenerationJob:
    params = {"kind": "text_to_video", "prompt": "rain on neon", "duration_seconds": 4, "size": "480x854"}
    job, _ = services.generation_submit(user=user, **{**params, **overrides})
    return job


def run(job, owner="w1") -> str:
    GenerationJob.objects.filter(pk=job.pk).update(not_before=None)  # its transient backoff has passed
    assert services.job_claim(owner=owner, hint_job_id=job.pk).job_id == job.pk
    return services.job_render(job_id=job.pk, owner=owner)


def run_task(job_id: str):
    tasks.render_generation.push_request(id="task-1", args=[job_id], retries=0, called_directly=False,
                                         is_eager=False, delivery_info={}, hostname="gpu-1")
    try:
        return tasks.render_generation.run(job_id)
    finally:
        tasks.render_generation.pop_request()


def test_text_render_is_an_operation_polled_to_its_inline_video(veo, tmp_path):
    output = get_backend("veo").render(spec(), tmp_path, lambda f: None)

    info = probe(output.video_path)
    assert (info.width, info.height, info.frame_count) == (480, 854, 32)
    create = veo.requests[0]
    assert create.path == "/v1/publishers/google/models/veo-3.1-generate-001:predictLongRunning"
    assert create.json["parameters"] == {"sampleCount": 1, "durationSeconds": 4, "aspectRatio": "9:16",
                                         "resolution": "720p"}
    assert [r.path.rsplit(":", 1)[1] for r in veo.requests[1:]] == ["fetchPredictOperation"] * 2


def test_full_hd_portrait_is_asked_for_at_1080p(veo, tmp_path, settings):
    get_backend("veo").render(spec(width=1080, height=1920), tmp_path, lambda f: None)

    assert veo.requests[0].json["parameters"]["resolution"] == "1080p"


def test_image_and_remix_send_an_image_instance(veo, tmp_path):
    still = tmp_path / "still.png"
    Image.new("RGB", (300, 300), (0, 255, 0)).save(still)
    (tmp_path / "a").mkdir()
    first = get_backend("veo").render(spec(kind="image_to_video", image_path=still), tmp_path / "a", lambda f: None)
    (tmp_path / "b").mkdir()
    get_backend("veo").render(spec(kind="remix", source_video_path=first.video_path), tmp_path / "b", lambda f: None)

    creates = [r for r in veo.requests if r.path.endswith("predictLongRunning")]
    assert all(r.json["instances"][0]["image"]["mimeType"] == "image/jpeg" for r in creates) and len(creates) == 2


def test_filtered_output_is_a_rejection_and_a_failed_operation_a_failure(veo, tmp_path):
    with pytest.raises(PermanentBackendError) as filtered:
        get_backend("veo").render(spec(prompt="x [reject]"), tmp_path, lambda f: None)
    with pytest.raises(PermanentBackendError) as failed:
        get_backend("veo").render(spec(prompt="x [fail]"), tmp_path, lambda f: None)

    assert (filtered.value.code, failed.value.code) == ("backend_rejected", "backend_failed")


@pytest.mark.django_db(transaction=True)
def test_job_killed_after_create_polls_the_same_operation_and_captures_once(user, veo, published, monkeypatch):
    job = submit(user)
    real_wait = HostedBackend._wait
    monkeypatch.setattr(HostedBackend, "_wait", lambda *a, **k: (_ for _ in ()).throw(WorkerKilled()))
    with pytest.raises(WorkerKilled):
        run(job)
    (name,) = veo.operations
    assert GenerationJob.objects.get(pk=job.pk).remote_id == name

    monkeypatch.setattr(HostedBackend, "_wait", real_wait)
    GenerationJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    assert run(job, owner="w2") == JobStatus.SUCCEEDED

    job.refresh_from_db()
    assert len(veo.creates) == 1
    assert all(r.json == {"operationName": name} for r in veo.requests[1:])
    assert (job.remote_creates, job.provider_cost_usd) == (1, Decimal("1.6000"))
    assert CreditEntry.objects.filter(reference=job.credit_reference, kind="capture").count() == 1


@pytest.mark.django_db(transaction=True)
def test_job_429_waits_the_retry_info_delay_and_billing_disabled_is_quota(user, veo, published):
    veo.retry_delay = 25
    veo.fail("create", 429)
    job = submit(user)
    with pytest.raises(Retry) as raised:
        run_task(str(job.pk))
    assert raised.value.when == 25

    veo.billing_disabled = True
    assert run(job, owner="w2") == JobStatus.FAILED
    job.refresh_from_db()
    assert job.error_code == "provider_quota_exhausted"
    assert ProviderAlert.objects.get().provider == "veo"
    assert credit_balance(user_id=user.pk).available == 100


@pytest.mark.django_db(transaction=True)
def test_job_whose_operation_is_gone_before_the_video_was_taken_fails_released(user, veo, published,
                                                                              monkeypatch):
    job = submit(user)
    real_download = HostedBackend._download

    def gone_first(self, provider, video, *args):
        provider._videos.clear()  # a resumed worker: the bytes are not in memory
        veo.forget(video.id)
        return real_download(self, provider, video, *args)

    monkeypatch.setattr(HostedBackend, "_download", gone_first)
    assert run(job) == JobStatus.FAILED

    job.refresh_from_db()
    assert job.error_code == "remote_content_expired"
    assert credit_balance(user_id=user.pk).available == 100


@pytest.mark.django_db(transaction=True)
def test_a_duration_veo_cannot_render_is_refused_at_submit(user, veo):
    with pytest.raises(ApplicationError) as err:
        submit(user, duration_seconds=12)

    assert err.value.code == "duration_not_supported"
    assert GenerationJob.objects.count() == 0 and CreditEntry.objects.filter(kind="reserve").count() == 0


@pytest.mark.django_db(transaction=True)
def test_veo_down_fails_over_to_runway(user, veo, published, settings):
    with FakeRunwayAPI(api_key="rk", fps=4) as runway:
        settings.GENERATION_RUNWAY_URL = runway.url
        settings.GENERATION_RUNWAY_API_KEY = "rk"
        settings.GENERATION_ROUTES = {"*": {"*": ["veo", "runway"]}}
        settings.GENERATION_BREAKER_FAILURES = 1
        veo.fail("create", 503)
        job = submit(user)
        with pytest.raises(Retry):
            run_task(str(job.pk))
        assert providers.breaker_is_open("veo")
        assert run(job, owner="w2") == JobStatus.SUCCEEDED

    job.refresh_from_db()
    assert (job.backend, len(runway.creates), len(veo.creates)) == ("runway", 1, 0)
