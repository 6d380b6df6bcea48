"""The `openai` hosted backend, through the official SDK, against the fake of OpenAI's Videos API
(tests/fakes/video_api.py, itself checked against the SDK in tests/test_fake_video_api_contract.py)."""

from __future__ import annotations

import json
from io import BytesIO

import numpy as np
import pytest
from PIL import Image

from generation.backends import get_backend
from generation.backends.base import (
    JobCanceled,
    PermanentBackendError,
    ProviderQuotaExhausted,
    RenderParams,
    RenderSpec,
    TransientBackendError,
    UnsupportedRequest,
)
from generation.backends.hosted.errors import retry_after
from generation.backends.hosted.openai_videos import OpenAIVideosBackend
from generation.backends.media import generator_metadata, probe
from tests.fakes.video_api import FakeVideoAPI

API_KEY = "sk-test-remote"


@pytest.fixture
def video_api():
    with FakeVideoAPI(api_key=API_KEY, fps=4) as server:
        yield server


@pytest.fixture
def remote(settings, video_api):
    settings.GENERATION_REMOTE_URL = video_api.url
    settings.GENERATION_REMOTE_API_KEY = API_KEY
    settings.GENERATION_REMOTE_MODEL = "sora-2"
    settings.GENERATION_REMOTE_TIMEOUT = 5.0
    settings.GENERATION_REMOTE_POLL_INTERVAL = 0.01
    settings.GENERATION_REMOTE_MAX_WAIT = 10.0
    return OpenAIVideosBackend()


class Link:
    """Where the backend leaves the remote id (the worker's is generation.services.providers.RemoteJob)."""

    def __init__(self, remote_id: str = "") -> None:
        self.remote_id = remote_id
        self.recorded: list[str] = []
        self.forgotten: list[str] = []

    def record(self, remote_id, *, expires_at=None):
        self.remote_id = remote_id
        self.recorded.append(remote_id)

    def forget(self, *, reason):
        self.forgotten.append(reason)
        self.remote_id = ""


def make_spec(**overrides) -> RenderSpec:
    fields = dict(job_id="job-remote-1", kind="text_to_video", prompt="a red fox running through snow",
                  duration_seconds=4, width=480, height=854, fps=8, seed=7, watermark_text="@fox")
    fields.update(overrides)
    spec = RenderSpec(**fields)
    return RenderSpec(**{**fields, "metadata": generator_metadata(spec, "openai")})


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


def test_registry_maps_openai_and_the_old_remote_name_to_the_backend():
    assert isinstance(get_backend("openai"), OpenAIVideosBackend)
    assert isinstance(get_backend("remote"), OpenAIVideosBackend)


def test_text_to_video_asks_for_the_model_size_and_serves_the_paid_size(remote, video_api, tmp_path):
    link = Link()
    progress = Progress()

    output = remote.render(make_spec(style="cinematic", remote=link), tmp_path, progress)

    info = probe(output.video_path)
    assert (info.width, info.height, info.fps, info.frame_count) == (480, 854, 8.0, 32)
    assert (info.codec, info.pix_fmt) == ("h264", "yuv420p")
    assert json.loads(info.metadata["comment"])["backend"] == "openai"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["poster.jpg", "video.mp4"]
    (job,) = video_api.jobs.values()
    assert link.recorded == [job.id]
    assert paths(video_api) == [("POST", "/v1/videos"), ("GET", f"/v1/videos/{job.id}"),
                                ("GET", f"/v1/videos/{job.id}"), ("GET", f"/v1/videos/{job.id}/content")]
    create = video_api.requests[0]
    # The SDK sends multipart even without a file; the size is the model's, 9:16 like 480x854.
    assert create.header("Content-Type").startswith("multipart/form-data")
    assert create.form == {"model": "sora-2", "prompt": "a red fox running through snow\n\nStyle: cinematic",
                           "seconds": "4", "size": "720x1280"}
    assert create.header("Idempotency-Key") is None
    assert video_api.requests[-1].query == {"variant": ["video"]}
    assert progress.values[-1] == 1.0 and progress.values == sorted(progress.values)


def test_a_stored_remote_id_is_polled_not_created_again(remote, video_api, tmp_path):
    first, second_dir = Link(), tmp_path / "b"
    second_dir.mkdir()
    remote.render(make_spec(remote=first), tmp_path, Progress())
    second = Link(first.remote_id)

    remote.render(make_spec(remote=second), second_dir, Progress())

    assert len(video_api.creates) == 1
    assert second.recorded == []
    assert paths(video_api)[-2:] == [("GET", f"/v1/videos/{first.remote_id}"),
                                     ("GET", f"/v1/videos/{first.remote_id}/content")]


