"""Evaluation metrics as pure functions over ranked lists, scores and ratings.

Ranking metrics take ``topk`` (an ``(n, K)`` int array of item indices, best first, ``-1`` for
an empty slot) and ``targets`` (one array of relevant item indices per row). Per-row functions
return float64 arrays; :func:`ranking_metrics` averages them over the rows that have targets.

Two rules hold everywhere, so that a faulty ranker can never inflate a score:

- an empty slot (``-1``) is never a hit and never a recommended item;
- an item repeated within one ranked list counts once, at its best (first) rank; later copies
  behave like empty slots. Repeated targets count once too.

Beyond-accuracy metrics (coverage, diversity, novelty, Gini) describe the lists themselves;
:func:`rmse`, :func:`mae` and :func:`auc` score rating and relevance predictions.

Why one file over 400 lines: the metrics and their edge cases, checked together against an independent implementation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

FloatVec = npt.NDArray[np.float64]
BoolMatrix = npt.NDArray[np.bool_]


# --- ranked lists ---------------------------------------------------------------------------


def _as_topk(topk: npt.NDArray[np.integer]) -> npt.NDArray[np.int64]:
    arr = np.asarray(topk)
    if arr.ndim != 2:
        raise ValueError(f"topk must be a 2-D (rows, K) array, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"topk must hold integer item indices, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def _first_occurrence(topk: npt.NDArray[np.int64]) -> BoolMatrix:
    """True for real (non ``-1``) slots that hold the first copy of their item in the row."""
    if topk.shape[1] <= 1:
        return np.asarray(topk >= 0)
    # A stable sort keeps equal items in rank order, so only later copies are flagged.
    order = np.argsort(topk, axis=1, kind="stable")
    ranked = np.take_along_axis(topk, order, axis=1)
    repeat_sorted = np.zeros(topk.shape, dtype=bool)
    repeat_sorted[:, 1:] = ranked[:, 1:] == ranked[:, :-1]
    repeat = np.zeros(topk.shape, dtype=bool)
    np.put_along_axis(repeat, order, repeat_sorted, axis=1)
    return np.asarray((topk >= 0) & ~repeat)


def _hits_and_relevant(
    topk: npt.NDArray[np.integer], targets: Sequence[npt.NDArray[np.integer]]
) -> tuple[BoolMatrix, FloatVec]:
    """Hit matrix (first copies only) and the number of distinct targets per row."""
    ranked = _as_topk(topk)
    n, width = ranked.shape
    if len(targets) != n:
        raise ValueError(f"topk has {n} rows but targets has {len(targets)}")
    lengths = np.fromiter((np.size(t) for t in targets), dtype=np.int64, count=n)
    if lengths.sum() == 0:
        return np.zeros((n, width), dtype=bool), np.zeros(n, dtype=np.float64)
    flat = np.concatenate([np.asarray(t, dtype=np.int64).ravel() for t in targets])
    if flat.min() < 0:
        raise ValueError("targets must be item indices >= 0")
    rows = np.repeat(np.arange(n, dtype=np.int64), lengths)
    # One integer key per (row, item) pair makes the membership test a single sorted search.
    span = int(max(flat.max(), ranked.max(initial=0))) + 1
    target_keys = np.unique(rows * span + flat)
    n_relevant = np.bincount(target_keys // span, minlength=n).astype(np.float64)
    if width == 0:
        return np.zeros((n, 0), dtype=bool), n_relevant
    ranked_keys = np.arange(n, dtype=np.int64)[:, None] * span + ranked
    hits = np.isin(ranked_keys, target_keys) & _first_occurrence(ranked)
    return np.asarray(hits), n_relevant


def hit_matrix(topk: npt.NDArray[np.integer], targets: Sequence[npt.NDArray[np.integer]]) -> npt.NDArray[np.bool_]:
    """``hits[j, r]`` is true when the item at rank ``r`` of row ``j`` is one of its targets.

    Empty slots (``-1``) and repeated copies of an item already listed higher are never hits.
    """
    return _hits_and_relevant(topk, targets)[0]


def _check_k(k: int, width: int) -> None:
    if k < 1:
        raise ValueError(f"k must be >= 1, not {k}")
    if k > width:
        raise ValueError(f"k={k} exceeds the ranked list width {width}")


def _hr(hits: BoolMatrix, n_rel: FloatVec, k: int) -> FloatVec:
    return np.asarray(hits[:, :k].any(axis=1), dtype=np.float64)


def _recall(hits: BoolMatrix, n_rel: FloatVec, k: int) -> FloatVec:
    found = hits[:, :k].sum(axis=1).astype(np.float64)
    return np.asarray(np.divide(found, n_rel, out=np.zeros_like(found), where=n_rel > 0), dtype=np.float64)


def _precision(hits: BoolMatrix, n_rel: FloatVec, k: int) -> FloatVec:
    return np.asarray(hits[:, :k].sum(axis=1) / k, dtype=np.float64)


def _ndcg(hits: BoolMatrix, n_rel: FloatVec, k: int) -> FloatVec:
    discounts = 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))
    dcg = (hits[:, :k] * discounts).sum(axis=1)
    ideal_counts = np.minimum(n_rel, k).astype(np.int64)
    idcg = np.concatenate([[0.0], np.cumsum(discounts)])[ideal_counts]
    return np.asarray(np.divide(dcg, idcg, out=np.zeros_like(dcg), where=idcg > 0), dtype=np.float64)


def _mrr(hits: BoolMatrix, n_rel: FloatVec, k: int) -> FloatVec:
    top = hits[:, :k]
    first = top.argmax(axis=1)
    return np.where(top.any(axis=1), 1.0 / (first + 1.0), 0.0)


def _average_precision(hits: BoolMatrix, n_rel: FloatVec, k: int) -> FloatVec:
    top = hits[:, :k].astype(np.float64)
    prec_at = np.cumsum(top, axis=1) / np.arange(1, k + 1)
    num = (prec_at * top).sum(axis=1)
    denom = np.minimum(n_rel, k)
    return np.asarray(np.divide(num, denom, out=np.zeros_like(num), where=denom > 0), dtype=np.float64)


_Kernel = Callable[[BoolMatrix, FloatVec, int], FloatVec]


def _per_row(
    kernel: _Kernel, topk: npt.NDArray[np.integer], targets: Sequence[npt.NDArray[np.integer]], k: int
) -> FloatVec:
    _check_k(k, _as_topk(topk).shape[1])
    hits, n_rel = _hits_and_relevant(topk, targets)
    return kernel(hits, n_rel, k)


def hit_rate(topk: npt.NDArray[np.integer], targets: Sequence[npt.NDArray[np.integer]], k: int) -> FloatVec:
    """HR@k per row: 1 if any target is in the top k."""
    return _per_row(_hr, topk, targets, k)


def recall(topk: npt.NDArray[np.integer], targets: Sequence[npt.NDArray[np.integer]], k: int) -> FloatVec:
    """Recall@k per row: share of the row's distinct targets found in the top k (0 if none)."""
    return _per_row(_recall, topk, targets, k)


