"""The worker side, in process: start, render with the real preview backend, store, settle, sweep."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.files.storage import default_storage
from django.utils import timezone

from billing.models import CreditEntry
from billing.selectors import credit_balance
from generation import backends, services
from generation.backends.base import PermanentBackendError, TransientBackendError
from generation.backends.media import probe
from generation.backends.preview import PreviewBackend
from generation.models import GenerationJob, JobStatus
from generation.tests.factories import GenerationJobFactory

PUBLIC_BASE_URL = django_settings.PUBLIC_BASE_URL.rstrip("/")

pytestmark = pytest.mark.django_db(transaction=True)

OWNER = "worker-a:1:task-1"


def start(job, owner=OWNER):
    """A worker woken by the job's message claims it (the only claimable job in these tests)."""
    claim = services.job_claim(owner=owner, hint_job_id=job.pk)
    assert claim == services.Claim(services.StartOutcome.STARTED, job.pk)
    return claim


def submit(user, **overrides):
    params = {"kind": "text_to_video", "prompt": "lanterns drifting over a lake", "duration_seconds": 4,
              "size": "480x854"}
    params.update(overrides)
    job, _ = services.generation_submit(user=user, **params)
    return job


@pytest.fixture
def user():
    from accounts.tests.factories import UserFactory

    return UserFactory(handle="maker")


@pytest.fixture
def events(user, events_of):
    """Everything sent to the user's group, read back from the Redis channel layer."""
    return events_of(user)


def test_render_succeeds_stores_a_playable_mp4_and_captures_credits_once(user, events, sent_tasks):
    job = submit(user)

    start(job)
    assert services.job_render(job_id=job.pk, owner=OWNER) == JobStatus.SUCCEEDED

    job.refresh_from_db()
    assert (job.status, job.progress, job.attempts) == ("succeeded", 100, 1)
    with default_storage.open(job.video.name, "rb") as fh:
        local = Path(default_storage.path(job.video.name))
        assert fh.read(12)[4:8] == b"ftyp"
    info = probe(local)
    assert (info.width, info.height, info.duration_seconds, info.codec, info.pix_fmt) == \
        (480, 854, 4.0, "h264", "yuv420p")
    assert (job.result_width, job.result_height, job.result_duration, job.result_bytes, job.result_sha256) == \
        (480, 854, 4.0, info.bytes, info.sha256)
    assert '"backend":"preview"' in info.metadata["comment"]
    assert default_storage.exists(job.poster.name)
    assert credit_balance(user_id=user.pk).available == 96
    assert credit_balance(user_id=user.pk).reserved == 0
    assert CreditEntry.objects.filter(kind="capture").count() == 1

    received = [e for e in events() if e["type"] == "generation.updated"]
    statuses = [e["job"]["status"] for e in received]
    assert statuses[0] == "queued" and statuses[1] == "running" and statuses[-1] == "succeeded"
    assert set(statuses[2:-1]) == {"running"} and len(statuses) >= 4  # progress steps in between
    seqs = [e["seq"] for e in received]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    progress = [e["job"]["progress"] for e in received]
    assert progress == sorted(progress) and progress[-1] == 100
    assert received[-1]["job"]["result"]["video_url"].startswith(PUBLIC_BASE_URL + "/api/v1/media/")

    # The same message delivered again: nothing happens, nothing is charged twice.
    assert services.job_claim(owner="worker-b:2:task-2", hint_job_id=job.pk).outcome == services.StartOutcome.IDLE
    assert CreditEntry.objects.filter(kind__in=["capture", "release"]).count() == 1


def test_signed_media_url_serves_the_file_and_rejects_tampering(user, api, sent_tasks):
    job = submit(user)
    start(job)
    services.job_render(job_id=job.pk, owner=OWNER)
    from generation.selectors import job_public_state

    url = job_public_state(GenerationJob.objects.get(pk=job.pk))["result"]["video_url"]

    ok = api.get(url)
    tampered = api.get(url[:-3] + "xyz")

    assert ok.status_code == 200
    assert b"".join(ok.streaming_content)[4:8] == b"ftyp"
    assert tampered.status_code == 404


def test_job_running_under_live_worker_is_not_started_twice(user, sent_tasks):
    job = submit(user)
    start(job)

    assert services.job_claim(owner="worker-b:2:task-9", hint_job_id=job.pk).outcome == services.StartOutcome.IDLE
    job.refresh_from_db()
    assert (job.lease_owner, job.attempts) == (OWNER, 1)


