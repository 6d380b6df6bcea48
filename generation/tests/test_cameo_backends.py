"""Cameo media on the backends that cannot draw a stand-in: hosted providers get the cameo's
reference frame as their input reference image, diffusers as its image-to-video starting image,
and a backend that has no way to show a person refuses the cameo at submit."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from billing.selectors import credit_balance
from config.errors import ApplicationError
from generation import services
from generation.backends.base import PermanentBackendError, RenderParams, RenderSpec, UnsupportedRequest
from generation.backends.diffusers import DiffusersBackend
from generation.backends.hosted.capabilities import capability, check_params
from generation.backends.hosted.openai_videos import OpenAIVideosBackend
from generation.backends.media import generator_metadata
from generation.models import GenerationJob
from tests.fakes.video_api import FakeVideoAPI

API_KEY = "sk-test-remote"


def red_reference(tmp_path: Path) -> Path:
    path = tmp_path / "cameo-reference.jpg"
    Image.new("RGB", (320, 240), (230, 20, 25)).save(path, format="JPEG")
    return path


def params(**overrides) -> RenderParams:
    fields = dict(kind="text_to_video", prompt="a walk on the beach", duration_seconds=4, width=480, height=854)
    fields.update(overrides)
    return RenderParams(**fields)


@pytest.fixture
def remote(settings):
    with FakeVideoAPI(api_key=API_KEY, fps=4) as server:
        settings.GENERATION_REMOTE_URL = server.url
        settings.GENERATION_REMOTE_API_KEY = API_KEY
        settings.GENERATION_REMOTE_MODEL = "sora-2"
        settings.GENERATION_REMOTE_POLL_INTERVAL = 0.01
        yield OpenAIVideosBackend(), server


def test_a_hosted_text_to_video_with_a_cameo_sends_its_reference_as_the_input_reference(remote, tmp_path):
    backend, server = remote
    workdir = tmp_path / "work"
    workdir.mkdir()
    spec = RenderSpec(job_id="job-cameo", kind="text_to_video", prompt="a walk on the beach", duration_seconds=4,
                      width=480, height=854, fps=8, seed=3, cameo_image_paths=(red_reference(tmp_path),),
                      cameo_names=("Ada",))
    spec = RenderSpec(**{**spec.__dict__, "metadata": generator_metadata(spec, "openai")})

    output = backend.render(spec, workdir, lambda fraction: None)

    create = server.requests[0]
    filename, content_type, data = create.files["input_reference"]
    assert (filename, content_type) == ("input_reference.jpg", "image/jpeg")
    with Image.open(BytesIO(data)) as sent:
        assert sent.size == (720, 1280)  # the provider's size, as its API requires of a reference
        red, green, blue = np.asarray(sent.convert("RGB"), dtype=np.float32).mean(axis=(0, 1))
    assert red > 190 and green < 60 and blue < 60
    with Image.open(output.poster_path) as poster:
        assert np.asarray(poster.convert("RGB"), dtype=np.float32)[..., 0].mean() > 150  # the clip shows it


def test_a_hosted_text_to_video_without_cameos_sends_no_reference(remote, tmp_path):
    backend, server = remote
    spec = RenderSpec(job_id="job-plain", kind="text_to_video", prompt="a walk on the beach", duration_seconds=4,
                      width=480, height=854, fps=8, seed=3)

    backend.render(RenderSpec(**{**spec.__dict__, "metadata": generator_metadata(spec, "openai")}), tmp_path,
                   lambda fraction: None)

    assert "input_reference" not in server.requests[0].files


@pytest.mark.parametrize(("provider", "model"), [("openai", "sora-2"), ("runway", "gen4.5"),
                                                 ("veo", "veo-3.1-generate-001"), ("replicate", None)])
def test_hosted_check_takes_one_cameo_and_refuses_two_or_one_beside_an_image(provider, model):
    from generation.backends.hosted.capabilities import CAPABILITIES

    cap = capability(provider, model or next(iter(CAPABILITIES[provider])))
    wide = params(width=1280, height=720)

    assert check_params(cap, wide) == wide
    assert check_params(cap, params(width=1280, height=720, cameo_count=1)).cameo_count == 1
    for refused in (params(width=1280, height=720, cameo_count=2),
                    params(width=1280, height=720, kind="image_to_video", cameo_count=1)):
        with pytest.raises(UnsupportedRequest) as caught:
            check_params(cap, refused)
        assert (caught.value.code, caught.value.field) == ("cameos_not_supported", "cameo_ids")


@pytest.mark.parametrize(("pipeline", "takes_cameo"), [("WanPipeline", False), ("HunyuanVideoPipeline", False),
                                                       ("LTXPipeline", True), ("WanImageToVideoPipeline", True)])
def test_diffusers_check_takes_a_cameo_only_where_the_model_starts_from_an_image(settings, pipeline, takes_cameo):
    settings.GENERATION_MODEL_DIR = ""
    settings.GENERATION_MODEL_CLASS = pipeline
    wanted = params(width=832, height=480, cameo_count=1)

    if takes_cameo:
        assert DiffusersBackend().check(wanted) == wanted
    else:
        with pytest.raises(UnsupportedRequest) as caught:
            DiffusersBackend().check(wanted)
        assert (caught.value.code, caught.value.field) == ("cameos_not_supported", "cameo_ids")
    with pytest.raises(UnsupportedRequest) as caught:
        DiffusersBackend().check(params(width=832, height=480, cameo_count=2))
    assert caught.value.code == "cameos_not_supported"


@pytest.mark.django_db(transaction=True)
def test_a_submit_with_a_cameo_the_backend_cannot_show_is_refused_and_changes_nothing(settings, sent_tasks):
    from accounts.tests.factories import UserFactory
    from tests.test_cameos import verified_cameo

    settings.CREDITS_SIGNUP_GRANT = 100
    settings.GENERATION_BACKEND = "diffusers"
    settings.GENERATION_MODEL_DIR = ""
    settings.GENERATION_MODEL_CLASS = "WanPipeline"
    user = UserFactory()
    cameo = verified_cameo(user)
    before = credit_balance(user_id=user.pk).available

    with pytest.raises(ApplicationError) as caught:
        services.generation_submit(user=user, kind="text_to_video", prompt="a walk on the beach",
                                   duration_seconds=4, size="832x480", cameo_ids=[cameo.pk])

    assert caught.value.code == "cameos_not_supported"
    assert "cameo_ids" in caught.value.fields
    assert GenerationJob.objects.count() == 0
    assert credit_balance(user_id=user.pk).available == before
    assert sent_tasks == []

    job, created = services.generation_submit(user=user, kind="text_to_video", prompt="a walk on the beach",
                                              duration_seconds=4, size="832x480")
    assert created and job.backend == "diffusers"  # the same request without the cameo is taken


def test_diffusers_renders_a_cameo_text_to_video_from_the_cameo_reference_as_its_start(settings, tiny_model,
                                                                                      tmp_path):
    # Wan I2V renders only from a starting image: a text job with a cameo renders at all only if
    # the cameo's reference frame reached the pipeline as that image.
    from generation.tests.test_diffusers_families import render_and_check, spec_for, use

    use(settings, tiny_model("wan22_i2v"), "wan22_i2v")
    spec = spec_for("720x720")
    cameo_spec = RenderSpec(**{**spec.__dict__, "cameo_image_paths": (red_reference(tmp_path),),
                               "cameo_names": ("Ada",)})

    assert DiffusersBackend().check(params(width=720, height=720, cameo_count=1)).cameo_count == 1
    render_and_check(cameo_spec, tmp_path / "work")
    (tmp_path / "plain").mkdir()
    with pytest.raises(PermanentBackendError) as caught:
        DiffusersBackend().render(spec, tmp_path / "plain", lambda fraction: None)
    assert caught.value.code == "image_required"
    assert list((tmp_path / "plain").iterdir()) == []
