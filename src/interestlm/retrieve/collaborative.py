"""Item-item co-occurrence and next-item transitions from user histories; popularity counts."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Self

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from interestlm.core.topk import top_k_per_row
from interestlm.core.types import FloatArray, IntArray


def _flatten(sequences: Sequence[npt.NDArray[np.integer]], n_items: int) -> tuple[IntArray, IntArray]:
    """All items in order and the sequence each belongs to; items checked against ``n_items``."""
    if n_items < 0:
        raise ValueError(f"n_items must be >= 0, got {n_items}")
    lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
    items = (
        np.concatenate([np.asarray(s, dtype=np.int64) for s in sequences]) if len(sequences) else np.zeros(0, np.int64)
    )
    if len(items) and (items.min() < 0 or items.max() >= n_items):
        bad = int(np.flatnonzero((items < 0) | (items >= n_items))[0])
        owner = int(np.searchsorted(np.cumsum(lengths), bad, side="right"))
        raise ValueError(f"sequence {owner} holds item {int(items[bad])}, outside [0, {n_items})")
    owners = np.repeat(np.arange(len(sequences), dtype=np.int32), lengths)
    return items.astype(np.int32), owners


def _unique_rows(columns: list[npt.NDArray[np.int64]], bounds: list[int]) -> npt.NDArray[np.int64]:
    """Distinct rows of the stacked ``columns`` (column ``j`` in ``[0, bounds[j])``), sorted."""
    if not len(columns[0]):
        return np.zeros((0, len(columns)), np.int64)
    if float(np.prod([float(max(b, 1)) for b in bounds])) < 2.0**62:
        # One mixed-radix int64 key per row: a 1-D unique is far faster than unique(axis=0).
        key = np.zeros(len(columns[0]), np.int64)
        for col, bound in zip(columns, bounds, strict=True):
            key = key * max(bound, 1) + col
        key = np.unique(key)
        out = np.empty((len(key), len(columns)), np.int64)
        for j in range(len(columns) - 1, -1, -1):
            out[:, j] = key % max(bounds[j], 1)
            key = key // max(bounds[j], 1)
        return out
    return np.unique(np.stack(columns, axis=1), axis=0)


def _aggregate(
    matrix: sp.csr_matrix,
    items: npt.ArrayLike,
    k: int,
    weights: npt.ArrayLike | None,
    exclude: Iterable[int] | None,
) -> tuple[FloatArray, IntArray]:
    """Up to ``k`` items with the largest positive ``sum_j weights_j * matrix[items_j]``."""
    return _aggregate_many(matrix, [items], k, [weights], [exclude])[0]


def _aggregate_many(
    matrix: sp.csr_matrix,
    items: Sequence[npt.ArrayLike],
    k: int,
    weights: Sequence[npt.ArrayLike | None],
    exclude: Sequence[Iterable[int] | None],
) -> list[tuple[FloatArray, IntArray]]:
    """:func:`_aggregate` for several item lists at once: one sparse product for all of them."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    n = matrix.shape[0]
    sources: list[npt.NDArray[np.int64]] = []
    factors: list[FloatArray] = []
    for src_like, w_like in zip(items, weights, strict=True):
        src = np.asarray(src_like, dtype=np.int64).ravel()
        if len(src) and (src.min() < 0 or src.max() >= n):
            raise ValueError(f"items must lie in [0, {n})")
        w = np.ones(len(src), np.float32) if w_like is None else np.asarray(w_like, dtype=np.float32).ravel()
        if len(w) != len(src):
            raise ValueError(f"weights has {len(w)} entries, items has {len(src)}")
        sources.append(src)
        factors.append(w)
    sizes = [len(x) for x in sources]
    # Sparse rows (the items related to each list only): a dense one cost O(n_items) per list.
    # Each list's rows are summed one by one, weights unmerged, as for a single list.
    picks = sp.csr_matrix(
        (
            np.concatenate(factors) if factors else np.zeros(0, np.float32),
            np.arange(sum(sizes), dtype=np.int64),
            np.r_[0, np.cumsum(sizes)].astype(np.int64),
        ),
        shape=(len(sources), sum(sizes)),
    )
    summed = sp.csr_matrix(picks @ matrix[np.concatenate(sources) if sources else np.zeros(0, np.int64)])
    summed.sum_duplicates()
    out: list[tuple[FloatArray, IntArray]] = []
    for row, excl_like in enumerate(exclude):
        lo, hi = summed.indptr[row], summed.indptr[row + 1]
        hits = summed.indices[lo:hi].astype(np.int64)
        scores = summed.data[lo:hi].astype(np.float32)
        if excl_like is not None:
            excl = np.fromiter(excl_like, dtype=np.int64)
            scores = np.where(np.isin(hits, excl), np.float32(0.0), scores)
        positive = scores > 0
        hits, scores = hits[positive], scores[positive]
        order = np.lexsort((hits, -scores))[:k]
        out.append((scores[order], hits[order].astype(np.int32)))
    return out


