"""Inner-product vector search over item vectors: an exact numpy index (the oracle) and FAISS.

Both indexes answer the same call, ``search(queries, k, exclude=...)``, with ``(scores, items)``
arrays of shape ``(n_queries, k)``, best first. Where fewer than ``k`` items can be returned
(a tiny catalogue, or everything else excluded) the trailing slots hold item ``-1`` with score
``-inf`` — the convention of :func:`interestlm.models.ranking.top_k`. Excluded items are
never returned. ``add`` appends items that are searchable at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import faiss
import numpy as np
import numpy.typing as npt

from interestlm.core.topk import top_k
from interestlm.core.types import FloatArray, IntArray

#: Upper bound on the cells of one dense ``(queries, items)`` score block (float32).
_BLOCK_CELLS = 1 << 24

ExcludeSets = Sequence[set[int] | frozenset[int]]


@runtime_checkable
class VectorIndex(Protocol):
    """What candidate retrieval needs from a vector index."""

    @property
    def dim(self) -> int:
        """Vector dimension."""
        ...

    def __len__(self) -> int: ...

    def search(
        self, queries: npt.ArrayLike, k: int, *, exclude: ExcludeSets | None = None
    ) -> tuple[FloatArray, IntArray]:
        """``(scores, items)`` of the ``k`` largest inner products per query row."""
        ...

    def add(self, vectors: npt.ArrayLike) -> IntArray:
        """Append items; returns their new indices."""
        ...


def _as_matrix(vectors: npt.ArrayLike, what: str, dim: int | None = None) -> FloatArray:
    arr = np.ascontiguousarray(vectors, dtype=np.float32)
    if arr.ndim != 2:
        raise ValueError(f"{what} must be a 2-D (rows, dim) array, got shape {arr.shape}")
    if dim is not None and arr.shape[1] != dim:
        raise ValueError(f"{what} have dimension {arr.shape[1]}, the index has {dim}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{what} contain NaN or infinite values")
    return arr


def _check_k(k: int) -> None:
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")


def _check_exclude(exclude: ExcludeSets | None, n_queries: int) -> None:
    if exclude is not None and len(exclude) != n_queries:
        raise ValueError(f"exclude has {len(exclude)} sets, expected one per query ({n_queries})")


def _exclusion_keys(exclude: ExcludeSets, rows: npt.NDArray[np.int64], stride: int) -> npt.NDArray[np.int64]:
    """``row * stride + item`` for every excluded item of the given query rows (for np.isin)."""
    parts = [
        local * stride + np.fromiter(exclude[int(r)], dtype=np.int64, count=len(exclude[int(r)]))
        for local, r in enumerate(rows.tolist())
        if exclude[int(r)]
    ]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


class ExactIndex:
    """Brute-force inner product in numpy: exact, the oracle for approximate indexes."""

    def __init__(self, vectors: npt.ArrayLike) -> None:
        self.vectors_: FloatArray = _as_matrix(vectors, "ExactIndex vectors")

    @property
    def dim(self) -> int:
        """Vector dimension."""
        return int(self.vectors_.shape[1])

    def __len__(self) -> int:
        return int(self.vectors_.shape[0])

    def search(
        self, queries: npt.ArrayLike, k: int, *, exclude: ExcludeSets | None = None
    ) -> tuple[FloatArray, IntArray]:
        """Exact top-``k`` by inner product; ties go to the lower item index."""
        q = _as_matrix(queries, "queries", self.dim)
        _check_k(k)
        _check_exclude(exclude, len(q))
        n = len(self)
        scores_out = np.full((len(q), k), -np.inf, dtype=np.float32)
        items_out = np.full((len(q), k), -1, dtype=np.int32)
        step = max(1, _BLOCK_CELLS // max(n, 1))
        for start in range(0, len(q), step):
            stop = min(start + step, len(q))
            block = q[start:stop] @ self.vectors_.T
            if exclude is not None:
                for local, row in enumerate(range(start, stop)):
                    if exclude[row]:
                        cols = np.fromiter(exclude[row], dtype=np.int64, count=len(exclude[row]))
                        block[local, cols[(cols >= 0) & (cols < n)]] = -np.inf
            items = top_k(block, k)
            valid = items >= 0
            items_out[start:stop] = items
            scores_out[start:stop] = np.where(valid, np.take_along_axis(block, np.maximum(items, 0), axis=1), -np.inf)
        return scores_out, items_out

    def add(self, vectors: npt.ArrayLike) -> IntArray:
        """Append rows; returns their indices (``len(self)`` before the call onwards)."""
        new = _as_matrix(vectors, "added vectors", self.dim)
        start = len(self)
        self.vectors_ = np.ascontiguousarray(np.vstack([self.vectors_, new]))
        return np.arange(start, start + len(new), dtype=np.int32)


class FaissIndex:
    """Inner-product search with FAISS: ``kind="flat"`` (exact) or ``"hnsw"`` (graph, approximate).

    Exclusion is done by over-fetching ``k`` plus the largest exclusion set of the batch and
    filtering, widening the fetch for rows still short of ``k``. For HNSW ``efSearch`` is raised
    to at least the fetch size, so over-fetching does not cost recall. ``index_`` is the FAISS
    index (what ``faiss.write_index`` saves).
    """

    def __init__(
        self,
        vectors: npt.ArrayLike,
        *,
        kind: Literal["flat", "hnsw"] = "flat",
        m: int = 32,
        ef_construction: int = 200,
        ef_search: int = 128,
    ) -> None:
        if kind not in ("flat", "hnsw"):
            raise ValueError(f"FaissIndex kind must be 'flat' or 'hnsw', got {kind!r}")
        if m < 2 or ef_construction < 1 or ef_search < 1:
            raise ValueError("FaissIndex needs m >= 2, ef_construction >= 1 and ef_search >= 1")
        x = _as_matrix(vectors, "FaissIndex vectors")
        self.kind = kind
        self.ef_search = ef_search
        d = int(x.shape[1])
        # faiss's SWIG classes are only partly typed; the index is used through its common API.
        index: Any
        if kind == "flat":
            index = faiss.IndexFlatIP(d)
        else:
            index = faiss.IndexHNSWFlat(d, m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = ef_construction
        index.add(x)
        self.index_: Any = index

    @classmethod
    def from_faiss(cls, index: faiss.Index, *, ef_search: int = 128) -> FaissIndex:
        """Wrap an existing inner-product FAISS index (flat or HNSW), e.g. one just read from disk."""
        if index.metric_type != faiss.METRIC_INNER_PRODUCT:
            raise ValueError("FaissIndex.from_faiss needs an inner-product index")
        self = cls.__new__(cls)
        self.kind = "hnsw" if isinstance(index, faiss.IndexHNSW) else "flat"
        self.ef_search = ef_search
        self.index_ = index
        return self

    def save(self, path: Path | str) -> Path:
        """Write the index with ``faiss.write_index`` (the artifacts' ``index.faiss``)."""
        out = Path(path)
        faiss.write_index(self.index_, str(out))
        return out

    @classmethod
    def load(cls, path: Path | str, *, ef_search: int = 128) -> FaissIndex:
        """Read an index written by :meth:`save`."""
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"{p}: no FAISS index file")
        return cls.from_faiss(faiss.read_index(str(p)), ef_search=ef_search)

    @property
    def dim(self) -> int:
        """Vector dimension."""
        return int(self.index_.d)

    def __len__(self) -> int:
        return int(self.index_.ntotal)

    def _raw_search(self, q: FloatArray, fetch: int) -> tuple[FloatArray, npt.NDArray[np.int64]]:
        if self.kind == "hnsw":
            self.index_.hnsw.efSearch = max(self.ef_search, fetch)
        distances, labels = self.index_.search(q, fetch)
        return np.asarray(distances, dtype=np.float32), np.asarray(labels, dtype=np.int64)

    def search(
        self, queries: npt.ArrayLike, k: int, *, exclude: ExcludeSets | None = None
    ) -> tuple[FloatArray, IntArray]:
        """Top-``k`` by inner product, excluded items filtered out (see the class doc)."""
        q = _as_matrix(queries, "queries", self.dim)
        _check_k(k)
        _check_exclude(exclude, len(q))
        n = len(self)
        scores_out = np.full((len(q), k), -np.inf, dtype=np.float32)
        items_out = np.full((len(q), k), -1, dtype=np.int32)
        if n == 0 or len(q) == 0:
            return scores_out, items_out
        # Most queries need k plus their own exclusions; fetching k plus the largest exclusion for
        # all made FAISS keep heaps of thousands for everyone (most of a batched candidate search):
        # start from the median and widen only the rows that come short.
        extra = int(np.median([len(e) for e in exclude])) if exclude is not None and len(exclude) else 0
        fetch = min(n, k + extra)
        pending = np.arange(len(q), dtype=np.int64)
        while len(pending):
            distances, labels = self._raw_search(q[pending], fetch)
            keep = labels >= 0
            if exclude is not None:
                keys = np.arange(len(pending), dtype=np.int64)[:, None] * (n + 1) + labels
                keep &= ~np.isin(keys, _exclusion_keys(exclude, pending, n + 1))
            rank = np.cumsum(keep, axis=1)
            # A widened re-fetch replaces a row's earlier, shorter answer.
            items_out[pending] = -1
            scores_out[pending] = -np.inf
            take = keep & (rank <= k)
            rows, cols = np.nonzero(take)
            slots = rank[rows, cols] - 1
            items_out[pending[rows], slots] = labels[rows, cols]
            scores_out[pending[rows], slots] = distances[rows, cols]
            short = rank[:, -1] < k
            if fetch >= n or not short.any():
                break
            pending = pending[short]
            fetch = min(n, fetch * 2)
        return scores_out, items_out

    def add(self, vectors: npt.ArrayLike) -> IntArray:
        """Append rows to the FAISS index; returns their indices."""
        new = _as_matrix(vectors, "added vectors", self.dim)
        start = len(self)
        self.index_.add(new)
        return np.arange(start, start + len(new), dtype=np.int32)
