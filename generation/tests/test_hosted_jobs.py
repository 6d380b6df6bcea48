"""Hosted jobs end to end: submit, the worker's start and render against the fake of OpenAI's
Videos API through the SDK, settle. Never twice, Retry-After, quota, expiry, routing, failover."""

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
from generation.admin import provider_dashboard_figures
from generation.backends import TransientBackendError
from generation.backends.hosted.flow import HostedBackend
from generation.models import GenerationJob, JobStatus, ProviderAlert
from generation.services import providers
from tests.fakes.video_api import FakeVideoAPI

pytestmark = pytest.mark.django_db(transaction=True)

KEY = "sk-hosted"


class WorkerKilled(BaseException):
    """The worker process dying: nothing below catches it, nothing is cleaned up."""


@pytest.fixture
def video_api(settings):
    with FakeVideoAPI(api_key=KEY, fps=4) as server:
        settings.GENERATION_BACKEND = "openai"
        settings.GENERATION_REMOTE_URL = server.url
        settings.GENERATION_REMOTE_API_KEY = KEY
        settings.GENERATION_REMOTE_MODEL = "sora-2"
        settings.GENERATION_REMOTE_POLL_INTERVAL = 0.01
        settings.GENERATION_REMOTE_TIMEOUT = 5.0
        yield server


@pytest.fixture
def published(monkeypatch):
    """Task messages sent (enqueues and the task's own retries), as (name, args, kwargs, options)."""
    from config.celery import app

    sent: list[tuple] = []
    monkeypatch.setattr(app, "send_task",
                        lambda name, args=None, kwargs=None, **options: sent.append((name, args, kwargs, options)))
    return sent


@pytest.fixture
def user():
    from accounts.tests.factories import UserFactory

    return UserFactory(handle="maker")


def submit(user, **overrides) -> GenerationJob:
    params = {"kind": "text_to_video", "prompt": "lanterns over a lake", "duration_seconds": 4, "size": "480x854"}
    params.update(overrides)
    job, _ = services.generation_submit(user=user, **params)
    return job


def run(job, owner="w1") -> str:
    GenerationJob.objects.filter(pk=job.pk).update(not_before=None)  # its transient backoff has passed
    assert services.job_claim(owner=owner, hint_job_id=job.pk).job_id == job.pk
    return services.job_render(job_id=job.pk, owner=owner)


def run_task(job_id: str):
    """The render task as a worker runs its message (a retry raises celery's Retry)."""
    tasks.render_generation.push_request(id="task-1", args=[job_id], retries=0, called_directly=False,
                                         is_eager=False, delivery_info={}, hostname="gpu-1")
    try:
        return tasks.render_generation.run(job_id)
    finally:
        tasks.render_generation.pop_request()


def captures(job) -> int:
    return CreditEntry.objects.filter(reference=job.credit_reference, kind="capture").count()


def test_text_job_stores_the_remote_id_and_the_provider_cost(user, video_api, published):
    job = submit(user)

    assert run(job) == JobStatus.SUCCEEDED

    job.refresh_from_db()
    (remote,) = video_api.jobs.values()
    assert (job.backend, job.route, job.plan_code, job.provider_model) == ("openai", ["openai"], "free", "sora-2")
    assert (job.remote_id, job.remote_creates, job.provider_cost_usd) == (remote.id, 1, Decimal("0.4000"))
    assert (job.result_width, job.result_height) == (480, 854)
    assert captures(job) == 1


def test_a_worker_killed_right_after_create_is_resumed_by_polling_the_same_remote_job(user, video_api, published,
                                                                                    monkeypatch):
    job = submit(user)
    real_wait = HostedBackend._wait

    def killed(self, *args, **kwargs):
        raise WorkerKilled()

    monkeypatch.setattr(HostedBackend, "_wait", killed)
    with pytest.raises(WorkerKilled):
        run(job, owner="w1")
    (remote,) = video_api.jobs.values()
    job.refresh_from_db()
    # Committed before the first poll: the dead worker's transaction is not needed to find it.
    assert (job.status, job.remote_id, job.remote_creates) == ("running", remote.id, 1)

    monkeypatch.setattr(HostedBackend, "_wait", real_wait)
    GenerationJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    assert run(job, owner="w2") == JobStatus.SUCCEEDED

    job.refresh_from_db()
    assert len(video_api.creates) == 1
    assert video_api.requests_to("GET", f"/v1/videos/{remote.id}") != []
    assert (job.status, job.remote_id, job.remote_creates, job.attempts) == ("succeeded", remote.id, 1, 2)
    assert captures(job) == 1
    assert credit_balance(user_id=user.pk).available == 100 - job.cost