def precision(topk: npt.NDArray[np.integer], targets: Sequence[npt.NDArray[np.integer]], k: int) -> FloatVec:
    """Precision@k per row: hits in the top k divided by k (empty slots count as misses)."""
    return _per_row(_precision, topk, targets, k)


def ndcg(topk: npt.NDArray[np.integer], targets: Sequence[npt.NDArray[np.integer]], k: int) -> FloatVec:
    """NDCG@k per row with binary gains; the ideal DCG places min(#targets, k) hits first."""
    return _per_row(_ndcg, topk, targets, k)


def mrr(topk: npt.NDArray[np.integer], targets: Sequence[npt.NDArray[np.integer]], k: int) -> FloatVec:
    """MRR@k per row: 1 / rank of the first hit within the top k (0 when none)."""
    return _per_row(_mrr, topk, targets, k)


def average_precision(topk: npt.NDArray[np.integer], targets: Sequence[npt.NDArray[np.integer]], k: int) -> FloatVec:
    """AP@k per row: sum of precision@i at each hit rank i, divided by min(#targets, k).

    The ``min(#targets, k)`` denominator (the usual recommender convention) makes a perfect top
    k score 1 even when a row has more than k targets; trec_eval/ranx divide by #targets.
    """
    return _per_row(_average_precision, topk, targets, k)


