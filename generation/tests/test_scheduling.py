"""The scheduler: fair-share claims, the running limit under concurrent claims, backpressure,
measured render times, alive workers and ETAs."""

from datetime import timedelta

import pytest
from django.utils import timezone

from billing.models import CreditEntry
from billing.tests.factories import PlanFactory, SubscriptionFactory
from generation import scheduling, services
from generation.models import GenerationJob, GpuWorker, JobStatus, RenderTimeStat
from generation.services.scheduler import render_time_record, worker_seen
from generation.tests.factories import GenerationJobFactory
from tests.concurrency import at_once

URL = "/api/v1/generations"
BODY = {"kind": "text_to_video", "prompt": "a corgi surfing at sunset", "duration_seconds": 4, "size": "480x854"}


def _used(user, seconds, *, ago=60, status=JobStatus.SUCCEEDED):
    """A job of `user` that ran `seconds` of GPU time, finishing `ago` seconds ago."""
    finished = timezone.now() - timedelta(seconds=ago)
    kw = {"user": user} if user is not None else {}
    return GenerationJobFactory(status=status, started_at=finished - timedelta(seconds=seconds),
                                finished_at=finished, **kw)


def _queued(user=None, *, priority=0, age=0, **kw):
    kw = {"user": user} if user is not None else {}
    return GenerationJobFactory(priority=priority, created_at=timezone.now() - timedelta(seconds=age), **kw)


@pytest.mark.django_db(transaction=True)
def test_claims_follow_fair_share_on_a_hand_built_queue(settings, sent_tasks):
    settings.GENERATION_FREE_CONCURRENT_JOBS = 2
    heavy = _queued(age=500)  # queued first, but used the most GPU time lately
    _used(heavy.user, 300)
    paid = _queued(priority=5, age=400)  # the same time used, weighed by 1 + 5
    _used(paid.user, 300)
    busy = _queued(age=300)  # nothing finished, but a render running for 200 s counts
    GenerationJobFactory(user=busy.user, status=JobStatus.RUNNING, heartbeat_at=timezone.now(),
                         started_at=timezone.now() - timedelta(seconds=200))
    old_timer = _queued(age=200)  # a long render, but outside the fair-share window
    _used(old_timer.user, 10_000, ago=settings.GENERATION_FAIR_SHARE_WINDOW + 60)
    newcomer = _queued(age=100)
    tier = _queued(priority=3, age=10)  # unused too, and a higher priority breaks the tie

    claimed = [services.job_claim(owner=f"w{i}:1:t").job_id for i in range(7)]

    assert claimed == [tier.pk, old_timer.pk, newcomer.pk, paid.pk, busy.pk, heavy.pk, None]


@pytest.mark.django_db(transaction=True)
def test_a_user_at_their_running_limit_is_passed_over_for_the_next_user(settings, sent_tasks):
    settings.GENERATION_FREE_CONCURRENT_JOBS = 1
    flood = _queued(age=100)
    _queued(flood.user, age=99)
    light = _queued(age=1)
    _used(light.user, 50)  # used more than the flooder so far: the flooder goes first

    first, second, third = (services.job_claim(owner=f"w{i}:1:t").job_id for i in range(3))

    assert (first, second, third) == (flood.pk, light.pk, None)
    assert GenerationJob.objects.filter(user=flood.user, status="queued").count() == 1


@pytest.mark.django_db(transaction=True)
def test_running_limit_holds_under_concurrent_claims_from_four_threads(settings, sent_tasks):
    settings.GENERATION_FREE_CONCURRENT_JOBS = 2
    flood = _queued(age=100)
    for i in range(11):
        _queued(flood.user, age=99 - i)
    for round_ in range(4):
        claims = at_once([lambda i=i: [services.job_claim(owner=f"w{i}:{round_}:t{n}") for n in range(2)]
                          for i in range(4)], workers=4)
        started = [c.job_id for per_thread in claims for c in per_thread if c.job_id is not None]
        running = GenerationJob.objects.filter(user=flood.user, status=JobStatus.RUNNING)
        assert (len(started), running.count()) == (2, 2), round_
        assert set(started) == set(running.values_list("pk", flat=True))
        running.update(status=JobStatus.SUCCEEDED, finished_at=timezone.now())
    assert GenerationJob.objects.filter(user=flood.user, status="queued").count() == 4


