"""The diffusers backend under the real worker: failures settle at once, heartbeats keep a slow load alive,
refusals come before any charge; plus the heartbeat thread and the AAC soundtrack on their own."""

from __future__ import annotations

import threading
import time

import av
import numpy as np
import pytest

from billing.models import CreditEntry
from billing.selectors import credit_balance
from config.errors import ApplicationError
from generation import services
from generation.backends import JobCanceled, RenderSpec, get_backend
from generation.backends.diffusers import pipeline as pipeline_module
from generation.backends.diffusers.heartbeat import Heartbeat
from generation.backends.media import write_mp4
from generation.models import GenerationJob, JobStatus
from generation.tests.test_diffusers_families import FAST, spec_for, use

OWNER = "worker-d:1:task-1"


@pytest.fixture
def user(db):
    from accounts.tests.factories import UserFactory

    return UserFactory(handle="kiter")


@pytest.mark.django_db(transaction=True)
def test_a_pipeline_exception_fails_the_job_at_once_and_releases_the_credits(settings, tiny_model, user,
                                                                             sent_tasks):
    folder = tiny_model("wan21")
    settings.GENERATION_BACKEND = "diffusers"
    use(settings, folder)
    settings.GENERATION_MODEL_PROFILES = {str(folder): {**FAST["wan21"], "fixed_size": [24, 40]}}
    job, _ = services.generation_submit(user=user, kind="text_to_video", prompt="a red kite", duration_seconds=4,
                                        size="480x854")
    services.job_claim(owner=OWNER, hint_job_id=job.pk)

    assert services.job_render(job_id=job.pk, owner=OWNER) == JobStatus.FAILED

    job.refresh_from_db()
    assert (job.status, job.error_code, job.attempts, job.transient_errors) == ("failed", "render_failed", 1, 0)
    assert "divisible by 16" in job.error_message
    assert credit_balance(user_id=user.pk).reserved == 0
    assert credit_balance(user_id=user.pk).available == 100
    assert CreditEntry.objects.filter(kind="release").count() == 1


def test_a_duration_the_model_cannot_render_is_refused_before_any_charge(settings, tiny_model, user):
    settings.GENERATION_BACKEND = "diffusers"
    use(settings, tiny_model("wan21"))

    with pytest.raises(ApplicationError) as excinfo:
        services.generation_submit(user=user, kind="text_to_video", prompt="a red kite", duration_seconds=8,
                                   size="480x854")

    assert (excinfo.value.code, excinfo.value.status_code) == ("duration_not_supported", 400)
    assert list(excinfo.value.fields) == ["duration_seconds"]
    assert GenerationJob.objects.count() == 0
    assert credit_balance(user_id=user.pk).available == 100
    assert CreditEntry.objects.filter(kind="reserve").count() == 0


def test_heartbeats_keep_coming_during_a_slow_load(settings, tiny_model, tmp_path, monkeypatch):
    use(settings, tiny_model("wan21"), "wan21")
    settings.GENERATION_HEARTBEAT_INTERVAL = 0.05
    real_load = pipeline_module._load
    window: dict[str, float] = {}

    def slow_load(*args, **kwargs):
        # Stands in for minutes of reading weights: the render thread is inside one call.
        window["start"] = time.monotonic()
        time.sleep(0.6)
        window["end"] = time.monotonic()
        return real_load(*args, **kwargs)

    monkeypatch.setattr(pipeline_module, "_load", slow_load)
    monkeypatch.setattr(pipeline_module, "_PIPELINES", {})
    beats: list[tuple[float, float, str]] = []
    workdir = tmp_path / "job"
    workdir.mkdir()

    get_backend("diffusers").render(spec_for("480x480"), workdir,
                                    lambda f: beats.append((time.monotonic(), f, threading.current_thread().name)))

    during = [b for b in beats if window["start"] <= b[0] <= window["end"]]
    assert len(during) >= 5
    assert {name for _, _, name in during} == {"render-heartbeat"}
    assert {fraction for _, fraction, _ in during} == {0.0}
    assert beats[-1][1] == 1.0


def test_a_cancel_seen_by_the_heartbeat_stops_the_render_when_the_call_returns():
    def progress(fraction: float) -> None:
        if threading.current_thread().name == "render-heartbeat":
            raise JobCanceled("job-1")

    with pytest.raises(JobCanceled):
        with Heartbeat(progress, 0.02):
            time.sleep(0.2)


def test_heartbeat_is_quiet_while_the_render_reports_itself():
    calls: list[str] = []
    with Heartbeat(lambda f: calls.append(threading.current_thread().name), 0.2) as beat:
        for i in range(10):
            beat(i / 10)
            time.sleep(0.02)

    assert calls == [threading.current_thread().name] * 10


def test_a_soundtrack_is_muxed_as_aac(tmp_path):
    spec = RenderSpec(job_id="a", kind="text_to_video", prompt="p", duration_seconds=1, width=32, height=32, fps=8,
                      seed=1)
    rate = 24000
    t = np.arange(rate) / rate
    audio = np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 220 * t)], axis=1).astype(np.float32) * 0.5
    frames = [np.full((32, 32, 3), 10 * i, dtype=np.uint8) for i in range(8)]

    write_mp4(frames, tmp_path / "v.mp4", spec, audio=audio, audio_rate=rate)

    with av.open(str(tmp_path / "v.mp4")) as container:
        stream = container.streams.audio[0]
        assert (stream.codec_context.name, stream.rate, stream.channels) == ("aac", rate, 2)
        decoded = np.concatenate([f.to_ndarray() for f in container.decode(stream)], axis=1)
    assert abs(decoded.shape[1] - rate) < 2048  # AAC pads to whole 1024-sample frames
    assert np.abs(decoded).max() > 0.3
