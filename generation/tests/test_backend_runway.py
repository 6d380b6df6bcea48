"""The `runway` hosted backend through the runwayml SDK against the fake of Runway's API
(tests/fakes/runway_api.py, checked against the SDK in tests/test_fake_runway_api_contract.py):
the backend alone, then the job path."""

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
from generation.backends.hosted.runway import RunwayBackend
from generation.backends.media import probe
from generation.models import GenerationJob, JobStatus, ProviderAlert
from generation.services import providers
from tests.fakes.runway_api import FakeRunwayAPI
from tests.fakes.video_api import FakeVideoAPI

KEY = "key_runway"


class WorkerKilled(BaseException):
    pass


@pytest.fixture
def runway(settings):
    with FakeRunwayAPI(api_key=KEY, fps=4) as server:
        settings.GENERATION_BACKEND = "runway"
        settings.GENERATION_RUNWAY_URL = server.url
        settings.GENERATION_RUNWAY_API_KEY = KEY
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

    return UserFactory(handle="runner")


def spec(**overrides) -> RenderSpec:
    fields = dict(job_id="job-runway", kind="text_to_video", prompt="surf at dawn", duration_seconds=4, width=480,
                  height=854, fps=8, seed=3)
    return RenderSpec(**{**fields, **overrides})


def submit(user, **overrides) -> GenerationJob:
    params = {"kind": "text_to_video", "prompt": "surf at dawn", "duration_seconds": 4, "size": "480x854"}
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


def test_text_render_asks_for_the_ratio_and_fetches_a_fresh_output_url(runway, tmp_path):
    output = get_backend("runway").render(spec(), tmp_path, lambda f: None)

    assert isinstance(get_backend("runway"), RunwayBackend)
    info = probe(output.video_path)
    assert (info.width, info.height, info.frame_count) == (480, 854, 32)
    (create,) = runway.requests_to("POST")
    assert create.json == {"model": "gen4.5", "promptText": "surf at dawn", "ratio": "720:1280", "duration": 4}
    (task,) = runway.tasks.values()
    # Two polls, then a retrieve for a fresh URL, then the asset.
    assert [(r.method, r.path) for r in runway.requests][1:] == [
        ("GET", f"/v1/tasks/{task.id}")] * 3 + [("GET", f"/assets/{task.id}.mp4")]


def test_image_and_remix_are_image_to_video_with_a_data_uri(runway, tmp_path):
    still = tmp_path / "still.png"
    Image.new("RGB", (400, 300), (250, 250, 0)).save(still)
    (tmp_path / "a").mkdir()
    first = get_backend("runway").render(spec(kind="image_to_video", image_path=still), tmp_path / "a",
                                         lambda f: None)
    (tmp_path / "b").mkdir()
    get_backend("runway").render(spec(kind="remix", source_video_path=first.video_path, source_remote_id="x"),
                                 tmp_path / "b", lambda f: None)

    creates = runway.requests_to("POST", "/v1/image_to_video")
    assert len(creates) == 2 and all(r.json["promptImage"].startswith("data:image/jpeg;base64,") for r in creates)
    assert all(r.json["ratio"] == "720:1280" for r in creates)


def test_expired_output_urls_are_fetched_again_through_the_task(runway, tmp_path):
    runway.url_ttl = -1  # every URL handed out is already dead

    with pytest.raises(Exception) as err:
        get_backend("runway").render(spec(), tmp_path, lambda f: None)

    assert err.value.code == "backend_unavailable"  # transient: the retry asks for fresh URLs
    (task,) = runway.tasks.values()
    assert len(runway.requests_to("GET", f"/assets/{task.id}.mp4")) == 2
    runway.url_ttl = 60
    link_id = task.id

    class Link:
        remote_id = link_id

        def record(self, *a, **k):
            raise AssertionError("created again")

    get_backend("runway").render(spec(remote=Link()), tmp_path, lambda f: None)
    assert len(runway.creates) == 1


def test_check_refuses_what_gen45_cannot_render(runway):
    from generation.backends.base import RenderParams, UnsupportedRequest

    backend = get_backend("runway")
    for kwargs, code in [({"duration_seconds": 12}, "duration_not_supported"), ({"width": 720, "height": 720},
                                                                                "size_not_supported"),
                         ({"prompt": "x" * 1001}, "prompt_too_long")]:
        params = RenderParams(**{**dict(kind="text_to_video", prompt="p", duration_seconds=4, width=480, height=854),
                                 **kwargs})
        with pytest.raises(UnsupportedRequest) as err:
            backend.check(params)
        assert err.value.code == code