RANKING_METRICS = {
    "hr": hit_rate,
    "recall": recall,
    "ndcg": ndcg,
    "mrr": mrr,
    "precision": precision,
    "map": average_precision,
}

_KERNELS: dict[str, _Kernel] = {
    "hr": _hr,
    "recall": _recall,
    "ndcg": _ndcg,
    "mrr": _mrr,
    "precision": _precision,
    "map": _average_precision,
}


def ranking_metrics(
    topk: npt.NDArray[np.integer], targets: Sequence[npt.NDArray[np.integer]], ks: Sequence[int]
) -> dict[str, float]:
    """Every ranking metric at every k, averaged over rows: keys like ``"ndcg@10"``.

    Rows without any target cannot be judged and are left out of the means; when no row has a
    target every mean is 0.0.
    """
    width = _as_topk(topk).shape[1]
    for k in ks:
        _check_k(k, width)
    hits, n_rel = _hits_and_relevant(topk, targets)
    judged = n_rel > 0
    out: dict[str, float] = {}
    for k in ks:
        for name, kernel in _KERNELS.items():
            values = kernel(hits, n_rel, k)[judged]
            out[f"{name}@{k}"] = float(values.mean()) if len(values) else 0.0
    return out


# --- beyond accuracy ------------------------------------------------------------------------


def _listed(
    topk: npt.NDArray[np.integer], k: int, n_items: int | None = None
) -> tuple[npt.NDArray[np.int64], BoolMatrix]:
    """The top-k prefix and the mask of its slots that count as recommended items."""
    ranked = _as_topk(topk)
    _check_k(k, ranked.shape[1])
    top = ranked[:, :k]
    if n_items is not None and top.size and top.max() >= n_items:
        raise ValueError(f"topk holds item index {int(top.max())}, but the catalog has {n_items} items")
    return top, _first_occurrence(top)


def item_user_counts(
    users: npt.NDArray[np.integer], items: npt.NDArray[np.integer], n_items: int
) -> npt.NDArray[np.int64]:
    """Number of distinct users per item (the popularity :func:`novelty` expects)."""
    u = np.asarray(users, dtype=np.int64)
    i = np.asarray(items, dtype=np.int64)
    if len(u) != len(i):
        raise ValueError(f"users has {len(u)} rows but items has {len(i)}")
    if len(i) == 0:
        return np.zeros(n_items, dtype=np.int64)
    span = int(i.max()) + 1
    pairs = np.unique(u * span + i)
    return np.bincount(pairs % span, minlength=n_items).astype(np.int64)


def catalog_coverage(topk: npt.NDArray[np.integer], n_items: int, k: int) -> float:
    """Share of the catalog that appears in at least one top-k list."""
    if n_items < 1:
        raise ValueError(f"n_items must be >= 1, not {n_items}")
    top, listed = _listed(topk, k, n_items)
    return float(len(np.unique(top[listed])) / n_items)


def gini_index(topk: npt.NDArray[np.integer], n_items: int, k: int) -> float:
    """Gini coefficient of how often each catalog item is recommended in the top k.

    0 when every item is recommended equally often, ``(n_items - 1) / n_items`` when a single
    item takes every slot. Items never recommended count with zero. 0.0 when nothing is listed.
    """
    if n_items < 1:
        raise ValueError(f"n_items must be >= 1, not {n_items}")
    top, listed = _listed(topk, k, n_items)
    counts = np.sort(np.bincount(top[listed], minlength=n_items)).astype(np.float64)
    total = counts.sum()
    if total == 0:
        return 0.0
    rank = np.arange(1, n_items + 1, dtype=np.float64)
    return float(((2.0 * rank - n_items - 1.0) * counts).sum() / (n_items * total))


