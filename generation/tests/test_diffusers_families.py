"""Today's video model families, end to end on tiny random pipelines (built once per session).

Renders go through the backend's real path (profile from the folder's JSON, load
with from_pretrained, the family's call arguments, from_pipe for image jobs) and
every MP4 is decoded. To keep CPU time small the folder's profile override
(GENERATION_MODEL_PROFILES, the same one deployments use) lowers the trained
area and the native frame rate; the size grid, frame rule, crop and time
resampling stay the family's own. Refusals read the unmodified profiles.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from generation.backends import PermanentBackendError, RenderParams, RenderSpec, UnsupportedRequest, get_backend
from generation.backends.diffusers import profile_for
from generation.backends.media import generator_metadata, probe, read_frames
from generation.services.submission import ALLOWED_SIZES as _REQUESTABLE

# The app's concrete sizes ("auto" is resolved to one of them at submit).
ALLOWED_SIZES = tuple(size for size in _REQUESTABLE if size != "auto")

STEPS = 2
FPS = 8  # the job's rate (generation/tests/conftest.py)
# A quarter of the trained frame rates: 9-frame renders for a 4 s clip.
FAST = {"wan21": {"max_pixels": 512, "native_fps": 4}, "wan22_5b": {"max_pixels": 2048, "native_fps": 6},
        "wan22_i2v": {"max_pixels": 512, "native_fps": 4}, "ltx": {"max_pixels": 2048, "native_fps": 6},
        "cogvideox": {"max_sequence_length": 16, "native_fps": 2}}
# Mean absolute difference (0-255) between frames one second apart: random weights still move; a still is 0.
MOTION_FLOOR = 1.0


def use(settings, folder: Path, family: str | None = None) -> None:
    settings.GENERATION_MODEL_DIR = str(folder)
    settings.GENERATION_INFERENCE_STEPS = STEPS
    settings.GENERATION_MODEL_PROFILES = {str(folder): FAST[family]} if family else {}


def spec_for(size: str, *, kind: str = "text_to_video", image: Path | None = None, duration: int = 4) -> RenderSpec:
    w, h = (int(v) for v in size.split("x"))
    fields = dict(job_id="job-f", kind=kind, prompt="a red kite over dunes", duration_seconds=duration, width=w,
                  height=h, fps=FPS, seed=11, image_path=image)
    return RenderSpec(**fields, metadata=generator_metadata(RenderSpec(**fields), "diffusers"))


def still(tmp_path: Path) -> Path:
    path = tmp_path / "still.png"
    img = Image.new("RGB", (96, 64), (20, 90, 200))
    img.paste((230, 200, 30), (30, 10, 70, 50))
    img.save(path)
    return path


def render_and_check(spec: RenderSpec, workdir: Path) -> list[float]:
    workdir.mkdir(parents=True, exist_ok=True)
    calls: list[float] = []
    output = get_backend("diffusers").render(spec, workdir, calls.append)
    info = probe(output.video_path)
    assert (info.width, info.height) == (spec.width, spec.height)
    assert info.frame_count == spec.duration_seconds * FPS
    assert (info.fps, info.duration_seconds, info.codec) == (float(FPS), float(spec.duration_seconds), "h264")
    frames = [f.astype(np.float32) for f in read_frames(output.video_path, spec.width, spec.height)]
    motion = np.mean([np.abs(a - b).mean() for a, b in zip(frames, frames[FPS:])])
    assert motion > MOTION_FLOOR
    with Image.open(output.poster_path) as poster:
        assert poster.size == (spec.width, spec.height)
    assert calls == sorted(calls) and calls[-1] == 1.0
    return calls


CASES = ([("wan21", size, "text_to_video") for size in ALLOWED_SIZES] + [
    ("wan22_5b", "480x854", "text_to_video"), ("wan22_5b", "1280x720", "image_to_video"),
    ("wan22_i2v", "720x720", "image_to_video"),
    ("ltx", "720x1280", "text_to_video"), ("ltx", "854x480", "image_to_video"),
    ("cogvideox", "854x480", "text_to_video"), ("cogvideox", "1920x1080", "text_to_video"),
])


@pytest.mark.parametrize(("family", "size", "kind"), CASES)
def test_each_family_renders_the_exact_clip_with_motion(settings, tiny_model, tmp_path, family, size, kind):
    use(settings, tiny_model(family), family)
    image = still(tmp_path) if kind == "image_to_video" else None

    render_and_check(spec_for(size, kind=kind, image=image), tmp_path / "job")


def params(size: str = "480x854", *, duration: int = 4, kind: str = "text_to_video") -> RenderParams:
    w, h = (int(v) for v in size.split("x"))
    return RenderParams(kind=kind, prompt="a kite", duration_seconds=duration, width=w, height=h)


@pytest.mark.parametrize(("family", "request_", "code", "field"), [
    ("wan21", params(duration=8), "duration_not_supported", "duration_seconds"),
    ("wan21", params(duration=12), "duration_not_supported", "duration_seconds"),
    ("wan21", params(kind="image_to_video"), "image_not_supported", "image"),
    ("wan22_i2v", params(), "image_required", "image"),
    ("wan22_5b", params(duration=8), "duration_not_supported", "duration_seconds"),
    ("ltx", params(duration=12), "duration_not_supported", "duration_seconds"),
    ("cogvideox", params("480x854"), "size_not_supported", "size"),
    ("cogvideox", params("720x720"), "size_not_supported", "size"),
    ("cogvideox", params("854x480", duration=8), "duration_not_supported", "duration_seconds"),
    ("cogvideox", params("854x480", kind="image_to_video"), "image_not_supported", "image"),
])
def test_check_refuses_what_the_family_cannot_render(settings, tiny_model, family, request_, code, field):
    use(settings, tiny_model(family))

    with pytest.raises(UnsupportedRequest) as excinfo:
        get_backend("diffusers").check(request_)

    assert (excinfo.value.code, excinfo.value.field) == (code, field)


@pytest.mark.parametrize(("family", "accepted"), [
    ("wan21", [params(size) for size in ALLOWED_SIZES]),
    ("wan22_5b", [params(size, kind="image_to_video") for size in ALLOWED_SIZES]),
    ("ltx", [params(size, duration=d, kind=k) for size in ALLOWED_SIZES for d in (4, 8)
             for k in ("text_to_video", "image_to_video")]),
    ("cogvideox", [params(size) for size in ("854x480", "1280x720", "1920x1080")]),
])
def test_check_accepts_what_the_family_renders(settings, tiny_model, family, accepted):
    use(settings, tiny_model(family))
    backend = get_backend("diffusers")

    assert [backend.check(p) for p in accepted] == accepted


def test_profiles_read_from_the_folder(settings, tiny_model):
    use(settings, tiny_model("wan21"))
    wan = profile_for(tiny_model("wan21").resolve())
    five_b = profile_for(tiny_model("wan22_5b").resolve())
    ltx = profile_for(tiny_model("ltx").resolve())

    assert (wan.family, wan.size_multiple, wan.temporal_factor, wan.native_fps, wan.max_frames) == \
        ("Wan 2.1 1.3B", 16, 4, 16, 81)
    # The 16x VAE times the 2x2 patches: the 5B renders on a 32-pixel grid.
    assert (five_b.family, five_b.size_multiple, five_b.native_fps, five_b.image_pipeline) == \
        ("Wan 2.2 TI2V-5B", 32, 24, "WanImageToVideoPipeline")
    # LTX's pipeline checks multiples of 32 whatever its VAE; the tiny VAE compresses time 4x.
    assert (ltx.size_multiple, ltx.temporal_factor, ltx.fps_argument) == (32, 4, "frame_rate")


def test_a_pipeline_exception_is_a_permanent_render_failure(settings, tiny_model, tmp_path):
    folder = tiny_model("wan21")
    use(settings, folder)
    # A wrong profile (a size off Wan's 16-pixel grid) makes the pipeline itself raise ValueError.
    settings.GENERATION_MODEL_PROFILES = {str(folder): {**FAST["wan21"], "fixed_size": [24, 40]}}
    workdir = tmp_path / "job"
    workdir.mkdir()

    with pytest.raises(PermanentBackendError) as excinfo:
        get_backend("diffusers").render(spec_for("480x854"), workdir, lambda fraction: None)

    assert excinfo.value.code == "render_failed"
    assert "divisible by 16" in str(excinfo.value)
    assert list(workdir.iterdir()) == []
