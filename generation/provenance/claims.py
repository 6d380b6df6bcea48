"""What a signed video says about itself: the claim we sign and the report a read returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# IPTC's term for media made by a trained model (what the C2PA spec asks AI output to declare).
TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
# Our own assertions (C2PA lets an entity add labels under its reverse domain or a short prefix).
APP_LABEL = "app.clipsocial"
CAMEOS_LABEL = "app.cameos"


@dataclass(frozen=True, kw_only=True)
class Ingredient:
    path: Path
    title: str
    relationship: str = "parentOf"  # "parentOf" | "componentOf" | "inputTo"


@dataclass(frozen=True, kw_only=True)
class ProvenanceClaim:
    title: str
    generator: str  # the backend that made the pixels, e.g. "preview", "openai"
    model: str = ""  # the provider's model or the diffusers profile
    creator_handle: str = ""
    cameo_handles: tuple[str, ...] = ()
    job_id: str = ""
    actions: tuple[dict, ...] = ()  # extra c2pa actions, e.g. {"action": "c2pa.translated", ...}
    ingredients: tuple[Ingredient, ...] = ()
    ai_generated: bool = True
    cameo_ids: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class ProvenanceReport:
    # "none" (no manifest), "invalid" (signature or media hash fails), "untrusted" (intact, but the
    # signer does not chain to a configured anchor), "trusted" (intact and chains to one), or
    # "valid" (intact; no anchors configured, so trust was not checked).
    state: str
    title: str = ""
    claim_generator: str = ""
    generator: str = ""
    model: str = ""
    creator_handle: str = ""
    cameos: tuple[str, ...] = ()
    actions: tuple[dict[str, Any], ...] = ()
    ingredients: tuple[dict[str, Any], ...] = ()
    signer: dict[str, str] = field(default_factory=dict)
    ai_generated: bool = False
    job_id: str = ""  # set when the manifest is ours (signed by our claim generator, with a job id)
    failures: tuple[str, ...] = ()  # the validator's failure codes, e.g. "assertion.bmffHash.mismatch"

    @property
    def has_manifest(self) -> bool:
        return self.state != "none"


def manifest_definition(claim: ProvenanceClaim, *, claim_generator: str) -> dict[str, Any]:
    """The C2PA manifest definition c2pa's Builder takes (JSON-shaped)."""
    created: dict[str, Any] = {
        "action": "c2pa.created",
        "softwareAgent": {"name": claim.generator, **({"version": claim.model} if claim.model else {})},
        "parameters": {"backend": claim.generator, "model": claim.model},
    }
    if claim.ai_generated:
        created["digitalSourceType"] = TRAINED_ALGORITHMIC_MEDIA
    actions = [created, *[dict(a) for a in claim.actions]]
    app = {"name": claim_generator, "job_id": claim.job_id, "creator": claim.creator_handle,
           "generator": claim.generator, "model": claim.model}
    assertions: list[dict[str, Any]] = [
        {"label": "c2pa.actions", "data": {"actions": actions}},
        {"label": APP_LABEL, "data": app},
    ]
    if claim.cameo_handles or claim.cameo_ids:
        assertions.append({"label": CAMEOS_LABEL, "data": {
            "cameos": [{"handle": h, **({"id": claim.cameo_ids[i]} if i < len(claim.cameo_ids) else {})}
                       for i, h in enumerate(claim.cameo_handles)]}})
    return {
        "claim_generator_info": [{"name": claim_generator}],
        "title": claim.title[:200],
        "format": "video/mp4",
        "assertions": assertions,
    }
