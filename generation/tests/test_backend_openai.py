"""The `remote` backend against a real HTTP fake of the /v1/videos API (tests/fakes/video_api.py)."""

from __future__ import annotations

import json
import socket
import time
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from generation.backends import get_backend
from generation.backends.base import JobCanceled, PermanentBackendError, RenderSpec, TransientBackendError
from generation.backends.media import generator_metadata, probe
from generation.backends.remote import RemoteBackend, idempotency_key
from tests.fakes.video_api import FakeVideoAPI

API_KEY = "sk-test-remote"


@pytest.fixture
def video_api():
    with FakeVideoAPI(api_key=API_KEY) as server:
        yield server


@pytest.fixture
def remote(settings, video_api):
    settings.GENERATION_REMOTE_URL = video_api.url
    settings.GENERATION_REMOTE_API_KEY = API_KEY
    settings.GENERATION_REMOTE_MODEL = "sora-2"
    settings.GENERATION_REMOTE_TIMEOUT = 5.0
    settings.GENERATION_REMOTE_POLL_INTERVAL = 0.01
    settings.GENERATION_REMOTE_MAX_WAIT = 10.0
    return RemoteBackend()


def make_spec(**overrides) -> RenderSpec:
    fields = dict(job_id="job-remote-1", kind="text_to_video", prompt="a red fox running through snow",
                  duration_seconds=2, width=160, height=96, fps=8, seed=7, watermark_text="@fox")
    fields.update(overrides)
    spec = RenderSpec(**fields)
    return RenderSpec(**{**fields, "metadata": generator_metadata(spec, "remote")})


class Progress:
    def __init__(self, cancel_at_call: int | None = None) -> None:
        self.values: list[float] = []
        self.cancel_at_call = cancel_at_call

    def __call__(self, fraction: float) -> None:
        self.values.append(fraction)
        if self.cancel_at_call is not None and len(self.values) >= self.cancel_at_call:
            raise JobCanceled("canceled by the user")


def paths(server: FakeVideoAPI) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in server.requests]


def workdir_files(workdir: Path) -> list[str]:
    return sorted(p.name for p in workdir.iterdir())


def test_registry_maps_remote_to_the_backend():
    backend = get_backend("remote")

    assert isinstance(backend, RemoteBackend)
    assert backend.name == "remote"


def test_text_to_video_renders_our_mp4_from_the_remote_clip(remote, video_api, tmp_path):
    spec = make_spec(style="cinematic")
    progress = Progress()

    output = remote.render(spec, tmp_path, progress)

    info = probe(output.video_path)
    assert output.video_path == tmp_path / "video.mp4"
    assert (info.width, info.height, info.fps, info.frame_count, info.duration_seconds) == (160, 96, 8.0, 16, 2.0)
    assert (info.codec, info.pix_fmt) == ("h264", "yuv420p")
    assert info.metadata["title"] == "a red fox running through snow"
    assert json.loads(info.metadata["comment"]) == {"generator": "clipsocial", "backend": "remote",
                                                    "job": "job-remote-1", "seed": 7}
    with Image.open(output.poster_path) as poster:
        assert (poster.format, poster.size) == ("JPEG", (160, 96))
    # The downloaded original is not kept next to our output.
    assert workdir_files(tmp_path) == ["poster.jpg", "video.mp4"]

    assert progress.values[:3] == [0.0, 0.45, 0.9]
    assert progress.values[-1] == 1.0
    assert progress.values == sorted(progress.values)
    assert progress.values.count(1.0) == 1

    (job,) = video_api.jobs.values()
    assert paths(video_api) == [
        ("POST", "/v1/videos"),
        ("GET", f"/v1/videos/{job.id}"),
        ("GET", f"/v1/videos/{job.id}"),
        ("GET", f"/v1/videos/{job.id}/content"),
    ]
    create = video_api.requests[0]
    assert create.json == {"model": "sora-2", "prompt": "a red fox running through snow\n\nStyle: cinematic",
                           "seconds": "2", "size": "160x96"}
    assert create.files == {}
    assert create.header("Idempotency-Key") == "clipsocial-generation-job-remote-1" == idempotency_key(spec)
    assert {r.header("Authorization") for r in video_api.requests} == {f"Bearer {API_KEY}"}
    assert video_api.requests[-1].query == {"variant": ["video"]}
    assert (job.status, job.deleted) == ("completed", False)