class Cooccurrence:
    """Item-item relations from histories: symmetric co-occurrence and directed next-item transitions.

    ``similarity_[a, b]`` is the number of users who have ``a`` and ``b`` within ``window``
    positions of each other, divided by ``sqrt(users(a) * users(b))`` (cosine, in ``[0, 1]``).
    ``transition_[a, b]`` is the share of ``a``'s successors that were ``b`` (rows sum to <= 1).
    Both keep only the ``k`` strongest entries per row (sparse); no item relates to itself.
    """

    def __init__(self, *, window: int = 10, k: int = 50) -> None:
        self.window = window
        self.k = k

    def fit(self, sequences: Sequence[npt.NDArray[np.integer]], n_items: int) -> Self:
        """Count pairs in time-ordered ``sequences`` (one per user) over ``n_items`` items."""
        if self.window < 1:
            raise ValueError(f"Cooccurrence.window must be >= 1, got {self.window}")
        if self.k < 1:
            raise ValueError(f"Cooccurrence.k must be >= 1, got {self.k}")
        items, owners = _flatten(sequences, n_items)
        n = n_items
        lo_parts: list[npt.NDArray[np.int64]] = [np.zeros(0, np.int64)]
        hi_parts: list[npt.NDArray[np.int64]] = [np.zeros(0, np.int64)]
        user_parts: list[npt.NDArray[np.int64]] = [np.zeros(0, np.int64)]
        for d in range(1, min(self.window, max(len(items) - 1, 0)) + 1):
            same = (owners[:-d] == owners[d:]) & (items[:-d] != items[d:])
            a, b = items[:-d][same].astype(np.int64), items[d:][same].astype(np.int64)
            lo_parts.append(np.minimum(a, b))
            hi_parts.append(np.maximum(a, b))
            user_parts.append(owners[:-d][same].astype(np.int64))
        lo, hi, users = np.concatenate(lo_parts), np.concatenate(hi_parts), np.concatenate(user_parts)
        # One vote per user and pair, so a user who repeats items cannot outweigh the others.
        triples = _unique_rows([users, lo, hi], [len(sequences), n, n])
        pairs = sp.coo_matrix((np.ones(len(triples), np.float32), (triples[:, 1], triples[:, 2])), shape=(n, n)).tocsr()
        pairs.sum_duplicates()
        sym = (pairs + pairs.T).tocoo()
        user_item = _unique_rows([owners.astype(np.int64), items.astype(np.int64)], [len(sequences), n])
        n_users_of = np.bincount(user_item[:, 1], minlength=n).astype(np.float32)
        cosine = sym.data / np.sqrt(n_users_of[sym.row] * n_users_of[sym.col])
        self.similarity_: sp.csr_matrix = top_k_per_row(
            sp.coo_matrix((cosine.astype(np.float32), (sym.row, sym.col)), shape=(n, n)), self.k
        )
        step = (owners[:-1] == owners[1:]) & (items[:-1] != items[1:]) if len(items) > 1 else np.zeros(0, bool)
        counts = sp.coo_matrix(
            (np.ones(int(step.sum()), np.float32), (items[:-1][step], items[1:][step])), shape=(n, n)
        ).tocsr()
        counts.sum_duplicates()
        out_degree = np.asarray(counts.sum(axis=1), dtype=np.float32).ravel()
        scale = np.divide(1.0, out_degree, out=np.zeros_like(out_degree), where=out_degree > 0)
        self.transition_: sp.csr_matrix = top_k_per_row(sp.diags(scale) @ counts, self.k)
        self.counts_: FloatArray = np.bincount(items, minlength=n).astype(np.float32)
        return self

    def _fitted(self) -> None:
        if not hasattr(self, "similarity_"):
            raise RuntimeError("Cooccurrence used before fit")

    def neighbours(
        self,
        items: npt.ArrayLike,
        k: int,
        *,
        weights: npt.ArrayLike | None = None,
        exclude: Iterable[int] | None = None,
    ) -> tuple[FloatArray, IntArray]:
        """Up to ``k`` ``(scores, items)`` most co-occurring with ``items`` (weighted sum of rows)."""
        self._fitted()
        return _aggregate(self.similarity_, items, k, weights, exclude)

    def next_items(
        self,
        items: npt.ArrayLike,
        k: int,
        *,
        weights: npt.ArrayLike | None = None,
        exclude: Iterable[int] | None = None,
    ) -> tuple[FloatArray, IntArray]:
        """Up to ``k`` ``(scores, items)`` most often following ``items`` (weighted sum of transition rows)."""
        self._fitted()
        return _aggregate(self.transition_, items, k, weights, exclude)

    def related_many(
        self,
        items: Sequence[npt.ArrayLike],
        k: int,
        *,
        weights: Sequence[npt.ArrayLike | None],
        exclude: Sequence[Iterable[int] | None],
    ) -> tuple[list[IntArray], list[IntArray]]:
        """:meth:`next_items` and :meth:`neighbours` (their items) for several lists at once."""
        self._fitted()
        following = _aggregate_many(self.transition_, items, k, weights, exclude)
        near = _aggregate_many(self.similarity_, items, k, weights, exclude)
        return [x[1] for x in following], [x[1] for x in near]


