"""The diffusers backend, end to end on a tiny randomly-initialised pipeline.

The pipeline is built from configs and saved with save_pretrained, so the test
exercises the real loading path (model_index.json, local files only) without a
download. Its weights are random: the frames are noise, but they are real
diffusion output, decoded by a real VAE and encoded to a real MP4.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from generation.backends import JobCanceled, PermanentBackendError, RenderSpec, get_backend
from generation.backends.diffusers import DiffusersBackend
from generation.backends.diffusers.plan import RenderPlan, frame_indices
from generation.backends.media import generator_metadata, probe, read_frames
from generation.tests.tiny_pipelines import write_clip_tokenizer_files

STEPS = 2


def _tiny_shared_parts(root: Path) -> dict:
    """The text encoder, tokenizer, VAE and scheduler of a Stable-Diffusion-family video pipeline, tiny."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    write_clip_tokenizer_files(root / "tokenizer-src")
    tokenizer = CLIPTokenizer.from_pretrained(str(root / "tokenizer-src"), model_max_length=77, local_files_only=True)
    torch.manual_seed(0)
    vae = AutoencoderKL(
        block_out_channels=[8, 8], in_channels=3, out_channels=3, latent_channels=4, layers_per_block=1,
        down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
        sample_size=64, norm_num_groups=4,
    )
    text_encoder = CLIPTextModel(CLIPTextConfig(
        bos_token_id=0, eos_token_id=1, pad_token_id=1, vocab_size=len(tokenizer), hidden_size=8,
        intermediate_size=16, num_attention_heads=2, num_hidden_layers=2, max_position_embeddings=77,
        projection_dim=8,
    ))
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              clip_sample=False, set_alpha_to_one=False)
    return {"vae": vae, "text_encoder": text_encoder, "tokenizer": tokenizer, "scheduler": scheduler}


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A TextToVideoSDPipeline (ModelScope-style): reports steps through the older `callback`."""
    from diffusers import TextToVideoSDPipeline, UNet3DConditionModel

    root = tmp_path_factory.mktemp("tiny-t2v")
    parts = _tiny_shared_parts(root)
    unet = UNet3DConditionModel(
        block_out_channels=(8, 16), layers_per_block=1, sample_size=32, in_channels=4, out_channels=4,
        down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"), up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"),
        cross_attention_dim=8, attention_head_dim=4, norm_num_groups=4,
    )
    model_dir = root / "model"
    TextToVideoSDPipeline(unet=unet, **parts).save_pretrained(str(model_dir))
    return model_dir


@pytest.fixture(scope="module")
def tiny_animatediff_dir(tmp_path_factory) -> Path:
    """An AnimateDiffPipeline: reports steps through `callback_on_step_end`, like current video pipelines."""
    from diffusers import AnimateDiffPipeline, MotionAdapter, UNet2DConditionModel

    root = tmp_path_factory.mktemp("tiny-animatediff")
    parts = _tiny_shared_parts(root)
    unet = UNet2DConditionModel(
        block_out_channels=(8, 16), layers_per_block=1, sample_size=32, in_channels=4, out_channels=4,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=8, attention_head_dim=4, norm_num_groups=4,
    )
    adapter = MotionAdapter(block_out_channels=(8, 16), motion_layers_per_block=1, motion_norm_num_groups=4,
                            motion_num_attention_heads=2, motion_max_seq_length=32)
    model_dir = root / "model"
    AnimateDiffPipeline(unet=unet, motion_adapter=adapter, **parts).save_pretrained(str(model_dir))
    return model_dir


@pytest.fixture
def model_settings(settings, tiny_model_dir):
    settings.GENERATION_MODEL_DIR = str(tiny_model_dir)
    settings.GENERATION_INFERENCE_STEPS = STEPS
    return settings


def make_spec(**overrides) -> RenderSpec:
    fields = dict(job_id="job-1", kind="text_to_video", prompt="a cat surfing at dawn", duration_seconds=1,
                  width=64, height=64, fps=8, seed=1234)
    fields.update(overrides)
    spec = RenderSpec(**fields)
    return RenderSpec(**{**fields, "metadata": generator_metadata(spec, "diffusers")})


def render(spec: RenderSpec, workdir: Path, progress=None):
    workdir.mkdir(parents=True, exist_ok=True)
    calls: list[float] = []

    def record(fraction: float) -> None:
        calls.append(fraction)
        if progress is not None:
            progress(fraction)

    output = get_backend("diffusers").render(spec, workdir, record)
    return output, calls


def first_frame(path: Path, width: int, height: int) -> np.ndarray:
    return next(iter(read_frames(path, width, height)))


def test_registry_resolves_the_diffusers_backend():
    backend = get_backend("diffusers")

    assert isinstance(backend, DiffusersBackend)
    assert backend.name == "diffusers"


def test_renders_an_h264_mp4_and_poster_with_step_progress(model_settings, tmp_path):
    spec = make_spec()

    output, calls = render(spec, tmp_path / "job")

    assert output.video_path == tmp_path / "job" / "video.mp4"
    assert output.poster_path == tmp_path / "job" / "poster.jpg"
    info = probe(output.video_path)
    assert (info.width, info.height) == (64, 64)
    assert info.frame_count == 8
    assert info.fps == 8.0
    assert info.duration_seconds == 1.0
    assert info.codec == "h264"
    assert info.pix_fmt == "yuv420p"
    assert info.metadata["title"] == "a cat surfing at dawn"
    assert json.loads(info.metadata["comment"]) == {"generator": "clipsocial", "backend": "diffusers",
                                                    "job": "job-1", "seed": 1234}
    with Image.open(output.poster_path) as poster:
        assert poster.format == "JPEG"
        assert poster.size == (64, 64)
    # Two heartbeats around loading, one call per denoising step up to 90%, then per encoded frame to 100%.
    assert calls == pytest.approx([0.0, 0.0, 0.45, 0.9] + [0.9 + 0.1 * (i + 1) / 8 for i in range(8)])
    assert calls == sorted(calls)
    assert calls[-1] == 1.0
    # Random weights still give a picture with some variation, not a blank frame.
    assert first_frame(output.video_path, 64, 64).std() > 1.0


def test_pipelines_with_callback_on_step_end_report_each_step(settings, tiny_animatediff_dir, tmp_path):
    settings.GENERATION_MODEL_DIR = str(tiny_animatediff_dir)
    settings.GENERATION_INFERENCE_STEPS = STEPS
    spec = make_spec(width=32, height=32, fps=4)

    output, calls = render(spec, tmp_path / "job")

    info = probe(output.video_path)
    assert (info.width, info.height, info.frame_count, info.duration_seconds) == (32, 32, 4, 1.0)
    assert (info.codec, info.pix_fmt) == ("h264", "yuv420p")
    assert calls == pytest.approx([0.0, 0.0, 0.45, 0.9] + [0.9 + 0.1 * (i + 1) / 4 for i in range(4)])


def test_sizes_off_the_model_grid_are_resized_exactly(model_settings, tmp_path):
    spec = make_spec(width=60, height=44, fps=6)

    output, calls = render(spec, tmp_path / "job")

    info = probe(output.video_path)
    assert (info.width, info.height, info.frame_count, info.duration_seconds) == (60, 44, 6, 1.0)
    with Image.open(output.poster_path) as poster:
        assert poster.size == (60, 44)
    assert calls[-1] == 1.0


def test_same_seed_same_video_and_other_seed_differs(model_settings, tmp_path):
    first, _ = render(make_spec(seed=7), tmp_path / "a")
    again, _ = render(make_spec(seed=7), tmp_path / "b")
    other, _ = render(make_spec(seed=8), tmp_path / "c")

    assert first.poster_path.read_bytes() == again.poster_path.read_bytes()
    assert np.array_equal(first_frame(first.video_path, 64, 64), first_frame(again.video_path, 64, 64))
    assert first.poster_path.read_bytes() != other.poster_path.read_bytes()
    assert not np.array_equal(first_frame(first.video_path, 64, 64), first_frame(other.video_path, 64, 64))


def test_cancel_from_progress_stops_the_render(model_settings, tmp_path):
    def cancel_on_first_step(fraction: float) -> None:
        if fraction > 0:
            raise JobCanceled()

    workdir = tmp_path / "job"
    with pytest.raises(JobCanceled):
        render(make_spec(), workdir, cancel_on_first_step)

    assert list(workdir.iterdir()) == []


def test_image_to_video_on_a_text_only_model_is_refused(model_settings, tmp_path):
    still = tmp_path / "still.png"
    Image.new("RGB", (64, 64), (200, 10, 10)).save(still)
    workdir = tmp_path / "job"

    with pytest.raises(PermanentBackendError) as excinfo:
        render(make_spec(kind="image_to_video", image_path=still), workdir)

    assert excinfo.value.code == "image_not_supported"
    assert list(workdir.iterdir()) == []


def test_missing_model_folder_is_permanent(settings, tmp_path):
    settings.GENERATION_MODEL_DIR = str(tmp_path / "nowhere")
    workdir = tmp_path / "job"
    workdir.mkdir()
    calls = []

    with pytest.raises(PermanentBackendError) as excinfo:
        DiffusersBackend().render(make_spec(), workdir, calls.append)

    assert excinfo.value.code == "model_not_found"
    assert calls == []
    assert list(workdir.iterdir()) == []


def test_folder_without_model_index_is_not_found(settings, tmp_path):
    (tmp_path / "empty").mkdir()
    settings.GENERATION_MODEL_DIR = str(tmp_path / "empty")

    with pytest.raises(PermanentBackendError) as excinfo:
        DiffusersBackend().render(make_spec(), tmp_path, lambda fraction: None)

    assert excinfo.value.code == "model_not_found"


def test_unset_model_dir_is_not_configured(settings, tmp_path):
    settings.GENERATION_MODEL_DIR = ""
    workdir = tmp_path / "job"
    workdir.mkdir()

    with pytest.raises(PermanentBackendError) as excinfo:
        DiffusersBackend().render(make_spec(), workdir, lambda fraction: None)

    assert excinfo.value.code == "model_not_configured"
    assert list(workdir.iterdir()) == []


def test_without_torch_installed_the_render_fails_permanently(model_settings, monkeypatch, tmp_path):
    # A None entry in sys.modules makes `import torch` raise ImportError, as on a machine without the extra.
    monkeypatch.setitem(sys.modules, "torch", None)
    workdir = tmp_path / "job"
    workdir.mkdir()

    with pytest.raises(PermanentBackendError) as excinfo:
        DiffusersBackend().render(make_spec(), workdir, lambda fraction: None)

    assert excinfo.value.code == "backend_not_installed"
    assert list(workdir.iterdir()) == []


def test_frames_are_resampled_by_timestamp_to_the_jobs_rate():
    # 16 fps model frames for a 1 s clip at 24 fps: each output frame takes the model frame nearest its time.
    plan = RenderPlan(width=16, height=16, num_frames=17, fps=16, out_width=16, out_height=16, out_frames=24,
                      out_fps=24)

    indices = frame_indices(plan, 17)

    assert len(indices) == 24
    assert indices[:7] == [0, 1, 1, 2, 3, 3, 4]
    assert indices[-1] == 15
    # Same rate: one to one; fewer frames rendered than planned: clamped to the last.
    same = RenderPlan(width=8, height=8, num_frames=8, fps=8, out_width=8, out_height=8, out_frames=8, out_fps=8)
    assert frame_indices(same, 8) == list(range(8))
    assert frame_indices(same, 4) == [0, 1, 2, 3, 3, 3, 3, 3]