def test_fake_clip_differs_from_spec_so_retiming_is_exercised(remote, video_api, tmp_path):
    remote.render(make_spec(), tmp_path, Progress())

    (job,) = video_api.jobs.values()
    original = tmp_path / "original.mp4"
    original.write_bytes(job.content)
    assert (probe(original).fps, probe(original).frame_count) == (12.0, 24)


def test_rendering_the_same_job_twice_creates_one_remote_job(remote, video_api, tmp_path):
    first_dir, second_dir = tmp_path / "a", tmp_path / "b"
    first_dir.mkdir()
    second_dir.mkdir()

    first = remote.render(make_spec(), first_dir, Progress())
    second = remote.render(make_spec(), second_dir, Progress())

    assert len(video_api.jobs) == 1
    (job,) = video_api.jobs.values()
    creates = video_api.requests_to("POST", "/v1/videos")
    assert [r.header("Idempotency-Key") for r in creates] == ["clipsocial-generation-job-remote-1"] * 2
    # The retry finds the remote job already completed and goes straight to the download.
    assert paths(video_api)[4:] == [("POST", "/v1/videos"), ("GET", f"/v1/videos/{job.id}/content")]
    assert probe(first.video_path).sha256 == probe(second.video_path).sha256


def test_different_jobs_get_different_remote_jobs(remote, video_api, tmp_path):
    remote.render(make_spec(job_id="job-a"), tmp_path, Progress())
    remote.render(make_spec(job_id="job-b"), tmp_path, Progress())

    assert sorted(job.idempotency_key for job in video_api.jobs.values()) == [
        "clipsocial-generation-job-a", "clipsocial-generation-job-b"]


def test_image_to_video_sends_the_image_cropped_to_the_video_size(remote, video_api, tmp_path):
    image_path = tmp_path / "still.png"
    Image.new("RGB", (320, 240), (220, 20, 30)).save(image_path)
    workdir = tmp_path / "work"
    workdir.mkdir()
    spec = make_spec(kind="image_to_video", image_path=image_path, watermark_text=None)

    output = remote.render(spec, workdir, Progress())

    create = video_api.requests[0]
    assert create.header("Content-Type").startswith("multipart/form-data; boundary=")
    assert create.json is None
    assert create.form == {"model": "sora-2", "prompt": "a red fox running through snow", "seconds": "2",
                           "size": "160x96"}
    assert list(create.files) == ["input_reference"]
    filename, content_type, data = create.files["input_reference"]
    assert (filename, content_type) == ("input_reference.jpg", "image/jpeg")
    with Image.open(BytesIO(data)) as sent:
        assert (sent.format, sent.size) == ("JPEG", (160, 96))
        red, green, blue = np.asarray(sent.convert("RGB"), dtype=np.float32).mean(axis=(0, 1))
    assert red > 200 and green < 40 and blue < 50
    # The fake paints its clip in the reference's colour, so the image reached the model.
    with Image.open(output.poster_path) as poster:
        red, green, blue = np.asarray(poster.convert("RGB"), dtype=np.float32).mean(axis=(0, 1))
    assert red > 190 and green < 50 and blue < 60
    assert (probe(output.video_path).width, probe(output.video_path).height) == (160, 96)
    assert workdir_files(workdir) == ["poster.jpg", "video.mp4"]


def test_unreadable_input_image_is_permanent_and_nothing_is_sent(remote, video_api, tmp_path):
    image_path = tmp_path / "still.png"
    image_path.write_bytes(b"not an image")
    workdir = tmp_path / "work"
    workdir.mkdir()

    with pytest.raises(PermanentBackendError) as caught:
        remote.render(make_spec(kind="image_to_video", image_path=image_path), workdir, Progress())

    assert caught.value.code == "backend_bad_input"
    assert video_api.requests == []
    assert video_api.jobs == {}


def test_503_on_create_is_transient_and_creates_nothing(remote, video_api, tmp_path):
    video_api.fail_next_create_with = 503
    progress = Progress()

    with pytest.raises(TransientBackendError) as caught:
        remote.render(make_spec(), tmp_path, progress)

    assert caught.value.code == "backend_unavailable"
    assert str(caught.value) == "Remote video API answered 503 (create): Injected failure: Service Unavailable."
    assert paths(video_api) == [("POST", "/v1/videos")]
    assert video_api.jobs == {}
    assert progress.values == []
    assert workdir_files(tmp_path) == []


