"""Item-kNN baseline: cosine similarity between items' binary user columns, top-k per item."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Self

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from interestlm.core.protocol import EvalTask, TrainData, history_matrix
from interestlm.core.types import FloatArray, IntArray

#: Upper bound on the cells of one dense co-occurrence block (float32: 4 bytes each).
_BLOCK_CELLS = 1 << 24

#: One block's kept similarities: (rows, columns, values).
_Triplets = tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float32]]


def use_sparse(matrix: sp.spmatrix) -> bool:
    """Whether the item x item co-occurrence is better built sparse: when its pairs (at most the
    sum over users of squared history lengths) are fewer than a quarter of the dense cells.

    Dense blocks cost ``n_items^2`` whatever the data (quadratic in the catalogue: 1M items are
    10^12 cells); sparse products cost the co-occurring pairs, which grow with the users.
    """
    n_items = int(matrix.shape[1])
    lengths = np.diff(sp.csr_matrix(matrix).indptr).astype(np.float64)
    return bool(float(np.square(lengths).sum()) < n_items * float(n_items) / 4)


def cooccurrence_blocks(
    matrix: sp.csr_matrix, *, block_cells: int = _BLOCK_CELLS
) -> Iterator[tuple[slice, npt.NDArray[np.float32]]]:
    """Yield ``(columns, dense X^T X[:, columns])`` for consecutive column blocks of ``matrix``.

    The full item x item Gram matrix of a dense-ish log (MovieLens) holds tens of millions of
    pairs; building it one column block at a time keeps the peak memory bounded.
    """
    n_items = matrix.shape[1]
    x = sp.csr_matrix(matrix, dtype=np.float32)
    xt = x.T.tocsr()
    xc = x.tocsc()
    width = max(1, block_cells // max(n_items, 1))
    for start in range(0, n_items, width):
        cols = slice(start, min(start + width, n_items))
        block = (xt @ xc[:, cols]).toarray().astype(np.float32, copy=False)
        yield cols, block


class ItemKNN:
    """Item-based collaborative filtering (Sarwar et al. 2001; Deshpande & Karypis 2004).

    ``sim(i, j) = |U_i ∩ U_j| / (sqrt(|U_i| |U_j|) + shrink)`` on the binary training matrix;
    for each item ``j`` only its ``k`` most similar items are kept (a sparse column-top-k
    matrix ``W``, zero diagonal). A user's score for ``j`` is the sum of ``W[i, j]`` over the
    items ``i`` of the given history.
    """

    def __init__(self, *, k: int = 100, shrink: float = 0.0) -> None:
        self.k = k
        self.shrink = shrink

    def fit(self, train: TrainData, *, valid: EvalTask | None = None) -> Self:
        """Build the sparse similarity matrix ``similarity_`` (``valid`` is not used)."""
        if self.k < 1:
            raise ValueError(f"ItemKNN.k must be >= 1, got {self.k}")
        if self.shrink < 0:
            raise ValueError(f"ItemKNN.shrink must be >= 0, got {self.shrink}")
        x = train.matrix()
        n_items = x.shape[1]
        norms = np.sqrt(np.asarray(x.sum(axis=0), dtype=np.float64).ravel()).astype(np.float32)
        k = min(self.k, n_items)
        blocks = self._sparse_blocks if use_sparse(x) else self._dense_blocks
        rows_out: list[npt.NDArray[np.int64]] = [np.zeros(0, np.int64)]
        cols_out: list[npt.NDArray[np.int64]] = [np.zeros(0, np.int64)]
        vals_out: list[npt.NDArray[np.float32]] = [np.zeros(0, np.float32)]
        for rows, cols, vals in blocks(x, norms, k):
            rows_out.append(rows)
            cols_out.append(cols)
            vals_out.append(vals)
        self.similarity_: sp.csr_matrix = sp.csr_matrix(
            (np.concatenate(vals_out), (np.concatenate(rows_out), np.concatenate(cols_out))),
            shape=(n_items, n_items),
            dtype=np.float32,
        )
        return self

    def _dense_blocks(self, x: sp.csr_matrix, norms: FloatArray, k: int) -> Iterator[_Triplets]:
        """Top-``k`` per column from dense Gram blocks: ``n_items^2`` cells in all (small catalogues)."""
        n_items = x.shape[1]
        for cols, block in cooccurrence_blocks(x):
            col_idx = np.arange(cols.start, cols.stop)
            denom = norms[:, None] * norms[None, cols] + np.float32(self.shrink)
            # Items without training users have co-occurrence 0 everywhere; avoid 0/0.
            denom[denom == 0] = 1.0
            block /= denom
            block[col_idx, np.arange(len(col_idx))] = 0.0
            if k < n_items:
                top = np.argpartition(-block, k - 1, axis=0)[:k]
            else:
                top = np.broadcast_to(np.arange(n_items)[:, None], block.shape)
            vals = np.take_along_axis(block, top, axis=0)
            keep = vals > 0
            yield (
                top[keep].astype(np.int64),
                np.broadcast_to(col_idx[None, :], top.shape)[keep].astype(np.int64),
                vals[keep],
            )

    def _sparse_blocks(self, x: sp.csr_matrix, norms: FloatArray, k: int) -> Iterator[_Triplets]:
        """Top-``k`` per column from sparse Gram blocks: work and memory follow the co-occurring
        pairs (at most the sum of squared history lengths), not ``n_items^2`` (large catalogues)."""
        n_items = x.shape[1]
        xt = sp.csr_matrix(x, dtype=np.float32).T.tocsr()
        xc = sp.csc_matrix(x, dtype=np.float32)
        # Columns per block so that one block holds about _BLOCK_CELLS pairs at most on average.
        pairs = float(np.square(np.diff(sp.csr_matrix(x).indptr).astype(np.float64)).sum())
        width = max(1, int(_BLOCK_CELLS / max(pairs / max(n_items, 1), 1.0)))
        for start in range(0, n_items, width):
            stop = min(start + width, n_items)
            block = sp.csc_matrix(xt @ xc[:, start:stop])
            block.sort_indices()  # rows ascending inside each column: the tie-break below
            local = np.repeat(np.arange(stop - start, dtype=np.int64), np.diff(block.indptr))
            rows = block.indices.astype(np.int64)
            vals = block.data.astype(np.float32) / (norms[rows] * norms[local + start] + np.float32(self.shrink))
            keep = (rows != local + start) & (vals > 0)
            rows, local, vals = rows[keep], local[keep], vals[keep]
            # Per column, the k largest, ties to the lower item index: one stable sort on a key
            # that orders columns apart (steps of 4) and values inside one (2 - v in [1, 2)).
            order = np.argsort(local * 4.0 + (2.0 - vals.astype(np.float64)), kind="stable")
            rows, local, vals = rows[order], local[order], vals[order]
            first = np.searchsorted(local, local, side="left")
            top = np.arange(len(local)) - first < k
            cols = local + start
            yield rows[top], cols[top], vals[top]

    @classmethod
    def from_similarity(cls, similarity: sp.csr_matrix, *, k: int = 100, shrink: float = 0.0) -> ItemKNN:
        """A fitted item-kNN with a saved ``similarity`` matrix."""
        if similarity.shape[0] != similarity.shape[1]:
            raise ValueError(f"ItemKNN similarity must be square, got shape {similarity.shape}")
        model = cls(k=k, shrink=shrink)
        model.similarity_ = sp.csr_matrix(similarity, dtype=np.float32)
        return model

    def score(self, users: IntArray, histories: list[IntArray]) -> FloatArray:
        """``history_matrix(histories) @ similarity_`` as a dense float32 array."""
        if not hasattr(self, "similarity_"):
            raise RuntimeError("ItemKNN.score called before fit")
        h = history_matrix(histories, self.similarity_.shape[0])
        return np.asarray((h @ self.similarity_).toarray(), dtype=np.float32)
