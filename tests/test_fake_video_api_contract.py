"""The fake of OpenAI's Videos API (tests/fakes/video_api.py), driven by the official `openai` SDK:
the SDK's own types parse every answer, and the fake refuses what the SDK's types (and so the
real API) refuse, with OpenAI's error body. If the SDK changes shape, this fails first."""

from __future__ import annotations

import io
import warnings

import openai
import pytest
from openai.types import Video, VideoDeleteResponse
from PIL import Image

from tests.fakes.video_api import FakeVideoAPI

KEY = "sk-contract"
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def api():
    with FakeVideoAPI(api_key=KEY, progress_step=100, fps=4) as server:
        yield server


@pytest.fixture
def client(api):
    with openai.OpenAI(api_key=KEY, base_url=f"{api.url}/v1", max_retries=0, timeout=10) as sdk:
        yield sdk


def finished(client, video: Video) -> Video:
    for _ in range(5):
        video = client.videos.retrieve(video.id)
        if video.status in ("completed", "failed"):
            return video
    raise AssertionError(video.status)


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_create_is_multipart_and_the_sdk_parses_every_state(client, api):
    video = client.videos.create(prompt="a fox", model="sora-2", seconds="4", size="1280x720")

    assert isinstance(video, Video)
    assert (video.status, video.model, video.seconds, video.size, video.progress) == ("queued", "sora-2", "4",
                                                                                      "1280x720", 0)
    assert api.requests[0].header("Content-Type").startswith("multipart/form-data; boundary=")
    assert api.requests[0].form == {"prompt": "a fox", "model": "sora-2", "seconds": "4", "size": "1280x720"}
    done = finished(client, video)
    assert (done.status, done.progress, done.error) == ("completed", 100, None)
    assert done.completed_at is not None and done.expires_at == done.completed_at + api.expires_in


def test_download_variants_are_the_right_media(client, api):
    video = finished(client, client.videos.create(prompt="a fox", seconds="4", size="720x1280"))

    mp4 = client.videos.download_content(video.id).read()
    thumbnail = client.videos.download_content(video.id, variant="thumbnail").read()
    sprites = client.videos.download_content(video.id, variant="spritesheet").read()

    assert mp4[4:8] == b"ftyp"
    assert thumbnail[:4] == b"RIFF" and thumbnail[8:12] == b"WEBP"
    assert sprites[:2] == b"\xff\xd8"
    assert [r.query.get("variant") for r in api.requests_to("GET", f"/v1/videos/{video.id}/content")] == [
        None, ["thumbnail"], ["spritesheet"]]


def test_image_input_must_match_the_size(client, api):
    ok = client.videos.create(prompt="a fox", size="720x1280", input_reference=("in.png", png(720, 1280), "image/png"))
    assert ok.status == "queued"

    with pytest.raises(openai.BadRequestError) as err:
        client.videos.create(prompt="a fox", size="720x1280", input_reference=("in.png", png(480, 854), "image/png"))
    assert (err.value.param, err.value.code) == ("input_reference", "invalid_value")
    assert len(api.jobs) == 1


def test_remix_keeps_the_source_settings_and_points_back(client, api):
    source = finished(client, client.videos.create(prompt="a fox", seconds="8", size="1280x720"))

    remix = client.videos.remix(source.id, prompt="the fox, in the rain")

    assert isinstance(remix, Video)
    assert (remix.remixed_from_video_id, remix.seconds, remix.size) == (source.id, "8", "1280x720")
    assert api.requests_to("POST", f"/v1/videos/{source.id}/remix")[0].json == {"prompt": "the fox, in the rain"}


def test_a_video_still_rendering_cannot_be_remixed(client, api):
    source = client.videos.create(prompt="a fox")

    with pytest.raises(openai.BadRequestError) as err:
        client.videos.remix(source.id, prompt="again")

    assert err.value.param == "video_id"
    assert len(api.jobs) == 1


def test_list_pages_with_the_sdk_cursor(client, api):
    made = [client.videos.create(prompt=f"fox {i}").id for i in range(3)]

    page = client.videos.list(limit=2, order="asc")
    every = [v.id for v in client.videos.list(limit=1, order="asc")]

    assert [v.id for v in page.data] == made[:2] and page.has_more is True and page.last_id == made[1]
    assert every == made


def test_delete_answers_the_sdk_type_and_the_video_is_gone(client, api):
    video = client.videos.create(prompt="a fox")

    deleted = client.videos.delete(video.id)

    assert isinstance(deleted, VideoDeleteResponse) and (deleted.id, deleted.deleted) == (video.id, True)
    with pytest.raises(openai.NotFoundError) as err:
        client.videos.retrieve(video.id)
    assert err.value.code == "video_not_found"


@pytest.mark.parametrize("fields, param", [
    ({"size": "480x854"}, "size"),
    ({"size": "1024x1792"}, "size"),  # sora-2-pro only
    ({"seconds": "5"}, "seconds"),
    ({"seconds": "2"}, "seconds"),
    ({"model": "sora-3"}, "model"),
])
def test_refuses_what_the_real_api_refuses_with_openais_error_body(client, api, fields, param):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(openai.BadRequestError) as err:
            client.videos.create(prompt="a fox", **fields)

    assert (err.value.status_code, err.value.param, err.value.code, err.value.type) == (
        400, param, "invalid_value", "invalid_request_error")
    assert set(err.value.body) == {"message", "type", "param", "code"}
    assert api.jobs == {}


def test_pro_takes_the_tall_sizes(client):
    video = client.videos.create(prompt="a fox", model="sora-2-pro", size="1024x1792", seconds="12")

    assert (video.model, video.size, video.seconds) == ("sora-2-pro", "1024x1792", "12")


def test_rate_limit_carries_retry_after_and_quota_is_insufficient_quota(client, api):
    api.retry_after = 2.5
    api.fail("create", 429)
    with pytest.raises(openai.RateLimitError) as limited:
        client.videos.create(prompt="a fox")
    assert (limited.value.response.headers["retry-after-ms"], limited.value.response.headers["retry-after"]) == (
        "2500", "2")

    api.quota_exhausted = True
    with pytest.raises(openai.RateLimitError) as quota:
        client.videos.create(prompt="a fox")
    assert (quota.value.code, quota.value.type) == ("insufficient_quota", "insufficient_quota")
    assert api.jobs == {}


def test_expired_content_is_a_404(client, api):
    video = finished(client, client.videos.create(prompt="a fox"))
    api.expire(video.id)

    with pytest.raises(openai.NotFoundError) as err:
        client.videos.download_content(video.id)

    assert err.value.code == "video_expired"


def test_a_wrong_key_is_an_authentication_error(api):
    with openai.OpenAI(api_key="sk-wrong", base_url=f"{api.url}/v1", max_retries=0) as sdk:
        with pytest.raises(openai.AuthenticationError) as err:
            sdk.videos.list()

    assert err.value.code == "invalid_api_key"
