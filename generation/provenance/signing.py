"""Signing: a C2PA manifest embedded into an MP4 (c2pa-python's Builder, the file's hash bound)."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import c2pa
from django.conf import settings

from .claims import ProvenanceClaim, manifest_definition
from .keys import SigningMaterial, signing_material

logger = logging.getLogger(__name__)

MP4 = "video/mp4"


class ProvenanceError(Exception):
    """Signing failed although it is configured (a bad key or chain, an unreadable video)."""


def _signer(material: SigningMaterial) -> c2pa.Signer:
    info = c2pa.C2paSignerInfo(material.alg.encode(), material.chain_pem, material.key_pem,
                               material.tsa_url.encode() if material.tsa_url else None)
    return c2pa.Signer.from_info(info)


def provenance_sign(src: Path, dst: Path, *, claim: ProvenanceClaim) -> bool:
    """Writes `src` with a signed manifest for `claim` to `dst` (another path). Returns False when
    signing is not configured (then `dst` is a plain copy of `src`). Raises ProvenanceError."""
    src, dst = Path(src), Path(dst)
    material = signing_material()
    if material is None:
        shutil.copyfile(src, dst)
        return False
    definition = manifest_definition(claim, claim_generator=settings.PROVENANCE_CLAIM_GENERATOR)
    try:
        with c2pa.Builder(definition) as builder:
            for ingredient in claim.ingredients:
                with open(ingredient.path, "rb") as fh:
                    builder.add_ingredient({"title": ingredient.title, "relationship": ingredient.relationship},
                                           MP4, fh)
            with _signer(material) as signer, open(src, "rb") as source, open(dst, "w+b") as dest:
                builder.sign(signer, MP4, source, dest)
    except (c2pa.C2paError, OSError, ValueError) as exc:
        dst.unlink(missing_ok=True)
        raise ProvenanceError(str(exc)) from exc
    return True
