"""The fake of Replicate's predictions API (tests/fakes/replicate_api.py), driven by the official
`replicate` SDK: its Prediction type parses every answer, its progress parses the logs, and the
fake refuses what the model pages say the models refuse, as problem details."""

from __future__ import annotations

import httpx
import pytest
import replicate
from replicate.exceptions import ReplicateError
from replicate.prediction import Prediction

from tests.fakes.replicate_api import FakeReplicateAPI

TOKEN = "r8_contract"
MODEL = "wan-video/wan-2.5-t2v"


@pytest.fixture
def api():
    with FakeReplicateAPI(token=TOKEN, fps=4) as server:
        yield server


@pytest.fixture
def client(api):
    # The SDK's transport retries GETs on 429/503/504 in place, sleeping Retry-After; a mount
    # of a plain transport (httpx's own option, passed through the SDK) turns that off.
    return replicate.Client(api_token=TOKEN, base_url=api.url, mounts={"all://": httpx.HTTPTransport()})


def test_a_prediction_goes_through_the_sdk_types_to_an_output_url(client, api):
    created = client.models.predictions.create(model=MODEL, input={"prompt": "a fox", "size": "720*1280",
                                                                    "duration": 5})

    assert isinstance(created, Prediction) and created.status == "starting"
    assert api.requests[0].path == f"/v1/models/{MODEL}/predictions"
    assert api.requests[0].json == {"input": {"prompt": "a fox", "size": "720*1280", "duration": 5}}
    running = client.predictions.get(created.id)
    assert running.status == "processing" and running.progress.percentage == 0.5
    done = client.predictions.get(created.id)
    assert done.status == "succeeded" and done.completed_at
    clip = httpx.get(done.output)
    assert clip.status_code == 200 and clip.content[4:8] == b"ftyp"


@pytest.mark.parametrize("inputs, fragment", [({"size": "480*854"}, "size must be"), ({"duration": 4}, "duration"),
                                              ({"prompt": ""}, "prompt is required")])
def test_refuses_what_the_model_refuses_as_problem_details(client, api, inputs, fragment):
    with pytest.raises(ReplicateError) as err:
        client.models.predictions.create(model=MODEL, input={"prompt": "a fox", "duration": 5, **inputs})

    assert err.value.status == 422 and fragment in err.value.detail
    assert api.predictions == {}


def test_unknown_model_spend_limit_rate_limit_and_token(client, api):
    with pytest.raises(ReplicateError) as unknown:
        client.models.predictions.create(model="someone/nothing", input={"prompt": "x"})
    api.spend_limit_reached = True
    with pytest.raises(ReplicateError) as spend:
        client.models.predictions.create(model=MODEL, input={"prompt": "x"})
    api.spend_limit_reached = False
    created = client.models.predictions.create(model=MODEL, input={"prompt": "x"})
    api.fail("get", 429)
    with pytest.raises(ReplicateError) as limited:
        client.predictions.get(created.id)
    assert len(api.requests_to_get(created.id)) == 1  # the SDK did not retry the 429 in place
    wrong = replicate.Client(api_token="r8_wrong", base_url=api.url, mounts={"all://": httpx.HTTPTransport()})
    with pytest.raises(ReplicateError) as token:
        wrong.predictions.get(created.id)

    assert (unknown.value.status, spend.value.status, limited.value.status, token.value.status) == (404, 402, 429,
                                                                                                   401)


def test_cancel_failed_and_expired_output(client, api):
    stalled = client.models.predictions.create(model=MODEL, input={"prompt": "x [stall]"})
    assert client.predictions.cancel(stalled.id).status == "canceled"
    failed = client.models.predictions.create(model=MODEL, input={"prompt": "x [reject]"})
    client.predictions.get(failed.id)
    assert client.predictions.get(failed.id).error.startswith("NSFW")

    api.output_ttl = -1
    done = client.models.predictions.create(model=MODEL, input={"prompt": "x"})
    client.predictions.get(done.id)
    assert httpx.get(client.predictions.get(done.id).output).status_code == 404
