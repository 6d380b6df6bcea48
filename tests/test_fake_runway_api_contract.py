"""The fake of Runway's API (tests/fakes/runway_api.py), driven by the official `runwayml` SDK:
the SDK's own types parse every answer, and the fake refuses what the SDK's types document."""

from __future__ import annotations

import base64
import io

import httpx
import pytest
import runwayml
from PIL import Image
from runwayml.types import task_retrieve_response as task_types

from tests.fakes.runway_api import FakeRunwayAPI

KEY = "key_contract"


@pytest.fixture
def api():
    with FakeRunwayAPI(api_key=KEY, progress_step=0.5, fps=4) as server:
        yield server


@pytest.fixture
def client(api):
    with runwayml.RunwayML(api_key=KEY, base_url=api.url, max_retries=0, timeout=10) as sdk:
        yield sdk


def data_uri(width=1280, height=720) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (20, 40, 200)).save(buffer, format="JPEG")
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


def test_text_to_video_task_goes_through_the_sdk_types(client, api):
    created = client.text_to_video.create(model="gen4.5", prompt_text="a fox", ratio="720:1280", duration=4)

    assert created.estimated_cost.credits == 48
    assert api.requests[0].json == {"model": "gen4.5", "promptText": "a fox", "ratio": "720:1280", "duration": 4}
    assert api.requests[0].header("X-Runway-Version") == "2024-11-06"
    pending = client.tasks.retrieve(created.id)
    assert isinstance(pending, task_types.Running) and pending.progress == 0.5
    done = client.tasks.retrieve(created.id)
    assert isinstance(done, task_types.Succeeded) and done.cost.credits == 48
    clip = httpx.get(done.output[0])
    assert clip.status_code == 200 and clip.content[4:8] == b"ftyp"


def test_image_to_video_takes_a_data_uri(client, api):
    created = client.image_to_video.create(model="gen4.5", prompt_image=data_uri(), prompt_text="waves",
                                           ratio="1280:720", duration=8)

    assert api.tasks[created.id].prompt_image[:2] == b"\xff\xd8"


@pytest.mark.parametrize("fields, path", [
    ({"ratio": "480:854"}, "ratio"),
    ({"duration": 12}, "duration"),
    ({"model": "gen5"}, "model"),
    ({"prompt_text": "x" * 1001}, "promptText"),
])
def test_refuses_what_the_sdk_types_refuse(client, api, fields, path):
    params = {"model": "gen4.5", "prompt_text": "a fox", "ratio": "720:1280", "duration": 4, **fields}

    with pytest.raises(runwayml.BadRequestError) as err:
        client.text_to_video.create(**params)

    assert err.value.body["error"] == "Validation of body failed"
    assert [issue["path"] for issue in err.value.body["issues"]] == [[path]]
    assert api.tasks == {}


def test_failed_task_carries_failure_code(client, api):
    created = client.text_to_video.create(model="gen4.5", prompt_text="x [reject]", ratio="720:1280", duration=4)

    failed = client.tasks.retrieve(created.id)  # fails on its first step

    assert isinstance(failed, task_types.Failed) and failed.failure_code == "SAFETY.INPUT.TEXT"


def test_output_urls_expire_and_a_fresh_retrieve_gives_working_ones(client, api):
    api.url_ttl = -1
    created = client.text_to_video.create(model="gen4.5", prompt_text="a fox", ratio="720:1280", duration=4)
    client.tasks.retrieve(created.id)
    client.tasks.retrieve(created.id)
    stale = client.tasks.retrieve(created.id).output[0]
    assert httpx.get(stale).status_code == 403

    api.url_ttl = 60
    assert httpx.get(client.tasks.retrieve(created.id).output[0]).status_code == 200


def test_delete_answers_204_and_the_task_is_gone(client, api):
    created = client.text_to_video.create(model="gen4.5", prompt_text="a fox", ratio="720:1280", duration=4)

    assert client.tasks.delete(created.id) is None
    with pytest.raises(runwayml.NotFoundError):
        client.tasks.retrieve(created.id)


def test_rate_limit_credits_and_key(client, api):
    api.fail("create", 429)
    with pytest.raises(runwayml.RateLimitError) as limited:
        client.text_to_video.create(model="gen4.5", prompt_text="a fox", ratio="720:1280", duration=4)
    assert limited.value.response.headers["retry-after"] == "2"

    api.credits_exhausted = True
    with pytest.raises(runwayml.BadRequestError) as credits:
        client.text_to_video.create(model="gen4.5", prompt_text="a fox", ratio="720:1280", duration=4)
    assert "enough credits" in credits.value.body["error"]

    with runwayml.RunwayML(api_key="key_wrong", base_url=api.url, max_retries=0) as wrong:
        with pytest.raises(runwayml.AuthenticationError):
            wrong.tasks.retrieve("00000000-0000-0000-0000-000000000000")