def novelty(topk: npt.NDArray[np.integer], item_popularity: npt.ArrayLike, n_users: int, k: int) -> float:
    """Mean self-information ``-log2(popularity / n_users)`` of the recommended items.

    ``item_popularity[i]`` is the number of distinct training users of item ``i`` (see
    :func:`item_user_counts`). An item nobody has used counts as used by one user, so its
    novelty is the finite maximum ``log2(n_users)``. Averaged within each list, then over
    lists that recommend anything; 0.0 when none does.
    """
    pop = np.asarray(item_popularity, dtype=np.float64)
    if n_users < 1:
        raise ValueError(f"n_users must be >= 1, not {n_users}")
    if pop.ndim != 1:
        raise ValueError("item_popularity must be a 1-D array with one count per item")
    if len(pop) and (pop.max() > n_users or pop.min() < 0 or not np.isfinite(pop).all()):
        raise ValueError(
            f"item_popularity must count distinct users in [0, n_users={n_users}]; "
            f"got values in [{pop.min()}, {pop.max()}] (use item_user_counts, not row counts)"
        )
    top, listed = _listed(topk, k, len(pop))
    info = -np.log2(np.maximum(pop, 1.0) / n_users)
    per_slot = np.where(listed, info[np.where(listed, top, 0)], 0.0) if len(pop) else np.zeros(top.shape)
    n_listed = listed.sum(axis=1)
    has = n_listed > 0
    if not has.any():
        return 0.0
    return float((per_slot.sum(axis=1)[has] / n_listed[has]).mean())