def test_a_remote_id_the_provider_no_longer_knows_is_created_again(remote, video_api, tmp_path):
    link = Link("video_gone")

    remote.render(make_spec(remote=link), tmp_path, Progress())

    assert link.forgotten == ["remote_gone"]
    assert len(video_api.creates) == 1 and link.recorded == [next(iter(video_api.jobs))]


def test_image_to_video_sends_the_image_fitted_to_the_model_size(remote, video_api, tmp_path):
    image_path = tmp_path / "still.png"
    Image.new("RGB", (320, 240), (220, 20, 30)).save(image_path)
    workdir = tmp_path / "work"
    workdir.mkdir()

    output = remote.render(make_spec(kind="image_to_video", image_path=image_path, watermark_text=None), workdir,
                           Progress())

    create = video_api.requests[0]
    assert create.form["size"] == "720x1280"
    filename, content_type, data = create.files["input_reference"]
    assert (filename, content_type) == ("input_reference.jpg", "image/jpeg")
    with Image.open(BytesIO(data)) as sent:
        assert sent.size == (720, 1280)
    with Image.open(output.poster_path) as poster:
        red, green, blue = np.asarray(poster.convert("RGB"), dtype=np.float32).mean(axis=(0, 1))
    assert red > 190 and green < 50 and blue < 60
    assert sorted(p.name for p in workdir.iterdir()) == ["poster.jpg", "video.mp4"]


def test_remix_of_a_video_the_provider_made_goes_through_its_remix_endpoint(remote, video_api, tmp_path):
    source = Link()
    (tmp_path / "a").mkdir()
    remote.render(make_spec(remote=source), tmp_path / "a", Progress())
    (tmp_path / "b").mkdir()
    link = Link()

    remote.render(make_spec(kind="remix", prompt="now in the rain", remote=link, source_remote_id=source.remote_id),
                  tmp_path / "b", Progress())

    remix = video_api.requests_to("POST", f"/v1/videos/{source.remote_id}/remix")
    assert [r.json for r in remix] == [{"prompt": "now in the rain"}]
    assert video_api.jobs[link.remote_id].remixed_from_video_id == source.remote_id
    assert len(video_api.creates) == 2


def test_remix_without_a_remote_source_is_image_to_video_from_its_first_frame(remote, video_api, tmp_path):
    (tmp_path / "a").mkdir()
    src = remote.render(make_spec(), tmp_path / "a", Progress())
    (tmp_path / "b").mkdir()

    remote.render(make_spec(kind="remix", prompt="again", source_video_path=src.video_path), tmp_path / "b",
                  Progress())

    second = video_api.requests_to("POST", "/v1/videos")[1]
    assert list(second.files) == ["input_reference"] and second.form["size"] == "720x1280"


def test_check_maps_or_refuses_by_the_capability_table(remote, settings):
    params = dict(kind="text_to_video", prompt="p", duration_seconds=4)

    assert remote.check(RenderParams(**params, width=480, height=854)) == RenderParams(**params, width=480, height=854)
    for size, duration, code in [((480, 480), 4, "size_not_supported"), ((1080, 1920), 4, "size_not_supported"),
                                 ((480, 854), 5, "duration_not_supported")]:
        with pytest.raises(UnsupportedRequest) as err:
            remote.check(RenderParams(**{**params, "duration_seconds": duration}, width=size[0], height=size[1]))
        assert err.value.code == code
    settings.GENERATION_REMOTE_MODEL = "sora-2-pro"
    with pytest.raises(UnsupportedRequest):  # 1024x1792 is narrower than 1080
        remote.check(RenderParams(**params, width=1080, height=1920))


@pytest.mark.parametrize("status", [429, 503, 502])
def test_transient_create_answers_create_nothing_and_carry_retry_after(remote, video_api, tmp_path, status):
    video_api.retry_after = 7.25
    video_api.fail("create", status)
    link = Link()

    with pytest.raises(TransientBackendError) as err:
        remote.render(make_spec(remote=link), tmp_path, Progress())

    assert err.value.retry_after == (7.25 if status == 429 else None)
    assert err.value.code == ("backend_rate_limited" if status == 429 else "backend_unavailable")
    assert video_api.jobs == {} and link.recorded == []


