"""Reading a video's C2PA manifest back: what it claims, and whether the claim still holds."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import c2pa
from django.conf import settings

from .claims import APP_LABEL, CAMEOS_LABEL, TRAINED_ALGORITHMIC_MEDIA, ProvenanceReport
from .keys import trust_anchors_pem
from .signing import MP4

logger = logging.getLogger(__name__)


def _context(anchors: str) -> c2pa.Context:
    # Trust is checked only against our configured anchors: a verify must not call "trusted"
    # whatever some public list happens to hold.
    config: dict[str, Any] = {"verify": {"verify_trust": bool(anchors)}}
    if anchors:
        config["trust"] = {"trust_anchors": anchors}
    return c2pa.Context(settings=c2pa.Settings.from_dict(config))


def _assertion(manifest: dict, label: str) -> dict:
    for assertion in manifest.get("assertions", []):
        if assertion.get("label") == label:
            return assertion.get("data") or {}
    return {}


def _actions(manifest: dict) -> list[dict]:
    actions: list[dict] = []
    for assertion in manifest.get("assertions", []):
        if assertion.get("label", "").startswith("c2pa.actions"):
            actions += (assertion.get("data") or {}).get("actions", [])
    return actions


def _failures(results: dict | None) -> tuple[str, ...]:
    active = (results or {}).get("activeManifest") or {}
    return tuple(item.get("code", "") for item in active.get("failure", []))


def _state(raw: str | None, failures: tuple[str, ...], anchors: str) -> str:
    if raw == "Trusted":
        return "trusted"
    if raw == "Invalid" or (raw != "Valid" and failures):
        return "invalid"
    # Valid: intact. With anchors configured, an intact manifest that is not trusted has a signer
    # outside them (the validator reports it as signingCredential.untrusted).
    return "untrusted" if anchors else "valid"


def provenance_read(path: Path) -> ProvenanceReport:
    """The manifest summary of the video at `path` and its validation state ("none": no manifest)."""
    anchors = trust_anchors_pem()
    try:
        with open(path, "rb") as fh, _context(anchors) as context:
            reader = c2pa.Reader.try_create(MP4, fh, None, context)
            if reader is None:
                return ProvenanceReport(state="none")
            with reader:
                manifest = reader.get_active_manifest() or {}
                raw_state = reader.get_validation_state()
                results = reader.get_validation_results()
    except c2pa.C2paError as exc:
        # A manifest so broken it cannot be parsed (e.g. its JUMBF box was altered) is a failed one.
        logger.info("provenance.read_failed", extra={"error": str(exc)[:200]})
        return ProvenanceReport(state="invalid", failures=(type(exc).__name__,))
    failures = _failures(results)
    actions = _actions(manifest)
    app = _assertion(manifest, APP_LABEL)
    cameos = _assertion(manifest, CAMEOS_LABEL).get("cameos", [])
    claim_generators = [info.get("name", "") for info in manifest.get("claim_generator_info", [])]
    ours = (settings.PROVENANCE_CLAIM_GENERATOR in claim_generators
            and app.get("name") == settings.PROVENANCE_CLAIM_GENERATOR)
    state = _state(raw_state, failures, anchors)
    signature = manifest.get("signature_info") or {}
    return ProvenanceReport(
        state=state,
        title=manifest.get("title", ""),
        claim_generator=claim_generators[0] if claim_generators else "",
        generator=str(app.get("generator", "")) if ours else "",
        model=str(app.get("model", "")) if ours else "",
        creator_handle=str(app.get("creator", "")) if ours else "",
        cameos=tuple(str(c.get("handle", "")) for c in cameos) if ours else (),
        actions=tuple(actions),
        ingredients=tuple({"title": i.get("title", ""), "relationship": i.get("relationship", ""),
                           "format": i.get("format", "")} for i in manifest.get("ingredients", [])),
        signer={k: str(signature[k]) for k in ("issuer", "common_name", "alg", "time") if signature.get(k)},
        ai_generated=any(a.get("digitalSourceType") == TRAINED_ALGORITHMIC_MEDIA for a in actions),
        # Only a manifest signed under our anchors names one of our jobs: anyone can sign a
        # manifest that merely says "clipsocial" with a certificate of their own.
        job_id=str(app.get("job_id", "")) if ours and state == "trusted" else "",
        failures=failures,
    )
