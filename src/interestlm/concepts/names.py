"""Concept kinds and their precedence; names are normalised by :func:`interestlm.core.names.normalise_name`."""

from __future__ import annotations

from interestlm.core.schema import CONCEPT_KINDS

#: Kinds that come from a catalog's structured fields (never dropped for rarity, never merged together).
STRUCTURED_KINDS: frozenset[str] = frozenset({"genre", "category", "brand", "attribute"})

#: Kinds whose names are opaque ids (``"attribute 261"``): their embeddings say nothing about meaning.
OPAQUE_KINDS: frozenset[str] = frozenset({"attribute"})

#: When one name comes from several sources, the kind earliest here wins (structured before free text).
KIND_PRIORITY: dict[str, int] = {kind: rank for rank, kind in enumerate(CONCEPT_KINDS)}

__all__ = ["KIND_PRIORITY", "OPAQUE_KINDS", "STRUCTURED_KINDS"]
