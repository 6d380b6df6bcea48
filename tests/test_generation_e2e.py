"""End to end: REST submit -> a real Celery worker process renders with `preview` ->
the websocket receives the events in order -> the MP4 downloads and decodes."""

import asyncio
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework.test import APIClient

from accounts.services import tokens_for_user
from accounts.tests.factories import UserFactory
from billing.models import CreditEntry
from billing.selectors import credit_balance
from config.asgi import application
from generation import services
from generation.backends.media import probe
from generation.models import GenerationJob
from generation.provenance import provenance_read
from tests.worker import WorkerProcess, purge_queues, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def env(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.GENERATION_BACKEND = "preview"
    settings.GENERATION_FPS = 8
    settings.GENERATION_HEARTBEAT_TIMEOUT = 3
    settings.CREDITS_SIGNUP_GRANT = 100
    purge_queues()
    return tmp_path


@pytest.fixture
def workers(env):
    started: list[WorkerProcess] = []

    def start() -> WorkerProcess:
        worker = WorkerProcess({}, env / f"worker-{len(started)}.log").start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def _client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_for_user(user)['access']}")
    return client


async def _events_until(communicator, final: set[str], timeout: float = 60) -> list[dict]:
    events = []
    async with asyncio.timeout(timeout):
        while True:
            event = await communicator.receive_json_from(timeout=timeout)
            events.append(event)
            if event.get("type") == "generation.updated" and event["job"]["status"] in final:
                return events


@pytest.mark.asyncio
async def test_submit_render_realtime_download(env, workers):
    user = await sync_to_async(UserFactory)()
    token = await sync_to_async(lambda: tokens_for_user(user)["access"])()
    communicator = WebsocketCommunicator(application, f"/ws/?token={token}")
    assert (await communicator.connect())[0]
    assert (await communicator.receive_json_from())["type"] == "hello"
    workers()
    client = await sync_to_async(_client)(user)

    response = await sync_to_async(client.post)(
        "/api/v1/generations",
        {"kind": "text_to_video", "prompt": "a fox in the snow", "duration_seconds": 4, "size": "480x854"},
        format="json",
    )
    assert response.status_code == 201
    job_id = response.json()["id"]

    events = await _events_until(communicator, {"succeeded", "failed", "canceled"})
    await communicator.disconnect()

    jobs = [e["job"] for e in events if e["type"] == "generation.updated"]
    assert all(j["id"] == job_id for j in jobs)
    statuses = [j["status"] for j in jobs]
    assert statuses[0] == "queued" and statuses[1] == "running" and statuses[-1] == "succeeded", statuses
    assert any(0 < j["progress"] < 100 for j in jobs if j["status"] == "running")
    seqs = [e["seq"] for e in events if e["type"] == "generation.updated"]
    assert seqs == sorted(set(seqs))

    video = await sync_to_async(client.get)(jobs[-1]["result"]["video_url"])
    assert video.status_code == 200
    path = env / "download.mp4"
    path.write_bytes(b"".join(video.streaming_content))
    info = probe(path)
    assert (info.width, info.height, info.duration_seconds, info.codec) == (480, 854, 4.0, "h264")
    assert info.sha256 == jobs[-1]["result"]["sha256"]
    # Signed by the worker (the development CA in tests, the only anchor): intact and ours.
    report = provenance_read(path)
    assert (report.state, report.job_id, report.generator, report.ai_generated) == ("trusted", job_id, "preview", True)
    assert await sync_to_async(lambda: CreditEntry.objects.filter(kind="capture").count())() == 1
    balance = await sync_to_async(credit_balance)(user_id=user.pk)
    assert (balance.available, balance.reserved) == (96, 0)


def _submit(user, **overrides) -> str:
    body = {"kind": "text_to_video", "prompt": "a long slow pan over mountains", "duration_seconds": 12,
            "size": "720x1280"}
    body.update(overrides)
    response = _client(user).post("/api/v1/generations", body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def _job(job_id) -> GenerationJob:
    return GenerationJob.objects.get(pk=job_id)


def test_kill_9_mid_render_then_restart_completes_once(env, workers, settings):
    settings.GENERATION_FPS = 24  # a longer render, so the kill lands mid-way
    user = UserFactory()
    first = workers()
    job_id = _submit(user)
    wait_until(lambda: _job(job_id).status == "running" and _job(job_id).progress >= 5, timeout=120,
               what="the render to start")

    first.kill()
    killed_at = _job(job_id)
    assert killed_at.status == "running" and killed_at.progress < 100

    workers()
    wait_until(lambda: services.jobs_sweep()["requeued"] == 1, timeout=90, interval=0.5,
               what="the sweeper to see the stale heartbeat")
    wait_until(lambda: _job(job_id).status == "succeeded", timeout=120, interval=0.25, what="the re-run")

    job = _job(job_id)
    assert job.attempts == 2
    assert CreditEntry.objects.filter(reference=f"generation:{job_id}", kind="capture").count() == 1
    assert not CreditEntry.objects.filter(reference=f"generation:{job_id}", kind="release").exists()
    info = probe(Path(settings.MEDIA_ROOT) / job.video.name)
    assert (info.width, info.height, info.duration_seconds) == (720, 1280, 12.0)


def test_cancel_while_queued_and_while_running(env, workers, settings):
    settings.GENERATION_FPS = 24
    user = UserFactory()
    running_id = _submit(user)
    queued_id = _submit(user, duration_seconds=4, size="480x854")  # waits: free plan runs one at a time
    workers()
    wait_until(lambda: _job(running_id).status == "running" and _job(running_id).progress >= 5, timeout=120,
               what="the first render to start")

    client = _client(user)
    assert client.post(f"/api/v1/generations/{queued_id}/cancel").json()["status"] == "canceled"
    assert client.post(f"/api/v1/generations/{running_id}/cancel").status_code == 200
    wait_until(lambda: _job(running_id).status == "canceled", timeout=90, what="the running job to stop")

    assert _job(queued_id).started_at is None
    assert not _job(running_id).video
    assert CreditEntry.objects.filter(kind="release").count() == 2
    assert not CreditEntry.objects.filter(kind="capture").exists()
    assert credit_balance(user_id=user.pk).available == 100
