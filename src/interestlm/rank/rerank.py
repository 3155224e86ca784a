"""The last ranking steps: filters (seen items, the user's muted concepts), pins, and MMR diversity."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from interestlm.rank.fusion import Fusion
from interestlm.retrieve.concepts import normalise_name
from interestlm.schema import FloatArray, IntArray, InterestProfile, ItemConcepts


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
    pin_boost: float = 1.0,
) -> tuple[npt.NDArray[np.bool_], FloatArray]:
    """``(muted_items, boost)`` over all items for a user's edits (concept names; unknown ones ignored).

    ``muted_items[i]`` is True when item ``i`` carries any muted concept: remove it.
    ``boost[i]`` is ``pin_boost`` times the item's largest weight on a pinned concept (0 for muted
    items): add it to the fused score, which is in standard-deviation units of the signals.
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
        boost = np.float32(pin_boost) * strongest
        boost[mask] = 0.0
    return mask, boost.astype(np.float32)


def filter_seen(scores: npt.ArrayLike, exclude: sp.spmatrix | Sequence[npt.ArrayLike]) -> FloatArray:
    """A float32 copy of ``(n_rows, n_items)`` ``scores`` with ``-inf`` where ``exclude`` marks an item.

    ``exclude`` is a sparse ``(n_rows, n_items)`` matrix or one array of item indices per row.
    """
    out = np.array(scores, dtype=np.float32, copy=True)
    if out.ndim != 2:
        raise ValueError(f"filter_seen: scores must be 2-D (rows, items), got shape {out.shape}")
    if sp.issparse(exclude):
        coo = sp.coo_matrix(exclude)
        if coo.shape != out.shape:
            raise ValueError(f"filter_seen: exclude has shape {coo.shape}, scores {out.shape}")
        out[coo.row, coo.col] = -np.inf
        return out
    rows = list(exclude)
    if len(rows) != out.shape[0]:
        raise ValueError(f"filter_seen: {len(rows)} exclusion lists for {out.shape[0]} score rows")
    for r, items in enumerate(rows):
        cols = np.asarray(items, dtype=np.int64).ravel()
        if len(cols) and (cols.min() < 0 or cols.max() >= out.shape[1]):
            raise ValueError(f"filter_seen: row {r} excludes items outside [0, {out.shape[1]})")
        out[r, cols] = -np.inf
    return out


def rank_items(
    profile: InterestProfile,
    signals: Mapping[str, npt.NDArray[np.floating]],
    fusion: Fusion,
    *,
    item_concepts: ItemConcepts,
    item_vectors: FloatArray,
    k: int,
    items: npt.ArrayLike | None = None,
    diversity: float = 0.0,
    exclude: Iterable[int] | None = None,
    pin_boost: float = 1.0,
    pool: int | None = None,
) -> tuple[IntArray, FloatArray]:
    """Top-``k`` ``(items, fused scores)`` for one profile, best first.

    ``signals`` are this profile's signal rows (1-D, or ``(1, n)``) over ``items`` (default: the
    whole catalogue). Seen, disliked, ``exclude``-d and muted items are removed, pinned ones
    boosted (:func:`edit_mask`), then MMR re-ranks the best ``pool`` (default ``max(5k, 50)``).
    """
    fused = np.asarray(fusion.score(signals), dtype=np.float32).ravel()
    cand = np.arange(item_concepts.n_items, dtype=np.int64) if items is None else np.asarray(items, np.int64).ravel()
    if len(fused) != len(cand):
        raise ValueError(f"rank_items: signals score {len(fused)} items, expected {len(cand)}")
    if len(cand) and (cand.min() < 0 or cand.max() >= item_concepts.n_items):
        raise ValueError(f"rank_items: items must lie in [0, {item_concepts.n_items})")
    muted, boost = edit_mask(item_concepts, muted=profile.edits.muted, pinned=profile.edits.pinned, pin_boost=pin_boost)
    fused = fused + boost[cand]
    banned = np.zeros(item_concepts.n_items, dtype=bool)
    banned[np.asarray(profile.history.items, dtype=np.int64)] = True
    banned[np.asarray(profile.dislikes, dtype=np.int64)] = True
    if exclude is not None:
        excl = np.fromiter(exclude, dtype=np.int64)
        banned[excl[(excl >= 0) & (excl < len(banned))]] = True
    keep = ~(banned[cand] | muted[cand]) & np.isfinite(fused)
    cand, fused = cand[keep], fused[keep]
    size = min(len(cand), pool if pool is not None else max(5 * k, 50))
    if size == 0:
        return np.zeros(0, np.int32), np.zeros(0, np.float32)
    best = np.lexsort((cand, -fused))[:size]
    chosen = mmr(fused[best], cand[best], item_vectors, k, diversity=diversity)
    score_of = dict(zip(cand[best].tolist(), fused[best].tolist(), strict=True))
    return chosen, np.asarray([score_of[int(i)] for i in chosen], dtype=np.float32)