@pytest.mark.django_db(transaction=True)
def test_a_job_in_its_transient_backoff_is_not_claimed(settings, sent_tasks):
    job = _queued()
    GenerationJob.objects.filter(pk=job.pk).update(not_before=timezone.now() + timedelta(seconds=30))

    assert services.job_claim(owner="w:1:t").outcome == services.StartOutcome.IDLE

    GenerationJob.objects.filter(pk=job.pk).update(not_before=timezone.now() - timedelta(seconds=1))
    assert services.job_claim(owner="w:1:t").job_id == job.pk


@pytest.mark.django_db(transaction=True)
def test_after_a_render_a_worker_is_woken_for_a_job_whose_message_was_spent(settings, sent_tasks):
    settings.GENERATION_FREE_CONCURRENT_JOBS = 1
    first = _queued(age=10)
    second = _queued(first.user, age=5)
    services.job_claim(owner="w1:1:t")
    assert services.job_claim(owner="w2:1:t", hint_job_id=second.pk).outcome == services.StartOutcome.IDLE
    GenerationJob.objects.filter(pk=first.pk).update(status=JobStatus.SUCCEEDED, finished_at=timezone.now())
    sent_tasks.clear()

    assert services.wake_for_next() is True

    assert sent_tasks == [(services.RENDER_TASK, [str(second.pk)], {"queue": "gpu"})]
    GenerationJob.objects.filter(pk=second.pk).update(status=JobStatus.CANCELED)
    assert services.wake_for_next() is False


# --- backpressure ---------------------------------------------------------------------------


def _nothing_more(user, jobs_before, sent_tasks):
    assert GenerationJob.objects.filter(user=user).count() == jobs_before
    assert CreditEntry.objects.filter(user=user, kind="reserve").count() == jobs_before
    assert len([t for t in sent_tasks if t[0] == services.RENDER_TASK]) == jobs_before


@pytest.mark.django_db
def test_queue_full_is_a_429_with_retry_after_and_nothing_created_or_charged(auth_api, settings, sent_tasks,
                                                                             django_capture_on_commit_callbacks):
    settings.GENERATION_FREE_MAX_QUEUED_JOBS = 2
    RenderTimeStat.objects.create(backend="preview", width=480, height=854, duration_seconds=4,
                                  average_seconds=40, samples=3)
    GenerationJobFactory(status=JobStatus.RUNNING, started_at=timezone.now())  # 40 s left on one worker
    with django_capture_on_commit_callbacks(execute=True):
        assert [auth_api.post(URL, BODY).status_code for _ in range(2)] == [201, 201]
        response = auth_api.post(URL, BODY)

    assert response.status_code == 429
    assert response.json()["error"]["code"] == "queue_full"
    # The user's next job starts when the running render ends: then a slot is free.
    assert 38 <= int(response["Retry-After"]) <= 40
    assert response.json()["error"]["retry_after"] == int(response["Retry-After"])
    _nothing_more(auth_api.user, 2, sent_tasks)


@pytest.mark.django_db
def test_a_backlog_over_the_limit_sheds_free_submissions_first(auth_api, settings, sent_tasks,
                                                              django_capture_on_commit_callbacks):
    settings.GENERATION_SHED_FREE_AFTER_MINUTES = 30
    settings.GENERATION_SHED_ALL_AFTER_MINUTES = 60
    RenderTimeStat.objects.create(backend="preview", width=480, height=854, duration_seconds=4,
                                  average_seconds=600, samples=3)
    for _ in range(4):
        _queued()  # 40 minutes of GPU time for the one worker
    subscriber = SubscriptionFactory(plan=PlanFactory(code="pro", queue_priority=5)).user
    from accounts.services import tokens_for_user
    from rest_framework.test import APIClient

    paid_api = APIClient()
    paid_api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_for_user(subscriber)['access']}")

    with django_capture_on_commit_callbacks(execute=True):
        refused = auth_api.post(URL, BODY)
        admitted = paid_api.post(URL, BODY)

    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "queue_busy"
    assert refused["Retry-After"] == str(40 * 60 - 30 * 60)  # until the backlog is back under 30 minutes
    _nothing_more(auth_api.user, 0, [])
    assert admitted.status_code == 201, admitted.json()
    assert GenerationJob.objects.get(user=subscriber).priority == 5

    settings.GENERATION_SHED_ALL_AFTER_MINUTES = 40
    with django_capture_on_commit_callbacks(execute=True):
        also_refused = paid_api.post(URL, BODY)  # 50 minutes now: everyone waits
    assert (also_refused.status_code, also_refused.json()["error"]["code"]) == (429, "queue_busy")
    assert GenerationJob.objects.filter(user=subscriber).count() == 1