def test_user_at_concurrency_limit_is_passed_over_not_deferred(user, settings, sent_tasks):
    settings.GENERATION_FREE_CONCURRENT_JOBS = 1
    first, second = submit(user), submit(user)
    start(first)
    sent_tasks.clear()

    assert services.job_claim(owner="w2", hint_job_id=second.pk).outcome == services.StartOutcome.IDLE
    second.refresh_from_db()
    assert second.status == "queued"
    assert sent_tasks == []  # no deferred re-send: the render that frees the slot wakes a worker


def test_cancel_while_running_stops_at_next_progress_step_and_releases(user, events, sent_tasks):
    job = submit(user)
    start(job)
    services.generation_cancel(user=user, job_id=job.pk)

    assert services.job_render(job_id=job.pk, owner=OWNER) == JobStatus.CANCELED

    job.refresh_from_db()
    assert job.status == "canceled" and not job.video
    assert credit_balance(user_id=user.pk).available == 100
    assert CreditEntry.objects.filter(kind="release").count() == 1
    assert not CreditEntry.objects.filter(kind="capture").exists()
    assert events()[-1]["job"]["status"] == "canceled"


def test_queued_job_canceled_never_starts(user, sent_tasks):
    job = submit(user)
    services.generation_cancel(user=user, job_id=job.pk)

    assert services.job_claim(owner=OWNER, hint_job_id=job.pk).outcome == services.StartOutcome.IDLE
    job.refresh_from_db()
    assert (job.status, job.attempts, job.started_at) == ("canceled", 0, None)


def test_illegal_transition_is_refused_and_not_applied(user, sent_tasks):
    job = submit(user)
    services.generation_cancel(user=user, job_id=job.pk)
    job.refresh_from_db()

    with pytest.raises(services.IllegalTransition):
        services.state.transition(job, JobStatus.RUNNING)

    job.refresh_from_db()
    assert job.status == "canceled"


def test_sweeper_requeues_dead_workers_job_then_fails_it_after_max_attempts(user, settings, sent_tasks):
    settings.GENERATION_MAX_ATTEMPTS = 2
    job = submit(user)
    start(job)
    stale = timezone.now() - timedelta(seconds=settings.GENERATION_HEARTBEAT_TIMEOUT + 5)
    GenerationJob.objects.filter(pk=job.pk).update(heartbeat_at=stale)
    sent_tasks.clear()

    assert services.jobs_sweep()["requeued"] == 1
    job.refresh_from_db()
    assert (job.status, job.lease_owner) == ("queued", "")
    assert [t[1] for t in sent_tasks if t[0] == services.RENDER_TASK] == [[str(job.pk)]]

    start(job, owner="worker-b")
    GenerationJob.objects.filter(pk=job.pk).update(heartbeat_at=stale)
    assert services.jobs_sweep()["failed"] == 1
    job.refresh_from_db()
    assert (job.status, job.error_code, job.attempts) == ("failed", "worker_lost", 2)
    assert credit_balance(user_id=user.pk).available == 100
    # A late message from the first worker changes nothing now.
    assert services.job_claim(owner=OWNER, hint_job_id=job.pk).outcome == services.StartOutcome.IDLE


def test_sweeper_leaves_live_jobs_alone_and_resends_lost_messages(user, settings, sent_tasks):
    live = submit(user)
    start(live)
    waiting = submit(user)
    GenerationJob.objects.filter(pk=waiting.pk).update(
        enqueued_at=timezone.now() - timedelta(seconds=settings.GENERATION_REQUEUE_AFTER + 1))
    sent_tasks.clear()

    counts = services.jobs_sweep()

    assert counts == {"requeued": 0, "failed": 0, "canceled": 0, "reenqueued": 1, "etas_sent": 0}
    assert [t[1] for t in sent_tasks] == [[str(waiting.pk)]]
    live.refresh_from_db()
    assert live.status == "running"


class _FlakyBackend(PreviewBackend):
    name = "flaky"
    calls = 0

    def check(self, params):
        return params

    def render(self, spec, workdir, progress):
        type(self).calls += 1
        progress(0.1)
        raise TransientBackendError("GPU busy", code="gpu_busy")


