"""What each video model family can render, read without torch.

The API process has no GPU and no torch, yet it must refuse at submit (before
any charge) what the configured model cannot render. So a profile is built
from plain JSON: the pipeline class in `model_index.json`, the VAE's and the
transformer's `config.json` (compression factors, patch sizes), the family's
defaults below, and last the per-model-folder overrides in
settings.GENERATION_MODEL_PROFILES. The worker renders from the same profile,
so what submission accepted is what the worker renders.

The defaults follow each model's published recommendations (trained frame rate,
frame count and resolution, steps, guidance); a deployment that knows better
overrides them per folder.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings

from ..base import PermanentBackendError

# Image support of a pipeline: "none" (text only), "optional" (text or image), "required" (image only).
IMAGE_NONE, IMAGE_OPTIONAL, IMAGE_REQUIRED = "none", "optional", "required"

WAN_NEGATIVE = ("static, still picture, blurred details, subtitles, worst quality, low quality, JPEG artifacts, "
                "deformed, disfigured, extra fingers, cluttered background, walking backwards")
LTX_NEGATIVE = "worst quality, inconsistent motion, blurry, jittery, distorted"


@dataclass(frozen=True)
class Profile:
    family: str  # for logs and the README table
    pipeline_class: str
    size_multiple: int = 8  # width and height must be multiples (VAE spatial factor x patch size)
    temporal_factor: int = 1  # frames = temporal_factor * k + 1 (1: any count)
    native_fps: int | None = None  # the rate the model was trained at; None: render at the job's rate
    max_frames: int | None = None  # the most frames one call renders well; longer is refused
    max_pixels: int | None = None  # the trained area: larger requests render at it and are scaled up
    fixed_size: tuple[int, int] | None = None  # (w, h) for models trained at one size only
    steps: int = 25
    guidance: float | None = None  # None: the pipeline's own default
    negative_prompt: str = ""
    flow_shift: float | None = None  # overrides the scheduler's shift where it has one
    max_sequence_length: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # further call arguments
    fps_argument: str = ""  # the call argument that tells the model its frame rate (LTX: frame_rate)
    image: str = IMAGE_NONE
    image_pipeline: str = ""  # class that serves image jobs from the same weights (from_pipe)
    audio: bool = False  # the pipeline returns a soundtrack, muxed into the MP4
    component_dtypes: dict[str, str] = field(default_factory=dict)  # e.g. {"vae": "float32"}
    requires: tuple[str, ...] = ()  # importable modules the pipeline needs beyond diffusers

    @property
    def takes_images(self) -> bool:
        return self.image != IMAGE_NONE or bool(self.image_pipeline)


def _wan(index: dict, vae: dict, transformer: dict) -> dict:
    dim = int(transformer.get("num_attention_heads", 0)) * int(transformer.get("attention_head_dim", 0))
    two_stage = bool(index.get("transformer_2") and index["transformer_2"][0])
    if index.get("expand_timesteps"):  # Wan 2.2 TI2V-5B: 16x VAE, 24 fps, text or image from one transformer
        return dict(family="Wan 2.2 TI2V-5B", native_fps=24, max_frames=121, max_pixels=1280 * 704, guidance=5.0,
                    image_pipeline="WanImageToVideoPipeline")
    if two_stage:  # Wan 2.2 A14B: a high-noise and a low-noise expert, each with its own guidance
        return dict(family="Wan 2.2 A14B", guidance=4.0, extra={"guidance_scale_2": 3.0})
    # Wan 2.1: the 1.3B model is trained at 480p only.
    small = 0 < dim <= 1536
    return dict(family="Wan 2.1 1.3B" if small else "Wan 2.1 14B", max_pixels=832 * 480 if small else 1280 * 720,
                flow_shift=3.0 if small else 5.0)


def _wan_i2v(index: dict, vae: dict, transformer: dict) -> dict:
    if index.get("transformer_2") and index["transformer_2"][0]:
        return dict(family="Wan 2.2 I2V-A14B", guidance=3.5, extra={"guidance_scale_2": 3.5})
    if index.get("expand_timesteps"):
        return dict(family="Wan 2.2 TI2V-5B", native_fps=24, max_frames=121, max_pixels=1280 * 704)
    return dict(family="Wan 2.1 I2V 14B")


def _ltx(index: dict, vae: dict, transformer: dict) -> dict:
    # VAEs from 0.9.1 on decode with timestep conditioning: decode_timestep/decode_noise_scale then matter.
    if vae.get("timestep_conditioning"):
        return dict(extra={"decode_timestep": 0.05, "decode_noise_scale": 0.025})
    return {}


def _cogvideox(index: dict, vae: dict, transformer: dict) -> dict:
    if transformer.get("patch_size_t"):  # CogVideoX 1.5: any size, 16 fps
        return dict(family="CogVideoX 1.5", native_fps=16, max_frames=81, max_pixels=1360 * 768)
    # CogVideoX 1.0 was trained at one size only (its positional embeddings are sized for it).
    spatial = 2 ** (len(vae.get("block_out_channels") or [0] * 4) - 1)
    w, h = transformer.get("sample_width"), transformer.get("sample_height")
    return dict(fixed_size=(int(w) * spatial, int(h) * spatial) if w and h else (720, 480))


_WAN = dict(family="Wan", size_multiple=16, temporal_factor=4, native_fps=16, max_frames=81, max_pixels=1280 * 720,
            steps=40, guidance=5.0, negative_prompt=WAN_NEGATIVE, max_sequence_length=512,
            component_dtypes={"vae": "float32", "image_encoder": "float32"}, requires=("ftfy",))
_LTX = dict(family="LTX-Video", size_multiple=32, temporal_factor=8, native_fps=24, max_frames=257,
            max_pixels=1216 * 704, steps=40, guidance=3.0, negative_prompt=LTX_NEGATIVE, max_sequence_length=128,
            fps_argument="frame_rate")
_LTX2 = dict(_LTX, family="LTX-2", max_frames=257, max_pixels=1920 * 1088, steps=40, guidance=4.0,
             max_sequence_length=1024, audio=True)
_HUNYUAN = dict(family="HunyuanVideo", size_multiple=16, temporal_factor=4, native_fps=24, max_frames=129,
                max_pixels=1280 * 720, steps=50, guidance=6.0)
_HUNYUAN15 = dict(_HUNYUAN, family="HunyuanVideo 1.5", max_frames=121, guidance=None)
_COG = dict(family="CogVideoX", size_multiple=16, temporal_factor=4, native_fps=8, max_frames=49, steps=50,
            guidance=6.0, max_sequence_length=226, extra={"use_dynamic_cfg": True})

# Keyed by the pipeline class in model_index.json: (defaults, refinement from the configs).
FAMILIES: dict[str, tuple[dict, Any]] = {
    "WanPipeline": (_WAN, _wan),
    "WanImageToVideoPipeline": (dict(_WAN, family="Wan I2V", image=IMAGE_REQUIRED), _wan_i2v),
    "LTXPipeline": (dict(_LTX, image_pipeline="LTXImageToVideoPipeline"), _ltx),
    "LTXImageToVideoPipeline": (dict(_LTX, image=IMAGE_REQUIRED), _ltx),
    "LTXConditionPipeline": (dict(_LTX, image=IMAGE_OPTIONAL), _ltx),
    "LTX2Pipeline": (dict(_LTX2, image_pipeline="LTX2ImageToVideoPipeline"), None),
    "LTX2ImageToVideoPipeline": (dict(_LTX2, image=IMAGE_REQUIRED), None),
    "HunyuanVideoPipeline": (_HUNYUAN, None),
    "HunyuanVideoImageToVideoPipeline": (dict(_HUNYUAN, family="HunyuanVideo I2V", image=IMAGE_REQUIRED,
                                              guidance=1.0), None),
    "HunyuanVideo15Pipeline": (_HUNYUAN15, None),
    "HunyuanVideo15ImageToVideoPipeline": (dict(_HUNYUAN15, family="HunyuanVideo 1.5 I2V", image=IMAGE_REQUIRED),
                                           None),
    "CogVideoXPipeline": (_COG, _cogvideox),
    "CogVideoXImageToVideoPipeline": (dict(_COG, family="CogVideoX I2V", image=IMAGE_REQUIRED), _cogvideox),
}


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise PermanentBackendError(f"Cannot read {path.name} of the model: {exc}", code="model_invalid") from exc


def _vae_factors(vae: dict) -> tuple[int | None, int | None]:
    """(spatial, temporal) compression of the VAE, under whichever names its class uses."""
    spatial = vae.get("scale_factor_spatial") or vae.get("spatial_compression_ratio")
    temporal = vae.get("scale_factor_temporal") or vae.get("temporal_compression_ratio")
    if "spatio_temporal_scaling" in vae:  # LTX: derived from the patch sizes and the scaling blocks
        scaled = sum(bool(s) for s in vae["spatio_temporal_scaling"])
        spatial = spatial or int(vae.get("patch_size", 1)) * 2 ** scaled
        temporal = temporal or int(vae.get("patch_size_t", 1)) * 2 ** scaled
    if spatial is None and vae.get("block_out_channels"):
        spatial = 2 ** (len(vae["block_out_channels"]) - 1)
    return (int(spatial) if spatial else None), (int(temporal) if temporal else None)


def _patch(transformer: dict) -> int:
    patch = transformer.get("patch_size") or 1
    return int(patch[-1] if isinstance(patch, (list, tuple)) else patch)


def _overrides(model_dir: Path) -> dict:
    table = getattr(settings, "GENERATION_MODEL_PROFILES", None) or {}
    for key, values in table.items():
        if Path(key).expanduser().resolve() == model_dir:
            return dict(values)
    return {}


def _coerce(name: str, value: Any) -> Any:
    if name == "fixed_size" and value is not None:
        return tuple(int(v) for v in value)
    if name == "requires":
        return tuple(value)
    return value


def _build(index: dict, vae: dict, transformer: dict, overrides: dict) -> Profile:
    class_name = str(index.get("_class_name", ""))
    # An unknown pipeline: nothing refused at submit; the render reads its signature.
    defaults, refine = FAMILIES.get(class_name, (dict(family=class_name or "unknown", image=IMAGE_OPTIONAL), None))
    values: dict[str, Any] = dict(defaults)
    spatial, temporal = _vae_factors(vae)
    if spatial:
        # The pipeline's own check (e.g. LTX: 32) and what the latents and patches need, whichever is stricter.
        values["size_multiple"] = math.lcm(int(values.get("size_multiple", 8)), spatial * _patch(transformer))
    if temporal and class_name in FAMILIES:
        values["temporal_factor"] = temporal
    if refine is not None:
        refined = refine(index, vae, transformer)
        values["extra"] = {**values.get("extra", {}), **refined.pop("extra", {})}
        values.update(refined)
    known = {f.name for f in fields(Profile)}
    unknown = set(overrides) - known
    if unknown:
        raise PermanentBackendError(f"Unknown profile fields in GENERATION_MODEL_PROFILES: {sorted(unknown)}",
                                    code="backend_misconfigured")
    values.update({k: _coerce(k, v) for k, v in overrides.items()})
    return replace(Profile(family="", pipeline_class=class_name), **{k: v for k, v in values.items() if k in known})


@lru_cache(maxsize=16)
def _cached(model_dir: Path, mtime: float, overrides: str) -> Profile:
    return _build(_read_json(model_dir / "model_index.json"), _read_json(model_dir / "vae" / "config.json"),
                  _read_json(model_dir / "transformer" / "config.json"), json.loads(overrides))


def profile_for(model_dir: Path) -> Profile:
    """The profile of the model in `model_dir` (checked to hold a model_index.json)."""
    index = model_dir / "model_index.json"
    return _cached(model_dir, index.stat().st_mtime, json.dumps(_overrides(model_dir), sort_keys=True))


def profile_of_class(class_name: str, model_dir: str = "") -> Profile:
    """For processes without the model folder (API servers): the family defaults of a pipeline class,
    with the folder's overrides. The configs that refine them (VAE factors) are not read."""
    overrides = _overrides(Path(model_dir).expanduser().resolve()) if model_dir else {}
    return _build({"_class_name": class_name}, {}, {}, overrides)
