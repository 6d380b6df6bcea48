"""The fake of Veo on Vertex AI (tests/fakes/veo_api.py), driven by the official `google-genai`
SDK in express mode (API key): its long-running operation types parse every answer, and the fake
refuses what Google documents Veo refuses, with Google's error body."""

from __future__ import annotations

import pytest
from google import genai
from google.genai import errors, types

from tests.fakes.veo_api import FakeVeoAPI

KEY = "veo-contract"


@pytest.fixture
def api():
    with FakeVeoAPI(api_key=KEY, fps=4) as server:
        yield server


@pytest.fixture
def client(api):
    return genai.Client(vertexai=True, api_key=KEY, http_options=types.HttpOptions(base_url=api.url, api_version="v1"))


def generate(client, *, model="veo-3.1-generate-001", prompt="a fox", image=None, **config):
    config = {"aspect_ratio": "9:16", "duration_seconds": 4, "resolution": "720p", "number_of_videos": 1, **config}
    return client.models.generate_videos(model=model, source=types.GenerateVideosSource(prompt=prompt, image=image),
                                         config=types.GenerateVideosConfig(**config))


def test_text_to_video_is_a_long_running_operation_with_the_video_inline(client, api):
    operation = generate(client)

    assert isinstance(operation, types.GenerateVideosOperation) and not operation.done
    assert api.requests[0].path == "/v1/publishers/google/models/veo-3.1-generate-001:predictLongRunning"
    assert api.requests[0].json == {"instances": [{"prompt": "a fox"}], "parameters": {
        "sampleCount": 1, "durationSeconds": 4, "aspectRatio": "9:16", "resolution": "720p"}}
    first = client.operations.get(operation)
    done = client.operations.get(first)

    assert first.done is None and done.done is True and done.error is None
    video = done.result.generated_videos[0].video
    assert video.mime_type == "video/mp4" and video.video_bytes[4:8] == b"ftyp"
    assert api.requests[-1].path.endswith("/models/veo-3.1-generate-001:fetchPredictOperation")


def test_an_operation_is_found_again_by_its_name_alone(client, api):
    name = generate(client).name

    client.operations.get(types.GenerateVideosOperation(name=name))
    done = client.operations.get(types.GenerateVideosOperation(name=name))

    assert done.done and done.result.generated_videos


def test_image_to_video_sends_the_bytes_base64(client, api):
    generate(client, image=types.Image(image_bytes=b"\xff\xd8\xffjpeg", mime_type="image/jpeg"))

    image = api.requests[0].json["instances"][0]["image"]
    assert image == {"bytesBase64Encoded": "/9j/anBlZw==", "mimeType": "image/jpeg"}


@pytest.mark.parametrize("config, status", [({"duration_seconds": 5}, 400), ({"duration_seconds": 12}, 400),
                                            ({"aspect_ratio": "1:1"}, 400), ({"resolution": "4k"}, 400)])
def test_refuses_what_veo_refuses_with_googles_error_body(client, api, config, status):
    with pytest.raises(errors.ClientError) as err:
        generate(client, **config)

    assert (err.value.code, err.value.status) == (status, "INVALID_ARGUMENT")
    assert set(err.value.details["error"]) == {"code", "message", "status"}
    assert api.operations == {}


def test_unknown_model_is_not_found(client, api):
    with pytest.raises(errors.ClientError) as err:
        generate(client, model="veo-9")
    assert (err.value.code, err.value.status) == (404, "NOT_FOUND")


def test_filtered_output_and_failed_operation(client, api):
    filtered = client.operations.get(client.operations.get(generate(client, prompt="x [reject]")))
    failed = client.operations.get(client.operations.get(generate(client, prompt="x [fail]")))

    assert filtered.result.rai_media_filtered_count == 1 and not filtered.result.generated_videos
    assert filtered.result.rai_media_filtered_reasons[0].startswith("The prompt could not be submitted")
    assert failed.error == {"code": 13, "message": "Video generation failed due to an internal error."}


def test_rate_limit_has_retry_info_and_billing_disabled_is_permission_denied(client, api):
    api.fail("create", 429)
    with pytest.raises(errors.ClientError) as limited:
        generate(client)
    assert limited.value.status == "RESOURCE_EXHAUSTED"
    assert limited.value.details["error"]["details"][0]["retryDelay"] == "3s"

    api.billing_disabled = True
    with pytest.raises(errors.ClientError) as billing:
        generate(client)
    assert (billing.value.code, billing.value.details["error"]["details"][0]["reason"]) == (403, "BILLING_DISABLED")


def test_a_wrong_key_and_a_forgotten_operation(client, api):
    name = generate(client).name
    api.forget(name)
    with pytest.raises(errors.ClientError) as gone:
        client.operations.get(types.GenerateVideosOperation(name=name))
    assert gone.value.code == 404

    wrong = genai.Client(vertexai=True, api_key="nope", http_options=types.HttpOptions(base_url=api.url,
                                                                                      api_version="v1"))
    with pytest.raises(errors.ClientError) as err:
        generate(wrong)
    assert (err.value.code, err.value.status) == (401, "UNAUTHENTICATED")
