"""What each hosted provider and model can render, read at submit (before any charge) and at render.

Taken from the providers' SDK types and documentation (see README, "Hosted providers"): sizes,
durations, whether it takes an image, remixes, makes audio, and its prompt limit. A request
size the model does not render is mapped to the model size of the same shape that is at least
as large (we re-encode every clip to the size the user paid for anyway); a size with no such
model size is refused (`size_not_supported`), as is a duration the model does not render
(`duration_not_supported`): stretching a 4 s clip to 5 s would sell a slowed-down video.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..base import RenderParams, UnsupportedRequest, check_single_reference

# The codes `check` refuses with (400, on the field named), for the API schema.
REFUSAL_CODES = ("size_not_supported", "duration_not_supported", "prompt_too_long", "kind_not_supported",
                 "model_not_supported", "cameos_not_supported")
# Shapes closer than this (relative) count as the same: 480x854 is 720x1280 scaled.
_ASPECT_TOLERANCE = 0.02


@dataclass(frozen=True)
class Capability:
    sizes: tuple[str, ...]
    durations: tuple[int, ...]
    image_input: bool = True
    remix: bool = False  # the provider remixes its own earlier video by id
    extend: bool = False
    audio: bool = False
    max_prompt_chars: int = 2000
    # The model renders only longer clips (5 or 10 s): render the next longer one and cut it.
    cut_longer: bool = False

    def duration_for(self, seconds: int) -> int | None:
        """The clip length to ask the model for, or None when it renders none that serves `seconds`."""
        if seconds in self.durations:
            return seconds
        longer = [d for d in self.durations if d > seconds]
        return min(longer) if longer and self.cut_longer else None

    def size_for(self, width: int, height: int) -> tuple[int, int] | None:
        """The model size to ask for so that (width, height) is a downscale of it, or None."""
        wanted = width / height
        fits = []
        for size in self.sizes:
            w, h = (int(v) for v in size.split("x"))
            if abs(w / h - wanted) / wanted <= _ASPECT_TOLERANCE and w >= width and h >= height:
                fits.append((w * h, w, h))
        return min(fits)[1:] if fits else None


_SORA_SIZES = ("720x1280", "1280x720")
_SORA_PRO_SIZES = _SORA_SIZES + ("1024x1792", "1792x1024")
_VEO_SIZES = ("1280x720", "720x1280", "1920x1080", "1080x1920")

CAPABILITIES: dict[str, dict[str, Capability]] = {
    # openai: VideoSize / VideoSeconds / VideoModel in the SDK's types; remix is POST /videos/{id}/remix.
    "openai": {
        "sora-2": Capability(sizes=_SORA_SIZES, durations=(4, 8, 12), remix=True, audio=True, max_prompt_chars=2000),
        "sora-2-pro": Capability(sizes=_SORA_PRO_SIZES, durations=(4, 8, 12), remix=True, audio=True,
                                 max_prompt_chars=2000),
    },
    # runway: the ratios and "integer from 2 to 10" of Gen4_5 in the SDK's text_to_video and
    # image_to_video params (the text ratios: image-to-video takes more, text-to-video only these).
    "runway": {
        "gen4.5": Capability(sizes=("1280x720", "720x1280"), durations=tuple(range(2, 11)), remix=False,
                             max_prompt_chars=1000),
    },
    # veo: Google's Veo documentation (the SDK's types take any value): 16:9 or 9:16 at 720p or
    # 1080p, 4, 6 or 8 s, with audio; it extends but does not remix. Its prompt limit is in
    # tokens (1024); the characters here are a safe reading of it.
    "veo": {model: Capability(sizes=_VEO_SIZES, durations=(4, 6, 8), extend=True, audio=True, max_prompt_chars=2000)
            for model in ("veo-3.1-generate-001", "veo-3.1-fast-generate-001", "veo-3.0-generate-001",
                          "veo-3.0-fast-generate-001")},
    # replicate: the open Wan 2.5 models as Replicate's model pages describe their inputs (not
    # verifiable here): `size` as "W*H", `duration` 5 or 10; 4 and 8 s are rendered at 5 and 10 and cut.
    "replicate": {model: Capability(sizes=("1280x720", "720x1280", "1920x1080", "1080x1920", "832x480", "480x832"),
                                    durations=(5, 10), cut_longer=True, audio=True, max_prompt_chars=2000)
                  for model in ("wan-video/wan-2.5-t2v", "wan-video/wan-2.5-t2v-fast")},
}


def capability(provider: str, model: str) -> Capability:
    try:
        return CAPABILITIES[provider][model]
    except KeyError:
        raise UnsupportedRequest(f"The video model {provider}/{model} is not one we know how to drive.",
                                 code="model_not_supported", field="non_field_errors") from None


def check_params(cap: Capability, params: RenderParams) -> RenderParams:
    """The request as this model will serve it, or UnsupportedRequest (code on its field)."""
    if cap.duration_for(params.duration_seconds) is None:
        allowed = ", ".join(str(d) for d in cap.durations)
        raise UnsupportedRequest(f"This video model renders {allowed} seconds.", code="duration_not_supported",
                                 field="duration_seconds")
    if cap.size_for(params.width, params.height) is None:
        raise UnsupportedRequest(f"This video model cannot render {params.width}x{params.height}.",
                                 code="size_not_supported", field="size")
    if len(params.prompt) + (len(params.style) + 9 if params.style else 0) > cap.max_prompt_chars:
        raise UnsupportedRequest(f"This video model takes prompts of up to {cap.max_prompt_chars} characters.",
                                 code="prompt_too_long", field="prompt")
    if params.kind == "image_to_video" and not cap.image_input:
        raise UnsupportedRequest("This video model does not take an image.", code="kind_not_supported",
                                 field="kind")
    # A cameo reaches the provider as its input reference image (the only person conditioning
    # these APIs document for video), so one cameo at most, and only where it takes an image.
    check_single_reference(params, takes_image=cap.image_input)
    return params
