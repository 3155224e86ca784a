"""Evaluation metrics as pure functions over ranked lists.

Ranking metrics take ``topk`` (an ``(n, K)`` int array of item indices, best first, ``-1`` for
an empty slot) and ``targets`` (one array of relevant item indices per row). Per-row functions
return float64 arrays; :func:`ranking_metrics` averages them over rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

FloatVec = npt.NDArray[np.float64]


def hit_matrix(topk: npt.NDArray[np.integer], targets: Sequence[npt.NDArray[np.integer]]) -> npt.NDArray[np.bool_]:
    """``hits[j, r]`` is true when the item at rank ``r`` of row ``j`` is one of its targets."""
    n, width = topk.shape
    if len(targets) != n:
        raise ValueError(f"topk has {n} rows but targets has {len(targets)}")
    lengths = np.fromiter((len(t) for t in targets), dtype=np.int64, count=n)
    hits = np.zeros((n, width), dtype=bool)
    if width == 0 or lengths.sum() == 0:
        return hits
    if lengths.max() == 1:
        # The common leave-one-out case: one target per row, fully vectorised.
        one = np.full(n, -2, dtype=np.int64)
        has = lengths == 1
        one[has] = np.fromiter((int(t[0]) for t, h in zip(targets, has, strict=True) if h), dtype=np.int64)
        return np.asarray(topk == one[:, None])
    for j, t in enumerate(targets):
        if len(t):
            hits[j] = np.isin(topk[j], t)
    return hits


def _check_k(k: int, width: int) -> None:
    if k < 1:
        raise ValueError(f"k must be >= 1, not {k}")
    if k > width:
        raise ValueError(f"k={k} exceeds the ranked list width {width}")


def _n_relevant(targets: Sequence[npt.NDArray[np.integer]]) -> FloatVec:
    return np.fromiter((len(np.unique(t)) for t in targets), dtype=np.float64, count=len(targets))


def hit_rate(topk: npt.NDArray[np.integer], targets: Sequence[npt.NDArray[np.integer]], k: int) -> FloatVec:
    """HR@k per row: 1 if any target is in the top k."""
    _check_k(k, topk.shape[1])
    return hit_matrix(topk[:, :k], targets).any(axis=1).astype(np.float64)


def recall(topk: npt.NDArray[np.integer], targets: Sequence[npt.NDArray[np.integer]], k: int) -> FloatVec:
    """Recall@k per row: share of the row's distinct targets found in the top k (0 if none)."""
    _check_k(k, topk.shape[1])
    n_rel = _n_relevant(targets)
    hits = hit_matrix(topk[:, :k], targets).sum(axis=1).astype(np.float64)
    return np.divide(hits, n_rel, out=np.zeros_like(hits), where=n_rel > 0)


def precision(topk: npt.NDArray[np.integer], targets: Sequence[npt.NDArray[np.integer]], k: int) -> FloatVec:
    """Precision@k per row: hits in the top k divided by k."""
    _check_k(k, topk.shape[1])
    return np.asarray(hit_matrix(topk[:, :k], targets).sum(axis=1) / k, dtype=np.float64)


def ndcg(topk: npt.NDArray[np.integer], targets: Sequence[npt.NDArray[np.integer]], k: int) -> FloatVec:
    """NDCG@k per row with binary gains; the ideal DCG places min(#targets, k) hits first."""
    _check_k(k, topk.shape[1])
    discounts = 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))
    dcg = (hit_matrix(topk[:, :k], targets) * discounts).sum(axis=1)
    ideal_counts = np.minimum(_n_relevant(targets), k).astype(np.int64)
    cum = np.concatenate([[0.0], np.cumsum(discounts)])
    idcg = cum[ideal_counts]
    return np.divide(dcg, idcg, out=np.zeros_like(dcg), where=idcg > 0)


def mrr(topk: npt.NDArray[np.integer], targets: Sequence[npt.NDArray[np.integer]], k: int) -> FloatVec:
    """MRR@k per row: 1 / rank of the first hit within the top k (0 when none)."""
    _check_k(k, topk.shape[1])
    hits = hit_matrix(topk[:, :k], targets)
    first = hits.argmax(axis=1)
    return np.where(hits.any(axis=1), 1.0 / (first + 1.0), 0.0)


def average_precision(
    topk: npt.NDArray[np.integer], targets: Sequence[npt.NDArray[np.integer]], k: int
) -> FloatVec:
    """AP@k per row: mean of precision@i at each hit rank i, over min(#targets, k)."""
    _check_k(k, topk.shape[1])
    hits = hit_matrix(topk[:, :k], targets).astype(np.float64)
    prec_at = np.cumsum(hits, axis=1) / np.arange(1, k + 1)
    denom = np.minimum(_n_relevant(targets), k)
    num = (prec_at * hits).sum(axis=1)
    return np.divide(num, denom, out=np.zeros_like(num), where=denom > 0)


RANKING_METRICS = {
    "hr": hit_rate,
    "recall": recall,
    "ndcg": ndcg,
    "mrr": mrr,
    "precision": precision,
    "map": average_precision,
}


def ranking_metrics(
    topk: npt.NDArray[np.integer], targets: Sequence[npt.NDArray[np.integer]], ks: Sequence[int]
) -> dict[str, float]:
    """Every ranking metric at every k, averaged over rows: keys like ``"ndcg@10"``."""
    out: dict[str, float] = {}
    for k in ks:
        for name, fn in RANKING_METRICS.items():
            values = fn(topk, targets, k)
            out[f"{name}@{k}"] = float(values.mean()) if len(values) else 0.0
    return out
