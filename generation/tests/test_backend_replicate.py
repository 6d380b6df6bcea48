"""The `replicate` hosted backend (open Wan 2.5 models) through the replicate SDK against the fake
of Replicate's predictions API (tests/fakes/replicate_api.py, checked in its contract test)."""

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
from generation.backends.base import JobCanceled, RenderSpec
from generation.backends.hosted.flow import HostedBackend
from generation.backends.media import probe
from generation.models import GenerationJob, JobStatus, ProviderAlert
from generation.services import providers
from tests.fakes.replicate_api import FakeReplicateAPI
from tests.fakes.video_api import FakeVideoAPI

TOKEN = "r8_backend"


class WorkerKilled(BaseException):
    pass


@pytest.fixture
def rep(settings):
    with FakeReplicateAPI(token=TOKEN, fps=4) as server:
        settings.GENERATION_BACKEND = "replicate"
        settings.GENERATION_REPLICATE_URL = server.url
        settings.GENERATION_REPLICATE_API_TOKEN = TOKEN
        settings.GENERATION_REMOTE_POLL_INTERVAL = 0.01
        settings.GENERATION_REMOTE_TIMEOUT = 5.0
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

    return UserFactory(handle="wanner")


def spec(**overrides) -> RenderSpec:
    fields = dict(job_id="job-rep", kind="text_to_video", prompt="koi in a pond", duration_seconds=4, width=480,
                  height=854, fps=8, seed=3)
    return RenderSpec(**{**fields, **overrides})


def submit(user, **overrides) -> GenerationJob:
    params = {"kind": "text_to_video", "prompt": "koi in a pond", "duration_seconds": 4, "size": "480x854"}
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


def test_a_4_second_request_is_rendered_at_5_and_cut_to_what_was_paid_for(rep, tmp_path):
    output = get_backend("replicate").render(spec(), tmp_path, lambda f: None)

    info = probe(output.video_path)
    assert (info.width, info.height, info.frame_count, info.duration_seconds) == (480, 854, 32, 4.0)
    assert rep.requests[0].json == {"input": {"prompt": "koi in a pond", "size": "720*1280", "duration": 5}}


def test_image_to_video_sends_a_data_uri_and_cancel_cancels(rep, tmp_path):
    still = tmp_path / "still.png"
    Image.new("RGB", (300, 300), (0, 0, 255)).save(still)
    get_backend("replicate").render(spec(kind="image_to_video", image_path=still), tmp_path, lambda f: None)

    with pytest.raises(JobCanceled):
        get_backend("replicate").render(spec(prompt="x [stall]"), tmp_path,
                                        lambda f: (_ for _ in ()).throw(JobCanceled()))

    assert rep.requests[0].json["input"]["image"].startswith("data:image/jpeg;base64,")
    assert [p.status for p in rep.predictions.values()] == ["succeeded", "canceled"]


def test_check_maps_8_to_10_and_refuses_12(rep):
    from generation.backends.base import RenderParams, UnsupportedRequest

    params = RenderParams(kind="text_to_video", prompt="p", duration_seconds=8, width=1080, height=1920)
    assert get_backend("replicate").check(params) == params
    with pytest.raises(UnsupportedRequest) as err:
        get_backend("replicate").check(RenderParams(**{**params.__dict__, "duration_seconds": 12}))
    assert err.value.code == "duration_not_supported"


@pytest.mark.django_db(transaction=True)
def test_job_killed_after_create_resumes_and_pays_for_5_seconds(user, rep, published, monkeypatch):
    job = submit(user)
    real_wait = HostedBackend._wait
    monkeypatch.setattr(HostedBackend, "_wait", lambda *a, **k: (_ for _ in ()).throw(WorkerKilled()))
    with pytest.raises(WorkerKilled):
        run(job)
    (prediction_id,) = rep.predictions
    monkeypatch.setattr(HostedBackend, "_wait", real_wait)
    GenerationJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))

    assert run(job, owner="w2") == JobStatus.SUCCEEDED

    job.refresh_from_db()
    assert (len(rep.creates), job.remote_id, job.remote_creates) == (1, prediction_id, 1)
    assert (job.provider_model, job.provider_cost_usd) == ("wan-video/wan-2.5-t2v", Decimal("0.5000"))
    assert job.remote_expires_at is None or job.remote_expires_at > timezone.now()
    assert CreditEntry.objects.filter(reference=job.credit_reference, kind="capture").count() == 1


@pytest.mark.django_db(transaction=True)
def test_job_429_on_poll_waits_retry_after_and_spend_limit_is_quota(user, rep, published):
    rep.retry_after = 17
    rep.fail("get", 429)
    job = submit(user)
    with pytest.raises(Retry) as raised:
        run_task(str(job.pk))
    assert raised.value.when == 17
    assert len(rep.creates) == 1 and GenerationJob.objects.get(pk=job.pk).remote_id

    rep.spend_limit_reached = True
    second = submit(user)
    assert run(second, owner="w2") == JobStatus.FAILED
    assert GenerationJob.objects.get(pk=second.pk).error_code == "provider_quota_exhausted"
    assert ProviderAlert.objects.get().provider == "replicate"


@pytest.mark.django_db(transaction=True)
def test_output_deleted_before_download_fails_released(user, rep, published):
    rep.output_ttl = -1
    job = submit(user)

    assert run(job) == JobStatus.FAILED

    job.refresh_from_db()
    assert job.error_code == "remote_content_expired"
    assert credit_balance(user_id=user.pk).available == 100


@pytest.mark.django_db(transaction=True)
def test_refused_duration_at_submit_charges_nothing(user, rep):
    with pytest.raises(ApplicationError) as err:
        submit(user, duration_seconds=12)

    assert err.value.code == "duration_not_supported"
    assert GenerationJob.objects.count() == 0 and CreditEntry.objects.filter(kind="reserve").count() == 0


@pytest.mark.django_db(transaction=True)
def test_openai_down_fails_over_to_replicate(user, rep, published, settings):
    with FakeVideoAPI(api_key="sk-r", fps=4) as openai_api:
        settings.GENERATION_REMOTE_URL = openai_api.url
        settings.GENERATION_REMOTE_API_KEY = "sk-r"
        settings.GENERATION_ROUTES = {"text_to_video": {"free": ["openai", "replicate"]}}
        settings.GENERATION_BREAKER_FAILURES = 1
        openai_api.fail("create", 502)
        job = submit(user)
        with pytest.raises(Retry):
            run_task(str(job.pk))
        assert providers.breaker_is_open("openai")
        assert run(job, owner="w2") == JobStatus.SUCCEEDED

    job.refresh_from_db()
    assert (job.backend, len(rep.creates), len(openai_api.creates)) == ("replicate", 1, 0)