class Popularity:
    """Interaction counts per item, optionally time-decayed with a ``half_life`` (timestamp units)."""

    def __init__(self, *, half_life: float | None = None) -> None:
        self.half_life = half_life

    def fit(
        self,
        sequences: Sequence[npt.NDArray[np.integer]],
        n_items: int,
        *,
        timestamps: Sequence[npt.NDArray[np.integer]] | None = None,
    ) -> Self:
        """Count (decayed: ``0.5 ** ((t_latest - t) / half_life)`` per interaction) into ``counts_``."""
        items, _ = _flatten(sequences, n_items)
        if self.half_life is None:
            weights = np.ones(len(items), np.float64)
        else:
            if self.half_life <= 0:
                raise ValueError(f"Popularity.half_life must be > 0, got {self.half_life}")
            if timestamps is None:
                raise ValueError("Popularity with a half_life needs timestamps aligned with sequences")
            if len(timestamps) != len(sequences) or any(
                len(t) != len(s) for t, s in zip(timestamps, sequences, strict=True)
            ):
                raise ValueError("Popularity timestamps must have one entry per sequence item")
            times = (
                np.concatenate([np.asarray(t, dtype=np.float64) for t in timestamps])
                if len(timestamps)
                else np.zeros(0)
            )
            latest = times.max() if len(times) else 0.0
            weights = np.power(0.5, (latest - times) / self.half_life)
        self.counts_: FloatArray = np.bincount(items, weights=weights, minlength=n_items).astype(np.float32)
        return self

    def top(self, k: int, *, exclude: Iterable[int] | None = None) -> tuple[FloatArray, IntArray]:
        """Up to ``k`` ``(counts, items)`` with the largest counts (> 0), ties to the lower index."""
        if not hasattr(self, "counts_"):
            raise RuntimeError("Popularity used before fit")
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        # The items by count are ordered once per fit: a call reads k + |exclude| of them, where
        # sorting the catalogue cost O(n_items log n_items) per call (per user in the candidate stage).
        cached = self.__dict__.get("_order")
        if cached is None or cached[0] is not self.counts_:
            hits = np.flatnonzero(self.counts_ > 0)
            cached = (self.counts_, hits[np.lexsort((hits, -self.counts_[hits]))].astype(np.int32))
            self.__dict__["_order"] = cached
        order: IntArray = cached[1]
        excl = np.fromiter(exclude, dtype=np.int64) if exclude is not None else np.zeros(0, np.int64)
        head = order[: k + len(excl)]
        out = head[~np.isin(head, excl)][:k] if len(excl) else head[:k]
        return self.counts_[out], out
