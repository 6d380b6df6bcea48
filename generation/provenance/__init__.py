"""Signed C2PA provenance for every MP4 the backend stores, and reading it back.

The public surface (other code, e.g. renditions, signs through these and nothing else):
`Ingredient`, `ProvenanceClaim`, `ProvenanceReport`, `provenance_sign`, `provenance_read`.
"""

from .claims import Ingredient, ProvenanceClaim, ProvenanceReport
from .reading import provenance_read
from .signing import provenance_sign

__all__ = ["Ingredient", "ProvenanceClaim", "ProvenanceReport", "provenance_read", "provenance_sign"]