def test_429_on_create_is_rate_limited(remote, video_api, tmp_path):
    video_api.fail_next_create_with = 429

    with pytest.raises(TransientBackendError) as caught:
        remote.render(make_spec(), tmp_path, Progress())

    assert caught.value.code == "backend_rate_limited"
    assert video_api.jobs == {}
    assert workdir_files(tmp_path) == []


def test_retry_after_a_transient_failure_succeeds(remote, video_api, tmp_path):
    video_api.fail_next_create_with = 502
    with pytest.raises(TransientBackendError):
        remote.render(make_spec(), tmp_path, Progress())

    output = remote.render(make_spec(), tmp_path, Progress())

    assert probe(output.video_path).frame_count == 16
    assert len(video_api.jobs) == 1


def test_moderation_rejection_is_permanent_and_carries_the_remote_message(remote, video_api, tmp_path):
    progress = Progress()

    with pytest.raises(PermanentBackendError) as caught:
        remote.render(make_spec(prompt="something [reject]"), tmp_path, progress)

    assert caught.value.code == "backend_rejected"
    assert str(caught.value) == "Your request was blocked by our moderation system."
    assert video_api.jobs == {}
    assert paths(video_api) == [("POST", "/v1/videos")]
    assert progress.values == []
    assert workdir_files(tmp_path) == []


def test_remote_job_failure_is_permanent_with_the_remote_message(remote, video_api, tmp_path):
    with pytest.raises(PermanentBackendError) as caught:
        remote.render(make_spec(prompt="a fox [fail]"), tmp_path, Progress())

    assert caught.value.code == "backend_failed"
    assert str(caught.value) == "The model could not render this prompt."
    (job,) = video_api.jobs.values()
    assert job.status == "failed"
    assert video_api.requests_to("GET", f"/v1/videos/{job.id}/content") == []
    assert video_api.requests_to("DELETE") == []
    assert workdir_files(tmp_path) == []


def test_remote_job_flagged_by_output_moderation_is_a_rejection(remote, video_api, tmp_path):
    with pytest.raises(PermanentBackendError) as caught:
        remote.render(make_spec(prompt="a fox [flagged]"), tmp_path, Progress())

    assert caught.value.code == "backend_rejected"
    assert str(caught.value) == "The generated video was flagged by moderation."
    assert workdir_files(tmp_path) == []


def test_stalled_job_times_out_and_is_left_for_the_retry(remote, video_api, settings, tmp_path):
    settings.GENERATION_REMOTE_MAX_WAIT = 0.2
    progress = Progress()
    started = time.monotonic()

    with pytest.raises(TransientBackendError) as caught:
        remote.render(make_spec(prompt="a fox [stall]"), tmp_path, progress)

    assert caught.value.code == "backend_timeout"
    assert 0.2 <= time.monotonic() - started < 2.0
    (job,) = video_api.jobs.values()
    assert (job.status, job.progress, job.deleted) == ("in_progress", 90, False)
    assert video_api.requests_to("DELETE") == []
    assert video_api.requests_to("GET", f"/v1/videos/{job.id}/content") == []
    assert max(progress.values) == pytest.approx(0.81)
    assert workdir_files(tmp_path) == []


def test_read_timeout_is_transient(remote, video_api, settings, tmp_path):
    settings.GENERATION_REMOTE_TIMEOUT = 0.2
    video_api.response_delay = 1.0
    started = time.monotonic()

    with pytest.raises(TransientBackendError) as caught:
        remote.render(make_spec(), tmp_path, Progress())

    assert caught.value.code == "backend_unavailable"
    assert str(caught.value) == "Remote video API timed out (create)."
    assert time.monotonic() - started < 1.0
    assert workdir_files(tmp_path) == []
    # The server did create the job before the client gave up: the retry must reuse it.
    assert len(video_api.jobs) == 1
    video_api.response_delay = 0.0
    settings.GENERATION_REMOTE_TIMEOUT = 5.0
    remote.render(make_spec(), tmp_path, Progress())
    assert len(video_api.jobs) == 1


