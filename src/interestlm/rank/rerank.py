"""The last ranking steps, used by :class:`~interestlm.rank.ranker.Ranker`: the user's muted and
pinned concepts as item masks, and MMR diversity."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from interestlm.core.names import normalise_name
from interestlm.core.schema import ItemConcepts
from interestlm.core.types import FloatArray, IntArray


def mmr(
    candidate_scores: npt.ArrayLike,
    candidate_items: npt.ArrayLike,
    item_vectors: FloatArray,
    k: int,
    *,
    diversity: float,
) -> IntArray:
    """Maximal marginal relevance: ``k`` items picked greedily by ``(1 - diversity) * rel - diversity * max_sim``.

    ``rel`` is the score min-max scaled to ``[0, 1]`` over the candidates; ``max_sim`` the
    largest cosine (inner product of unit vectors) to an item already picked. ``diversity=0``
    is the plain top-``k`` by score (ties keep candidate order); higher values trade relevance
    for variety. Candidates with a non-finite score are never picked.
    """
    scores = np.asarray(candidate_scores, dtype=np.float64).ravel()
    items = np.asarray(candidate_items, dtype=np.int64).ravel()
    if len(scores) != len(items):
        raise ValueError(f"mmr: {len(scores)} scores but {len(items)} candidate items")
    if not 0.0 <= diversity <= 1.0:
        raise ValueError(f"mmr: diversity must be in [0, 1], got {diversity}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if np.isnan(scores).any():
        raise ValueError("mmr: candidate scores contain NaN")
    if len(items) and (items.min() < 0 or items.max() >= len(item_vectors)):
        raise ValueError(f"mmr: candidate items must lie in [0, {len(item_vectors)})")
    finite = np.isfinite(scores)
    scores, items = scores[finite], items[finite]
    if diversity == 0.0 or len(items) <= 1:
        return items[np.argsort(-scores, kind="stable")[:k]].astype(np.int32)
    span = scores.max() - scores.min()
    rel = (scores - scores.min()) / span if span > 0 else np.zeros_like(scores)
    vectors = np.asarray(item_vectors[items], dtype=np.float32)
    picked: list[int] = []
    taken = np.zeros(len(items), dtype=bool)
    max_sim = np.full(len(items), -np.inf)
    for step in range(min(k, len(items))):
        objective = rel.copy() if step == 0 else (1.0 - diversity) * rel - diversity * max_sim
        objective[taken] = -np.inf
        j = int(np.argmax(objective))
        picked.append(j)
        taken[j] = True
        max_sim = np.maximum(max_sim, vectors @ vectors[j])
    return items[picked].astype(np.int32)


def edit_mask(
    item_concepts: ItemConcepts,
    *,
    muted: Iterable[str],
    pinned: Iterable[str],
) -> tuple[npt.NDArray[np.bool_], FloatArray]:
    """``(muted_items, boost)`` over all items for a user's edits (concept names; unknown ones ignored).

    ``muted_items[i]`` is True when item ``i`` carries any muted concept: remove it.
    ``boost[i]`` is the item's largest weight on a pinned concept (0 for muted items); the
    :class:`~interestlm.rank.ranker.Ranker` scales it to the user's score spread.
    """
    index = item_concepts.index_of()
    matrix = sp.csc_matrix(item_concepts.matrix, dtype=np.float32)
    muted_cols = sorted({index[n] for n in map(normalise_name, muted) if n in index})
    pinned_cols = sorted({index[n] for n in map(normalise_name, pinned) if n in index})
    n = item_concepts.n_items
    mask = np.zeros(n, dtype=bool)
    if muted_cols:
        mask[matrix[:, muted_cols].tocoo().row] = True
    boost = np.zeros(n, dtype=np.float32)
    if pinned_cols:
        strongest = np.asarray(matrix[:, pinned_cols].max(axis=1).toarray(), dtype=np.float32).ravel()
        boost = strongest
        boost[mask] = 0.0
    return mask, boost.astype(np.float32)