def test_quota_exhaustion_is_its_own_permanent_error(remote, video_api, tmp_path):
    video_api.quota_exhausted = True

    with pytest.raises(ProviderQuotaExhausted) as err:
        remote.render(make_spec(), tmp_path, Progress())

    assert err.value.code == "provider_quota_exhausted"
    assert video_api.jobs == {}


def test_content_expired_before_download_is_permanent(remote, video_api, tmp_path, monkeypatch):
    video_api.expires_in = -1  # gone the moment it is done
    with pytest.raises(PermanentBackendError) as err:
        remote.render(make_spec(), tmp_path, Progress())

    assert err.value.code == "remote_content_expired"
    assert video_api.requests_to("GET", f"/v1/videos/{next(iter(video_api.jobs))}/content") == []


def test_moderation_rejection_and_remote_failure_are_permanent(remote, video_api, tmp_path):
    with pytest.raises(PermanentBackendError) as rejected:
        remote.render(make_spec(prompt="x [reject]"), tmp_path, Progress())
    with pytest.raises(PermanentBackendError) as failed:
        remote.render(make_spec(prompt="x [fail]"), tmp_path, Progress())
    with pytest.raises(PermanentBackendError) as flagged:
        remote.render(make_spec(prompt="x [flagged]"), tmp_path, Progress())

    assert (rejected.value.code, failed.value.code, flagged.value.code) == (
        "backend_rejected", "backend_failed", "backend_rejected")
    assert str(failed.value) == "The model could not render this prompt."


def test_stalled_job_times_out_transient_and_is_left_running(remote, video_api, settings, tmp_path):
    settings.GENERATION_REMOTE_MAX_WAIT = 0.2

    with pytest.raises(TransientBackendError) as err:
        remote.render(make_spec(prompt="x [stall]"), tmp_path, Progress())

    assert err.value.code == "backend_timeout"
    assert video_api.requests_to("DELETE") == []


def test_polls_failing_in_a_row_give_up_but_a_few_are_tolerated(remote, video_api, tmp_path):
    video_api.fail("retrieve", 502, 503)
    remote.render(make_spec(), tmp_path, Progress())
    video_api.fail("retrieve", 502, 502, 502)

    with pytest.raises(TransientBackendError):
        remote.render(make_spec(), tmp_path, Progress())


def test_truncated_download_is_transient(remote, video_api, tmp_path):
    video_api.truncate_content = True

    with pytest.raises(TransientBackendError):
        remote.render(make_spec(), tmp_path, Progress())


def test_wrong_api_key_is_an_auth_failure(remote, video_api, settings, tmp_path):
    settings.GENERATION_REMOTE_API_KEY = "sk-wrong"

    with pytest.raises(PermanentBackendError) as err:
        remote.render(make_spec(), tmp_path, Progress())

    assert err.value.code == "backend_auth_failed" and video_api.jobs == {}


def test_cancel_during_polling_deletes_the_remote_job(remote, video_api, tmp_path):
    with pytest.raises(JobCanceled):
        remote.render(make_spec(), tmp_path, Progress(cancel_at_call=1))

    (job,) = video_api.jobs.values()
    assert paths(video_api) == [("POST", "/v1/videos"), ("DELETE", f"/v1/videos/{job.id}")]
    assert job.deleted


def test_unset_url_is_not_configured(remote, video_api, settings, tmp_path):
    settings.GENERATION_REMOTE_URL = "127.0.0.1:9"

    with pytest.raises(PermanentBackendError) as err:
        remote.render(make_spec(), tmp_path, Progress())

    assert err.value.code == "backend_not_configured" and video_api.requests == []


def test_retry_after_reads_milliseconds_first_then_seconds_then_dates():
    assert retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert retry_after({"retry-after": "9"}) == 9.0
    assert retry_after({"retry-after": "Thu, 01 Jan 1970 00:00:00 GMT"}) == 0.0
    assert retry_after({}) is None


def test_a_job_the_configured_model_no_longer_renders_fails_permanently(remote, video_api, settings, tmp_path):
    settings.GENERATION_REMOTE_MODEL = "sora-2"

    with pytest.raises(PermanentBackendError) as err:
        remote.render(make_spec(width=1080, height=1920), tmp_path, Progress())
    settings.GENERATION_REMOTE_MODEL = "sora-9"
    with pytest.raises(PermanentBackendError) as unknown:
        remote.render(make_spec(), tmp_path, Progress())

    assert (err.value.code, unknown.value.code) == ("size_not_supported", "model_not_supported")
    assert video_api.requests == []
