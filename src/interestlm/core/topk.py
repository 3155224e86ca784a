"""Top-k selection, the one implementation for dense score rows and sparse similarity rows."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from interestlm.core.types import IntArray


def top_k(scores: npt.NDArray[np.floating], k: int) -> IntArray:
    """Indices of the ``k`` highest scores per row, best first; ties broken by lower index.

    ``-inf`` (masked) and NaN scores are never returned: their slots hold ``-1``.
    """
    scores = np.where(np.isnan(scores), -np.inf, scores)
    n, n_items = scores.shape
    k_eff = min(k, n_items)
    if k_eff == 0:
        return np.full((n, k), -1, dtype=np.int32)
    # Exact and linear: everything above the k-th largest value, then the lowest-index items
    # equal to it (argpartition alone resolves ties at the boundary arbitrarily).
    kth = np.partition(scores, n_items - k_eff, axis=1)[:, n_items - k_eff][:, None]
    above = scores > kth
    equal = scores == kth
    room = k_eff - above.sum(axis=1, keepdims=True)
    chosen = above | (equal & (np.cumsum(equal, axis=1) <= room))
    cols = np.nonzero(chosen)[1].reshape(n, k_eff)
    chosen_scores = np.take_along_axis(scores, cols, axis=1)
    order = np.lexsort((cols, -chosen_scores), axis=1)
    result = np.take_along_axis(cols, order, axis=1).astype(np.int32)
    result[np.isneginf(np.take_along_axis(chosen_scores, order, axis=1))] = -1
    if k_eff < k:
        result = np.pad(result, ((0, 0), (0, k - k_eff)), constant_values=-1)
    return result


def top_k_per_row(matrix: sp.spmatrix, k: int) -> sp.csr_matrix:
    """Keep the ``k`` largest entries of every row (ties: lower column), as float32 CSR."""
    m = sp.csr_matrix(matrix, dtype=np.float32)
    m.sum_duplicates()
    m.eliminate_zeros()
    rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
    order = np.lexsort((m.indices, -m.data, rows))
    rank = np.arange(m.nnz) - m.indptr[rows[order]]
    keep = order[rank < k]
    return sp.csr_matrix((m.data[keep], (rows[keep], m.indices[keep])), shape=m.shape, dtype=np.float32)