# --- measured render times, alive workers, ETAs ------------------------------------------------


@pytest.mark.django_db
def test_render_times_are_a_moving_average_per_backend_size_and_duration():
    for seconds in (10, 20):
        render_time_record(job_id=_used(None, seconds).pk)
    render_time_record(job_id=GenerationJobFactory(status=JobStatus.SUCCEEDED, width=720, height=1280,
                                                   started_at=timezone.now() - timedelta(seconds=50),
                                                   finished_at=timezone.now()).pk)

    stats = {(s.width, s.duration_seconds): (round(s.average_seconds, 3), s.samples)
             for s in RenderTimeStat.objects.all()}
    assert stats == {(480, 4): (12.0, 2), (720, 4): (50.0, 1)}
    times = scheduling.RenderTimes.load()
    assert times.expected("preview", 480, 854, 4) == 12.0
    # An unseen shape is scaled from the measured ones by pixel-seconds.
    assert round(times.expected("preview", 480, 854, 8), 3) == round(12 + 50 * (480 * 854) / (720 * 1280), 3)
    assert times.expected("diffusers", 480, 854, 4) == scheduling.DEFAULT_RENDER_SECONDS


@pytest.mark.django_db
def test_alive_workers_are_counted_by_their_heartbeats(settings):
    worker_seen(owner="gpu-1:100:task-a")
    worker_seen(owner="gpu-1:100:task-b")  # the same process, another task
    worker_seen(owner="gpu-2:200:task-c")
    GpuWorker.objects.create(name="gpu-3:300", seen_at=timezone.now() - timedelta(
        seconds=settings.GENERATION_HEARTBEAT_TIMEOUT + 1))

    assert scheduling.alive_workers() == 2


@pytest.mark.django_db
def test_eta_comes_from_measured_times_running_renders_and_alive_workers(auth_api):
    RenderTimeStat.objects.create(backend="preview", width=480, height=854, duration_seconds=4,
                                  average_seconds=10, samples=5)
    runner = GenerationJobFactory(status=JobStatus.RUNNING, started_at=timezone.now()).user
    GenerationJobFactory(user=runner, status=JobStatus.RUNNING, started_at=timezone.now())
    for age in (30, 20, 10):
        _queued(age=age)
    mine = _queued(auth_api.user)
    worker_seen(owner="gpu-1:1:t")

    one_worker = auth_api.get(f"{URL}/{mine.pk}").json()
    worker_seen(owner="gpu-2:1:t")
    two_workers = auth_api.get(f"{URL}/{mine.pk}").json()

    # 20 s left on the running renders and 3 jobs of 10 s ahead, shared by the alive workers.
    assert (one_worker["queue_position"], one_worker["eta_seconds"]) == (4, 50)
    assert (two_workers["queue_position"], two_workers["eta_seconds"]) == (4, 25)


@pytest.mark.django_db(transaction=True)
def test_owners_get_a_new_eta_only_when_it_moved_more_than_the_threshold(settings, events_of, sent_tasks):
    settings.GENERATION_ETA_UPDATE_SECONDS = 15
    RenderTimeStat.objects.create(backend="preview", width=480, height=854, duration_seconds=4,
                                  average_seconds=60, samples=5)
    worker_seen(owner="gpu-1:1:t")
    running = GenerationJobFactory(status=JobStatus.RUNNING, started_at=timezone.now())
    moved = _queued(age=20)
    still = _queued(age=10)  # behind `moved`: 60 s left on the render + 60 s of `moved`
    now = timezone.now()
    GenerationJob.objects.filter(pk=moved.pk).update(eta_at=now + timedelta(seconds=200))
    GenerationJob.objects.filter(pk=still.pk).update(eta_at=now + timedelta(seconds=125))
    moved_events, still_events = events_of(moved.user), events_of(still.user)

    assert services.etas_refresh() == 1

    [event] = moved_events()
    assert event["type"] == "generation.updated"
    assert (event["job"]["id"], event["job"]["status"], event["job"]["eta_seconds"]) == (str(moved.pk), "queued", 60)
    assert still_events() == []
    assert services.etas_refresh() == 0  # told already
    assert moved_events() == []

    # The render ends early: both starts move by a minute, and both owners hear of it.
    GenerationJob.objects.filter(pk=running.pk).update(status=JobStatus.SUCCEEDED, finished_at=timezone.now())
    assert services.etas_refresh() == 2
    assert [e["job"]["eta_seconds"] for e in moved_events()] == [0]
    assert [e["job"]["eta_seconds"] for e in still_events()] == [60]
