"""Video backends, chosen by settings (GENERATION_BACKEND) and recorded per job."""

from __future__ import annotations

from django.conf import settings
from django.utils.module_loading import import_string

from .base import (
    BackendError,
    JobCanceled,
    PermanentBackendError,
    ProgressFn,
    ProviderQuotaExhausted,
    RemoteJobLink,
    RenderOutput,
    RenderParams,
    RenderSpec,
    TransientBackendError,
    UnsupportedRequest,
    VideoBackend,
)

BACKENDS = {
    "preview": "generation.backends.preview.PreviewBackend",
    "diffusers": "generation.backends.diffusers.DiffusersBackend",
    "openai": "generation.backends.hosted.openai_videos.OpenAIVideosBackend",
    # The name jobs made before the hosted package carry: the same OpenAI backend.
    "remote": "generation.backends.hosted.openai_videos.OpenAIVideosBackend",
    "runway": "generation.backends.hosted.runway.RunwayBackend",
    "veo": "generation.backends.hosted.veo.VeoBackend",
    "replicate": "generation.backends.hosted.replicate_models.ReplicateBackend",
}
# Backends that render on a provider's servers (and cost us per second there).
HOSTED = frozenset({"openai", "remote", "runway", "veo", "replicate"})


def get_backend(name: str | None = None) -> VideoBackend:
    name = name or settings.GENERATION_BACKEND
    if name not in BACKENDS:
        raise PermanentBackendError(f"Unknown video backend {name!r}.", code="backend_unknown")
    return import_string(BACKENDS[name])()


__all__ = [
    "BACKENDS", "HOSTED", "BackendError", "JobCanceled", "PermanentBackendError", "ProgressFn", "ProviderQuotaExhausted",
    "RemoteJobLink", "RenderOutput", "RenderParams", "RenderSpec",
    "TransientBackendError", "UnsupportedRequest", "VideoBackend", "get_backend",
]