class _BrokenBackend(PreviewBackend):
    name = "broken"

    def check(self, params):
        return params

    def render(self, spec, workdir, progress):
        raise PermanentBackendError("model refused", code="backend_rejected")


@pytest.fixture
def test_backends(monkeypatch):
    monkeypatch.setitem(backends.BACKENDS, "flaky", f"{__name__}._FlakyBackend")
    monkeypatch.setitem(backends.BACKENDS, "broken", f"{__name__}._BrokenBackend")


def test_transient_errors_requeue_with_backoff_then_fail_and_release(user, settings, test_backends, sent_tasks):
    settings.GENERATION_BACKEND = "flaky"
    settings.GENERATION_MAX_TRANSIENT_RETRIES = 2
    job = submit(user)
    errors = []
    for attempt in range(3):
        if attempt:
            # Back in the queue, but no worker claims it before its backoff ends.
            job.refresh_from_db()
            assert job.status == "queued" and job.not_before > timezone.now()
            assert services.job_claim(owner="eager:1:t").outcome == services.StartOutcome.IDLE
            GenerationJob.objects.filter(pk=job.pk).update(not_before=None)  # its backoff is over
        start(job, owner=f"w{attempt}")
        with pytest.raises(TransientBackendError) as err:
            services.job_render(job_id=job.pk, owner=f"w{attempt}")
        errors.append(services.job_transient_error(job_id=job.pk, owner=f"w{attempt}", code=err.value.code,
                                                   message=str(err.value)))

    assert errors == [1, 2, None]
    assert [services.transient_backoff(n) for n in errors[:2]] == [5, 10]
    job.refresh_from_db()
    assert (job.status, job.error_code) == ("failed", "gpu_busy")
    assert credit_balance(user_id=user.pk).available == 100


def test_permanent_backend_error_fails_job_and_releases(user, settings, test_backends, sent_tasks):
    settings.GENERATION_BACKEND = "broken"
    job = submit(user)
    start(job)

    assert services.job_render(job_id=job.pk, owner=OWNER) == JobStatus.FAILED

    job.refresh_from_db()
    assert (job.status, job.error_code, job.error_message) == ("failed", "backend_rejected", "model refused")
    assert credit_balance(user_id=user.pk).reserved == 0
    assert CreditEntry.objects.filter(kind="release").count() == 1


def test_staff_fail_with_refund_stops_a_running_render(user, sent_tasks):
    job = submit(user)
    start(job)
    staff = type(user).objects.create_user(email="ops@example.com", password="x-long-password-1", handle="ops",
                                           is_staff=True)

    services.job_fail_by_staff(job_id=job.pk, staff_id=staff.pk)

    assert services.job_render(job_id=job.pk, owner=OWNER) == "lease_lost"
    job.refresh_from_db()
    assert (job.status, job.error_code) == ("failed", "failed_by_staff")
    assert not job.video
    assert credit_balance(user_id=user.pk).available == 100


def test_image_to_video_uses_the_uploaded_image(user, sent_tasks):
    import io

    from django.core.files.uploadedfile import SimpleUploadedFile
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (250, 0, 0)).save(buf, format="PNG")
    job = submit(user, kind="image_to_video", image=SimpleUploadedFile("red.png", buf.getvalue()))
    start(job)

    assert services.job_render(job_id=job.pk, owner=OWNER) == JobStatus.SUCCEEDED


def test_a_finished_job_is_a_notification_whose_push_goes_out_after_commit(user, sent_tasks,
                                                                           django_capture_on_commit_callbacks):
    from accounts.models import Notification
    from accounts.notifications.services import PUSH_TASK

    job = submit(user)
    services.job_claim(owner=OWNER, hint_job_id=job.pk)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.job_render(job_id=job.pk, owner=OWNER) == JobStatus.SUCCEEDED

    note = Notification.objects.get(user=user)
    assert (note.type, note.group_key, note.data["job_id"]) == ("generation.succeeded", f"generation:{job.pk}",
                                                                str(job.pk))
    assert [args for name, args, _ in sent_tasks if name == PUSH_TASK] == [[note.pk]]


def test_a_canceled_job_is_no_notification(user):
    from accounts.models import Notification

    job = submit(user)
    services.generation_cancel(user=user, job_id=job.pk)

    assert not Notification.objects.exists()