def intra_list_diversity(
    topk: npt.NDArray[np.integer],
    item_vectors: npt.ArrayLike | sp.spmatrix | sp.sparray,
    k: int,
    *,
    batch_size: int | None = None,
) -> float:
    """Mean pairwise cosine distance ``1 - cos`` within each top-k list, averaged over lists.

    ``item_vectors`` is any ``(n_items, d)`` dense array or scipy sparse matrix; vectors need
    not be normalised. A zero vector has cosine 0 with everything (distance 1). Lists with fewer
    than two items have no pairs and are left out; 0.0 when no list has a pair.
    """
    sparse = sp.issparse(item_vectors)
    if sparse:
        from sklearn.preprocessing import normalize

        unit_sp = sp.csr_matrix(normalize(sp.csr_matrix(item_vectors, dtype=np.float64), norm="l2", axis=1))
        n_items, dim = unit_sp.shape
    else:
        dense = np.asarray(item_vectors, dtype=np.float64)
        if dense.ndim != 2:
            raise ValueError(f"item_vectors must be 2-D (n_items, d), got shape {dense.shape}")
        norms = np.linalg.norm(dense, axis=1, keepdims=True)
        unit = np.divide(dense, norms, out=np.zeros_like(dense), where=norms > 0)
        n_items, dim = unit.shape
    top, listed = _listed(topk, k, n_items)
    n = len(top)
    if batch_size is None:
        # Keep each batch's gathered vectors around 32 MB.
        batch_size = max(1, (1 << 22) // max(1, k * k if sparse else k * dim))
    upper = np.triu(np.ones((k, k), dtype=bool), 1)
    sums = np.zeros(n, dtype=np.float64)
    pairs = np.zeros(n, dtype=np.int64)
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        t = np.where(listed[start:stop], top[start:stop], 0)
        m = listed[start:stop]
        pair_mask = m[:, :, None] & m[:, None, :] & upper
        if sparse:
            b, i, j = np.nonzero(pair_mask)
            sim_pairs = np.asarray(unit_sp[t[b, i]].multiply(unit_sp[t[b, j]]).sum(axis=1)).ravel()
            dist = np.zeros(pair_mask.shape, dtype=np.float64)
            dist[b, i, j] = 1.0 - np.clip(sim_pairs, -1.0, 1.0)
        else:
            g = unit[t]
            dist = 1.0 - np.clip(np.einsum("bid,bjd->bij", g, g), -1.0, 1.0)
        sums[start:stop] = (dist * pair_mask).sum(axis=(1, 2))
        pairs[start:stop] = pair_mask.sum(axis=(1, 2))
    has = pairs > 0
    if not has.any():
        return 0.0
    return float((sums[has] / pairs[has]).mean())


def beyond_accuracy(
    topk: npt.NDArray[np.integer],
    k: int,
    *,
    n_items: int,
    item_popularity: npt.ArrayLike,
    n_users: int,
    item_vectors: npt.ArrayLike | sp.spmatrix | sp.sparray | None = None,
) -> dict[str, float]:
    """Coverage, Gini, novelty and (with ``item_vectors``) intra-list diversity at ``k``.

    Keys: ``"coverage"``, ``"gini"``, ``"novelty"`` and ``"diversity"``.
    """
    out = {
        "coverage": catalog_coverage(topk, n_items, k),
        "gini": gini_index(topk, n_items, k),
        "novelty": novelty(topk, item_popularity, n_users, k),
    }
    if item_vectors is not None:
        out["diversity"] = intra_list_diversity(topk, item_vectors, k)
    return out


# --- ratings and scores ---------------------------------------------------------------------


def _paired(predictions: npt.ArrayLike, truth: npt.ArrayLike) -> tuple[FloatVec, FloatVec]:
    p = np.asarray(predictions, dtype=np.float64)
    t = np.asarray(truth, dtype=np.float64)
    if p.shape != t.shape:
        raise ValueError(f"predictions have shape {p.shape} but truth has {t.shape}")
    if p.size == 0:
        raise ValueError("no predictions to score")
    if not (np.isfinite(p).all() and np.isfinite(t).all()):
        raise ValueError("predictions and truth must be finite (select rated rows first)")
    return p, t


def rmse(predictions: npt.ArrayLike, truth: npt.ArrayLike) -> float:
    """Root mean squared error between predicted and true ratings."""
    p, t = _paired(predictions, truth)
    return float(np.sqrt(np.mean((p - t) ** 2)))


def mae(predictions: npt.ArrayLike, truth: npt.ArrayLike) -> float:
    """Mean absolute error between predicted and true ratings."""
    p, t = _paired(predictions, truth)
    return float(np.mean(np.abs(p - t)))


def row_auc(scores: npt.ArrayLike, labels: npt.ArrayLike) -> FloatVec:
    """ROC AUC of each row of a 2-D score matrix against binary labels.

    Computed from average ranks (Mann-Whitney U), so tied scores count one half. A row without
    both a positive and a negative label has no AUC and gets NaN.
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels)
    if s.ndim != 2:
        raise ValueError(f"row_auc needs 2-D scores, got shape {s.shape}")
    if s.shape != y.shape:
        raise ValueError(f"scores have shape {s.shape} but labels have {y.shape}")
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite")
    if y.size and not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be binary (0/1 or bool)")
    pos = y.astype(bool)
    n_pos = pos.sum(axis=1).astype(np.float64)
    n_neg = s.shape[1] - n_pos
    if s.shape[1] == 0:
        return np.full(s.shape[0], np.nan)
    from scipy.stats import rankdata  # on first use: scipy.stats takes a second to import

    ranks = rankdata(s, method="average", axis=1)
    u = (ranks * pos).sum(axis=1) - n_pos * (n_pos + 1.0) / 2.0
    denom = n_pos * n_neg
    return np.asarray(np.divide(u, denom, out=np.full(len(u), np.nan), where=denom > 0), dtype=np.float64)


def auc(scores: npt.ArrayLike, labels: npt.ArrayLike) -> float:
    """ROC AUC from ranks, ties counting one half.

    1-D input: the global AUC over all entries. 2-D input: the mean of the per-row AUCs
    (:func:`row_auc`) over rows that have both classes. Raises when no AUC is defined.
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels)
    if s.ndim == 1:
        value = row_auc(s[None, :], y[None, :] if y.ndim == 1 else y)[0]
        if np.isnan(value):
            raise ValueError("AUC needs at least one positive and one negative label")
        return float(value)
    if s.ndim == 2:
        values = row_auc(s, y)
        defined = ~np.isnan(values)
        if not defined.any():
            raise ValueError("AUC needs a row with at least one positive and one negative label")
        return float(values[defined].mean())
    raise ValueError(f"auc needs 1-D or 2-D scores, got shape {s.shape}")