def test_unreachable_host_is_transient(remote, settings, tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        free_port = sock.getsockname()[1]
    settings.GENERATION_REMOTE_URL = f"http://127.0.0.1:{free_port}"

    with pytest.raises(TransientBackendError) as caught:
        remote.render(make_spec(), tmp_path, Progress())

    assert caught.value.code == "backend_unavailable"
    assert str(caught.value) == "Remote video API is unreachable (create)."


def test_a_few_failed_polls_are_tolerated(remote, video_api, tmp_path):
    video_api.fail("retrieve", 502, 503)

    output = remote.render(make_spec(), tmp_path, Progress())

    assert probe(output.video_path).frame_count == 16
    (job,) = video_api.jobs.values()
    assert len(video_api.requests_to("GET", f"/v1/videos/{job.id}")) == 4
    assert len(video_api.requests_to("POST")) == 1


def test_polls_failing_in_a_row_give_up_as_transient(remote, video_api, tmp_path):
    video_api.fail("retrieve", 502, 502, 502)

    with pytest.raises(TransientBackendError) as caught:
        remote.render(make_spec(), tmp_path, Progress())

    assert caught.value.code == "backend_unavailable"
    (job,) = video_api.jobs.values()
    assert (job.status, job.deleted) == ("queued", False)
    assert workdir_files(tmp_path) == []


def test_truncated_download_is_transient(remote, video_api, tmp_path):
    video_api.truncate_content = True

    with pytest.raises(TransientBackendError) as caught:
        remote.render(make_spec(), tmp_path, Progress())

    assert caught.value.code == "backend_unavailable"
    assert workdir_files(tmp_path) == []


def test_wrong_api_key_is_an_auth_failure(remote, video_api, settings, tmp_path):
    settings.GENERATION_REMOTE_API_KEY = "sk-wrong"

    with pytest.raises(PermanentBackendError) as caught:
        remote.render(make_spec(), tmp_path, Progress())

    assert caught.value.code == "backend_auth_failed"
    assert str(caught.value) == "Remote video API refused our credentials (401): Incorrect API key provided."
    assert [r.header("Authorization") for r in video_api.requests] == ["Bearer sk-wrong"]
    assert video_api.jobs == {}


def test_cancel_during_polling_propagates_and_deletes_the_remote_job(remote, video_api, tmp_path):
    progress = Progress(cancel_at_call=2)

    with pytest.raises(JobCanceled):
        remote.render(make_spec(), tmp_path, progress)

    (job,) = video_api.jobs.values()
    assert paths(video_api) == [
        ("POST", "/v1/videos"),
        ("GET", f"/v1/videos/{job.id}"),
        ("DELETE", f"/v1/videos/{job.id}"),
    ]
    assert video_api.requests[-1].header("Authorization") == f"Bearer {API_KEY}"
    assert job.deleted is True
    assert progress.values == [0.0, 0.45]
    assert workdir_files(tmp_path) == []


def test_cancel_during_reencode_still_deletes_the_remote_job(remote, video_api, tmp_path):
    progress = Progress(cancel_at_call=4)  # 0.0, 0.45, 0.9, then the first re-encode step

    with pytest.raises(JobCanceled):
        remote.render(make_spec(), tmp_path, progress)

    (job,) = video_api.jobs.values()
    assert paths(video_api)[-2:] == [("GET", f"/v1/videos/{job.id}/content"), ("DELETE", f"/v1/videos/{job.id}")]
    assert job.deleted is True


def test_cancel_propagates_even_when_the_delete_fails(remote, video_api, tmp_path):
    video_api.fail("delete", 500)

    with pytest.raises(JobCanceled):
        remote.render(make_spec(), tmp_path, Progress(cancel_at_call=1))

    (job,) = video_api.jobs.values()
    assert paths(video_api) == [("POST", "/v1/videos"), ("DELETE", f"/v1/videos/{job.id}")]
    assert job.deleted is False


def test_unset_url_is_not_configured(remote, video_api, settings, tmp_path):
    settings.GENERATION_REMOTE_URL = ""

    with pytest.raises(PermanentBackendError) as caught:
        remote.render(make_spec(), tmp_path, Progress())

    assert caught.value.code == "backend_not_configured"
    assert video_api.requests == []
    assert workdir_files(tmp_path) == []


def test_url_without_scheme_is_not_configured(remote, video_api, settings, tmp_path):
    settings.GENERATION_REMOTE_URL = "127.0.0.1:9"

    with pytest.raises(PermanentBackendError) as caught:
        remote.render(make_spec(), tmp_path, Progress())

    assert caught.value.code == "backend_not_configured"
    assert video_api.requests == []