def test_image_job_and_remix_of_it_through_the_remix_endpoint(user, video_api, published, tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    buffer = tmp_path / "in.png"
    Image.new("RGB", (300, 500), (10, 200, 30)).save(buffer)
    image = SimpleUploadedFile("in.png", buffer.read_bytes(), content_type="image/png")
    source = submit(user, kind="image_to_video", image=image)
    assert run(source) == JobStatus.SUCCEEDED
    source.refresh_from_db()

    remix = submit(user, kind="remix", prompt="the same, at night", source_generation_id=str(source.pk))
    assert run(remix, owner="w2") == JobStatus.SUCCEEDED

    remix.refresh_from_db()
    assert list(video_api.requests_to("POST", "/v1/videos")[0].files) == ["input_reference"]
    assert [r.json for r in video_api.requests_to("POST", f"/v1/videos/{source.remote_id}/remix")] == [
        {"prompt": "the same, at night"}]
    assert video_api.jobs[remix.remote_id].remixed_from_video_id == source.remote_id


def test_429_requeues_the_job_after_the_providers_retry_after(user, video_api, published):
    video_api.retry_after = 42
    video_api.fail("create", 429)
    job = submit(user)

    with pytest.raises(Retry) as raised:
        run_task(str(job.pk))

    assert raised.value.when == 42  # the backoff alone would have been 5
    job.refresh_from_db()
    assert (job.status, job.transient_errors, job.remote_id) == ("queued", 1, "")
    assert video_api.jobs == {}


def test_quota_exhaustion_fails_the_job_released_and_alerts_staff(user, video_api, published):
    video_api.quota_exhausted = True
    job = submit(user)

    assert run(job) == JobStatus.FAILED

    job.refresh_from_db()
    assert (job.status, job.error_code) == ("failed", "provider_quota_exhausted")
    assert credit_balance(user_id=user.pk).available == 100 and captures(job) == 0
    alert = ProviderAlert.objects.get()
    assert (alert.provider, alert.code, alert.resolved_at) == ("openai", "provider_quota_exhausted", None)
    assert providers.breaker_is_open("openai")
    figures = {f.label: f for f in provider_dashboard_figures()}
    assert figures["Open alerts"].value == 1 and figures["Open alerts"].alert
    # A second job while the quota is spent counts on the same alert.
    assert run(submit(user), owner="w2") == JobStatus.FAILED
    assert ProviderAlert.objects.get().occurrences == 2
    providers.provider_alert_resolve(alert_id=alert.pk)
    assert not providers.breaker_is_open("openai")


def test_quota_exhaustion_with_a_fallback_moves_the_job_there(user, video_api, published, settings):
    settings.GENERATION_ROUTES = {"*": {"*": ["openai", "preview"]}}
    video_api.quota_exhausted = True
    job = submit(user)

    with pytest.raises(TransientBackendError) as err:
        run(job)
    assert err.value.code == "provider_quota_exhausted"
    services.job_transient_error(job_id=job.pk, owner="w1", code="provider_quota_exhausted", message="quota")
    assert run(job, owner="w2") == JobStatus.SUCCEEDED

    job.refresh_from_db()
    assert (job.backend, job.route) == ("preview", ["openai", "preview"])
    assert [(e["from"], e["to"], e["reason"]) for e in job.route_log] == [("openai", "preview", "quota")]
    assert job.provider_cost_usd == Decimal("0")


def test_content_expired_before_download_fails_with_credits_released(user, video_api, published):
    video_api.expires_in = -1
    job = submit(user)

    assert run(job) == JobStatus.FAILED

    job.refresh_from_db()
    assert (job.error_code, job.remote_creates) == ("remote_content_expired", 1)
    assert credit_balance(user_id=user.pk).available == 100


@pytest.mark.parametrize("size, duration, code", [("480x480", 4, "size_not_supported"),
                                                  ("1080x1920", 4, "size_not_supported")])
def test_a_size_the_provider_cannot_render_is_refused_at_submit_with_nothing_charged(user, video_api, settings,
                                                                                    size, duration, code):
    settings.GENERATION_FREE_MAX_SHORT_SIDE = 1080
    with pytest.raises(ApplicationError) as err:
        submit(user, size=size, duration_seconds=duration)

    assert (err.value.status_code, err.value.code, list(err.value.fields)) == (400, code, ["size"])
    assert GenerationJob.objects.count() == 0 and CreditEntry.objects.filter(kind="reserve").count() == 0
    assert video_api.requests == []


def test_a_provider_that_keeps_failing_is_skipped_and_its_jobs_go_to_the_next(user, video_api, published,
                                                                           settings):
    settings.GENERATION_ROUTES = {"text_to_video": {"*": ["openai", "preview"]}}
    settings.GENERATION_BREAKER_FAILURES = 2
    video_api.fail("create", 503, 503)
    first, second = submit(user), submit(user)
    for job, owner in ((first, "w1"), (second, "w2")):
        with pytest.raises(Retry):
            run_task(str(job.pk))
    assert providers.breaker_is_open("openai")

    third = submit(user)  # submitted while open: routed to the fallback at once
    GenerationJob.objects.filter(pk=first.pk).update(not_before=None)  # its transient backoff has passed
    assert services.job_claim(owner="w3", hint_job_id=first.pk).job_id == first.pk
    assert services.job_render(job_id=first.pk, owner="w3") == JobStatus.SUCCEEDED

    first.refresh_from_db()
    third.refresh_from_db()
    assert (first.backend, [e["reason"] for e in first.route_log]) == ("preview", ["breaker_open"])
    assert (third.backend, third.route) == ("preview", ["preview", "openai"])
    assert len(video_api.creates) == 0


@pytest.mark.parametrize("backend, max_short_side, expected", [("openai", 1080, (720, 1280)),
                                                              ("openai", 720, (720, 1280)),
                                                              ("preview", 1080, (1080, 1920)),
                                                              ("preview", 720, (720, 1280))])
def test_auto_size_is_the_largest_portrait_size_the_backend_renders_within_the_plan(
        user, video_api, published, settings, backend, max_short_side, expected):
    settings.GENERATION_BACKEND = backend
    settings.GENERATION_FREE_MAX_SHORT_SIDE = max_short_side

    job = submit(user, size="auto")

    assert (job.width, job.height) == expected


def test_auto_size_with_no_size_within_the_plan_is_refused_with_nothing_charged(user, video_api, settings):
    settings.GENERATION_FREE_MAX_SHORT_SIDE = 360

    with pytest.raises(ApplicationError) as err:
        submit(user, size="auto")

    assert (err.value.status_code, err.value.code, list(err.value.fields)) == (400, "size_not_supported", ["size"])
    assert GenerationJob.objects.count() == 0 and CreditEntry.objects.filter(kind="reserve").count() == 0
