"""Loading a diffusers pipeline from a local folder, once per process, set up as settings say.

torch and diffusers are the optional `diffusers` extra: everything here imports
them inside functions, so the API process (which only reads profiles) never
does. Nothing is ever downloaded: workers run without hub access and a surprise
multi-GB download would stall the GPU queue.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from ..base import PermanentBackendError, TransientBackendError
from .profiles import Profile

logger = logging.getLogger(__name__)

OFFLOAD_MODES = ("none", "model", "sequential", "group")
# What from_pretrained raises for a folder it cannot make a pipeline of.
LOAD_ERRORS = (OSError, ValueError, TypeError, KeyError, AttributeError)


@dataclass
class Loaded:
    pipe: Any
    device: str
    # Pipelines keep per-call state (the scheduler's timesteps), so one pipeline
    # must not run two calls at once even if the worker pool is threaded.
    lock: threading.Lock = field(default_factory=threading.Lock)
    variants: dict[str, Any] = field(default_factory=dict)  # image pipelines sharing these weights (from_pipe)


# One GPU worker renders many jobs and loading takes from seconds to minutes, so
# each process keeps what it loaded, per model folder and device.
_PIPELINES: dict[tuple[str, str], Loaded] = {}
_LOAD_LOCK = threading.Lock()


def import_torch(profile: Profile | None = None):
    # Imported here, not at the top: the API and CPU workers must load this package without them.
    try:
        import torch
        import diffusers  # noqa: F401  (fail here, not halfway through loading)
    except ImportError as exc:
        raise PermanentBackendError(
            f"The diffusers backend needs torch and diffusers installed (the 'diffusers' extra): {exc}",
            code="backend_not_installed",
        ) from exc
    # Some pipelines import helpers only if present and then fail mid-call (Wan: ftfy): check before loading.
    missing = [name for name in (profile.requires if profile else ()) if importlib.util.find_spec(name) is None]
    if missing:
        raise PermanentBackendError(f"{profile.family} needs {', '.join(missing)} installed (the 'diffusers' extra).",
                                    code="backend_not_installed")
    return torch


def get_pipeline(model_dir: Path, profile: Profile, torch) -> Loaded:
    device = "cuda" if torch.cuda.is_available() else "cpu"
    key = (str(model_dir), device)
    with _LOAD_LOCK:
        loaded = _PIPELINES.get(key)
        if loaded is None:
            loaded = _PIPELINES[key] = Loaded(_load(model_dir, profile, device, torch), device)
    return loaded


def image_pipeline(loaded: Loaded, profile: Profile):
    """The pipeline that serves image jobs: the loaded one, or a from_pipe view of its weights."""
    if not profile.image_pipeline:
        return loaded.pipe
    if profile.image_pipeline not in loaded.variants:
        import diffusers

        cls = getattr(diffusers, profile.image_pipeline, None)
        if cls is None:
            raise PermanentBackendError(f"This diffusers has no {profile.image_pipeline}.",
                                        code="backend_not_installed")
        try:
            variant = cls.from_pipe(loaded.pipe)
        except LOAD_ERRORS as exc:
            raise PermanentBackendError(f"{profile.image_pipeline} cannot share these weights: {exc}",
                                        code="image_not_supported") from exc
        variant.set_progress_bar_config(disable=True)
        loaded.variants[profile.image_pipeline] = variant
    return loaded.variants[profile.image_pipeline]


def _dtypes(profile: Profile, device: str, torch) -> dict[str, Any]:
    # bfloat16 halves memory on the GPU with the range of float32 (no fp16 overflow to NaN
    # frames); CPUs lack fast bfloat16 kernels, so they stay in float32 unless told otherwise.
    default = settings.GENERATION_DTYPE if device == "cuda" else "float32"
    names = {"default": default, **profile.component_dtypes, **settings.GENERATION_COMPONENT_DTYPES}
    out = {}
    for component, name in names.items():
        dtype = getattr(torch, str(name), None)
        if not isinstance(dtype, torch.dtype):
            raise PermanentBackendError(f"Unknown dtype {name!r} for {component}.", code="model_invalid")
        out[component] = dtype
    return out


def _load(model_dir: Path, profile: Profile, device: str, torch):
    from diffusers import DiffusionPipeline  # the optional extra, see import_torch

    offload = settings.GENERATION_OFFLOAD
    if offload not in OFFLOAD_MODES:
        raise PermanentBackendError(f"GENERATION_OFFLOAD must be one of {', '.join(OFFLOAD_MODES)}.",
                                    code="backend_misconfigured")
    dtypes = _dtypes(profile, device, torch)
    logger.info("diffusers.load", extra={"model_dir": str(model_dir), "device": device, "family": profile.family,
                                         "offload": offload, "dtypes": {k: str(v) for k, v in dtypes.items()}})
    try:
        pipe = DiffusionPipeline.from_pretrained(str(model_dir), dtype=dtypes, local_files_only=True)
    except ImportError as exc:
        raise PermanentBackendError(f"The model needs a package that is not installed: {exc}",
                                    code="backend_not_installed") from exc
    except LOAD_ERRORS as exc:
        raise PermanentBackendError(f"Cannot load the model in {model_dir}: {exc}", code="model_invalid") from exc
    # tqdm bars would flood worker logs; progress goes through the job instead.
    pipe.set_progress_bar_config(disable=True)
    _set_flow_shift(pipe, profile)
    _load_loras(pipe)
    try:
        _place(pipe, device, offload, torch)
    except torch.cuda.OutOfMemoryError as exc:
        torch.cuda.empty_cache()
        raise TransientBackendError("Not enough free GPU memory to load the model.", code="gpu_busy") from exc
    if settings.GENERATION_VAE_TILING and hasattr(getattr(pipe, "vae", None), "enable_tiling"):
        pipe.vae.enable_tiling()
    _tune_transformers(pipe, device)
    return pipe


def _place(pipe, device: str, offload: str, torch) -> None:
    # Offloading moves weights between CPU and GPU as they are needed: only meaningful with a GPU.
    if device != "cuda" or offload == "none":
        pipe.to(device)
    elif offload == "model":
        pipe.enable_model_cpu_offload()
    elif offload == "sequential":
        pipe.enable_sequential_cpu_offload()
    else:
        pipe.enable_group_offload(onload_device=torch.device("cuda"), offload_device=torch.device("cpu"),
                                  offload_type="leaf_level", use_stream=True)


def _set_flow_shift(pipe, profile: Profile) -> None:
    shift = settings.GENERATION_FLOW_SHIFT or profile.flow_shift
    scheduler = getattr(pipe, "scheduler", None)
    if not shift or scheduler is None:
        return
    for key in ("flow_shift", "shift"):  # UniPC/DPM with flow sigmas call it flow_shift, FlowMatchEuler shift
        if key in scheduler.config:
            pipe.scheduler = type(scheduler).from_config(scheduler.config, **{key: float(shift)})
            return


def _load_loras(pipe) -> None:
    loras = settings.GENERATION_LORAS
    if not loras:
        return
    if not hasattr(pipe, "load_lora_weights"):
        raise PermanentBackendError("This pipeline does not take LoRA weights.", code="model_invalid")
    names, weights = [], []
    for i, lora in enumerate(loras):
        name = str(lora.get("name") or f"lora{i}")
        try:
            pipe.load_lora_weights(str(Path(lora["path"]).expanduser()), adapter_name=name,
                                   **({"weight_name": lora["weight_name"]} if lora.get("weight_name") else {}))
        except ImportError as exc:
            raise PermanentBackendError(f"LoRA needs peft installed: {exc}", code="backend_not_installed") from exc
        except LOAD_ERRORS as exc:
            raise PermanentBackendError(f"Cannot load LoRA {name}: {exc}", code="model_invalid") from exc
        names.append(name)
        weights.append(float(lora.get("weight", 1.0)))
    pipe.set_adapters(names, adapter_weights=weights)


def _tune_transformers(pipe, device: str) -> None:
    for name in ("transformer", "transformer_2"):
        module = getattr(pipe, name, None)
        if module is None:
            continue
        if settings.GENERATION_ATTENTION_BACKEND and hasattr(module, "set_attention_backend"):
            try:
                module.set_attention_backend(settings.GENERATION_ATTENTION_BACKEND)
            except (ValueError, ImportError, RuntimeError) as exc:
                raise PermanentBackendError(f"Attention backend {settings.GENERATION_ATTENTION_BACKEND!r}: {exc}",
                                            code="backend_misconfigured") from exc
        if settings.GENERATION_COMPILE and device == "cuda":
            # Compiles on the first call (minutes); the heartbeat covers it. Regional compile of the
            # repeated blocks where diffusers offers it: much faster to compile than the whole model.
            if hasattr(module, "compile_repeated_blocks"):
                module.compile_repeated_blocks(fullgraph=True)
            else:
                module.compile()