def test_a_failed_task_is_permanent(runway, tmp_path):
    with pytest.raises(PermanentBackendError) as err:
        get_backend("runway").render(spec(prompt="x [reject]"), tmp_path, lambda f: None)
    assert err.value.code == "backend_rejected"


@pytest.mark.django_db(transaction=True)
def test_job_killed_after_create_resumes_the_same_task_and_captures_once(user, runway, published, monkeypatch):
    job = submit(user)
    real_wait = HostedBackend._wait
    monkeypatch.setattr(HostedBackend, "_wait", lambda *a, **k: (_ for _ in ()).throw(WorkerKilled()))
    with pytest.raises(WorkerKilled):
        run(job)
    (task,) = runway.tasks.values()
    assert GenerationJob.objects.get(pk=job.pk).remote_id == task.id

    monkeypatch.setattr(HostedBackend, "_wait", real_wait)
    GenerationJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    assert run(job, owner="w2") == JobStatus.SUCCEEDED

    job.refresh_from_db()
    assert len(runway.creates) == 1
    assert (job.remote_id, job.remote_creates, job.provider_model, job.provider_cost_usd) == (
        task.id, 1, "gen4.5", Decimal("0.4800"))
    assert CreditEntry.objects.filter(reference=job.credit_reference, kind="capture").count() == 1


@pytest.mark.django_db(transaction=True)
def test_job_429_waits_retry_after_and_credits_spent_is_quota(user, runway, published):
    runway.retry_after = 30
    runway.fail("create", 429)
    job = submit(user)
    with pytest.raises(Retry) as raised:
        run_task(str(job.pk))
    assert raised.value.when == 30

    runway.credits_exhausted = True
    assert run(job, owner="w2") == JobStatus.FAILED
    job.refresh_from_db()
    assert job.error_code == "provider_quota_exhausted"
    assert ProviderAlert.objects.get().provider == "runway"
    assert credit_balance(user_id=user.pk).available == 100


@pytest.mark.django_db(transaction=True)
def test_job_whose_task_is_gone_after_completing_fails_released(user, runway, published, monkeypatch):
    job = submit(user)
    real_download = HostedBackend._download

    def gone_first(self, provider, video, *args):
        runway.forget(video.id)
        return real_download(self, provider, video, *args)

    monkeypatch.setattr(HostedBackend, "_download", gone_first)
    assert run(job) == JobStatus.FAILED

    job.refresh_from_db()
    assert job.error_code == "remote_content_expired"
    assert credit_balance(user_id=user.pk).available == 100


@pytest.mark.django_db(transaction=True)
def test_refused_size_at_submit_charges_nothing(user, runway):
    with pytest.raises(ApplicationError) as err:
        submit(user, duration_seconds=12)

    assert (err.value.code, list(err.value.fields)) == ("duration_not_supported", ["duration_seconds"])
    assert GenerationJob.objects.count() == 0 and CreditEntry.objects.filter(kind="reserve").count() == 0


@pytest.mark.django_db(transaction=True)
def test_openai_down_fails_over_to_runway(user, runway, published, settings):
    with FakeVideoAPI(api_key="sk-x", fps=4) as openai_api:
        settings.GENERATION_REMOTE_URL = openai_api.url
        settings.GENERATION_REMOTE_API_KEY = "sk-x"
        settings.GENERATION_ROUTES = {"*": {"*": ["openai", "runway"]}}
        settings.GENERATION_BREAKER_FAILURES = 1
        openai_api.fail("create", 503)
        job = submit(user)
        assert job.route == ["openai", "runway"]

        with pytest.raises(Retry):
            run_task(str(job.pk))
        assert providers.breaker_is_open("openai")
        assert run(job, owner="w2") == JobStatus.SUCCEEDED

    job.refresh_from_db()
    assert (job.backend, job.provider_model, [e["to"] for e in job.route_log]) == ("runway", "gen4.5", ["runway"])
    assert (len(openai_api.creates), len(runway.creates)) == (0, 1)
