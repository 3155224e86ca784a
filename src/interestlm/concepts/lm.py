"""Concepts for items whose fields are thin, chosen by a language model from the vocabulary.

An item with fewer than ``min_concepts`` concepts (no genres or tags, a short text) gets up to
``k`` more: the model sees the item's text and the vocabulary concepts nearest to the item's
vector, and picks among them. Only names from that shown list are kept (anything else rejects
the reply), and they enter at a lower weight than concepts read from fields.
:func:`enrich_thin_items` does all of it for a catalog (``Recommender.fit`` calls it when
``[recommender.concepts] lm_thin_items`` is on) and records what it did.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import scipy.sparse as sp

from interestlm.concepts.names import OPAQUE_KINDS
from interestlm.core.names import normalise_name
from interestlm.core.schema import ItemConcepts
from interestlm.core.types import FloatArray, IntArray
from interestlm.lm import Generator, load_prompt

_MAX_TEXT = 400
_N_CANDIDATES = 12


def thin_items(item_concepts: ItemConcepts, *, min_concepts: int = 2) -> IntArray:
    """Items with fewer than ``min_concepts`` concepts."""
    counts = np.diff(item_concepts.matrix.indptr)
    return np.flatnonzero(counts < min_concepts).astype(np.int32)


def candidate_concepts(item_concepts: ItemConcepts, vector: FloatArray, *, exclude: set[int], k: int) -> list[str]:
    """The ``k`` concepts nearest to an item vector (concept embeddings), skipping ``exclude`` and opaque ids."""
    if item_concepts.vectors is None:
        raise ValueError("choosing concepts needs ItemConcepts.vectors (concept embeddings)")
    order = np.argsort(-(item_concepts.vectors @ vector), kind="stable")
    kinds = item_concepts.kinds
    return [item_concepts.names[c] for c in order.tolist() if c not in exclude and kinds[c] not in OPAQUE_KINDS][:k]


def validate_choice(raw: str, candidates: Sequence[str], *, k: int) -> list[str]:
    """Names of the shown candidates in the reply (at most ``k``); ValueError when there are none."""
    padded = f" {normalise_name(raw)} "
    chosen = [c for c in candidates if f" {normalise_name(c)} " in padded]
    if not chosen:
        raise ValueError("empty: names none of the topics shown")
    # Naming the whole list back is no choice at all.
    if len(chosen) > max(k, len(candidates) // 2):
        raise ValueError(f"no choice: names {len(chosen)} of {len(candidates)} topics")
    return chosen[:k]


def _validator(candidates: list[str], k: int) -> Callable[[str], str]:
    return lambda raw: "\n".join(validate_choice(raw, candidates, k=k))


def lm_item_concepts(
    items: Sequence[int],
    generator: Generator,
    *,
    item_concepts: ItemConcepts,
    item_vectors: FloatArray,
    texts: Sequence[str],
    k: int = 3,
) -> dict[int, tuple[str, ...]]:
    """Up to ``k`` new vocabulary concepts per item (items whose reply was rejected get none)."""
    prompt = load_prompt("item_concepts")
    out: dict[int, tuple[str, ...]] = {}
    for item in items:
        have = {c for c, _ in item_concepts.of_item(int(item))}
        candidates = candidate_concepts(item_concepts, item_vectors[item], exclude=have, k=_N_CANDIDATES)
        if not candidates:
            continue
        text = " ".join(texts[item].split())[:_MAX_TEXT]
        result = generator.generate(
            prompt,
            {"item": text, "topics": ", ".join(candidates)},
            _validator(candidates, k),
            max_tokens=32,
        )
        if result.text:
            out[int(item)] = tuple(result.text.split("\n"))
    return out


def add_item_concepts(
    item_concepts: ItemConcepts, found: dict[int, tuple[str, ...]], *, weight: float = 0.5
) -> ItemConcepts:
    """``item_concepts`` with the ``found`` concepts added at ``weight`` (existing weights kept)."""
    index = item_concepts.index_of()
    rows, cols = [], []
    for item, names in found.items():
        for name in names:
            rows.append(item)
            cols.append(index[normalise_name(name)])
    extra = sp.csr_matrix(
        (np.full(len(rows), weight, np.float32), (rows, cols)), shape=item_concepts.matrix.shape, dtype=np.float32
    )
    return replace(item_concepts, matrix=item_concepts.matrix.maximum(extra).tocsr())


def enrich_thin_items(
    item_concepts: ItemConcepts,
    generator: Generator,
    *,
    item_vectors: FloatArray,
    texts: Sequence[str],
    item_ids: Sequence[str],
    min_concepts: int = 2,
    max_concepts: int = 3,
    max_items: int = 500,
    weight: float = 0.5,
) -> tuple[ItemConcepts, dict[str, Any]]:
    """Items with fewer than ``min_concepts`` concepts get LM-chosen vocabulary concepts.

    At most ``max_items`` thin items are asked about (fewest concepts first, then catalog order).
    Returns the enriched concepts and a JSON-ready record of what happened: how many items were
    thin, asked, enriched, how many replies were rejected (or failed), which model and prompt
    wrote them, and the concepts added per item id.
    """
    if len(item_ids) != item_concepts.n_items or len(texts) != item_concepts.n_items:
        raise ValueError(
            f"enrich_thin_items needs one item id and text per item ({item_concepts.n_items}), "
            f"got {len(item_ids)} ids and {len(texts)} texts"
        )
    thin = thin_items(item_concepts, min_concepts=min_concepts)
    counts = np.diff(item_concepts.matrix.indptr)[thin]
    asked = thin[np.argsort(counts, kind="stable")][:max_items]
    before = generator.stats.to_json()
    found = lm_item_concepts(
        asked.tolist(),
        generator,
        item_concepts=item_concepts,
        item_vectors=item_vectors,
        texts=texts,
        k=max_concepts,
    )
    after = generator.stats.to_json()
    record: dict[str, Any] = {
        "source": generator.source,
        "prompt": load_prompt("item_concepts").tag,
        "min_concepts": min_concepts,
        "thin_items": len(thin),
        "asked": len(asked),
        "enriched": len(found),
        "concepts_added": sum(len(names) for names in found.values()),
        **{key: after[key] - before[key] for key in ("calls", "cache_hits", "accepted", "rejected", "errors")},
        "items": {str(item_ids[item]): list(names) for item, names in sorted(found.items())},
    }
    return (add_item_concepts(item_concepts, found, weight=weight) if found else item_concepts), record
