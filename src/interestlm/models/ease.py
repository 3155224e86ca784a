"""EASE: the closed-form linear item-item autoencoder of Steck (2019)."""

from __future__ import annotations

from typing import Literal, Self

import numpy as np
import numpy.typing as npt
import scipy.linalg
import scipy.linalg.lapack

from interestlm.core.protocol import EvalTask, TrainData, history_matrix
from interestlm.core.types import FloatArray, IntArray
from interestlm.models.itemknn import cooccurrence_blocks


def spd_inverse(matrix: npt.NDArray[np.floating], *, block: int = 1024) -> npt.NDArray[np.floating]:
    """Inverse of a symmetric positive-definite C-ordered matrix, computed in place by Cholesky.

    Cholesky (LAPACK ``potrf`` + ``potri``) needs half the flops of an LU inverse. A symmetric
    C-ordered array's transpose is the same matrix in Fortran order, so LAPACK overwrites the
    buffer instead of copying it; it fills one triangle, mirrored here block by block (bounded
    temporaries). ``matrix`` is destroyed; the returned array shares its memory.
    """
    n = matrix.shape[0]
    potrf, potri = scipy.linalg.lapack.get_lapack_funcs(("potrf", "potri"), (matrix,))
    factor, info = potrf(matrix.T, lower=False, overwrite_a=True, clean=False)
    if info != 0:
        raise np.linalg.LinAlgError(f"matrix is not positive definite (LAPACK potrf info={info})")
    inverse, info = potri(factor, lower=False, overwrite_c=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"matrix is singular (LAPACK potri info={info})")
    for start in range(0, n, block):
        stop = min(start + block, n)
        square = inverse[start:stop, start:stop]
        square[...] = np.triu(square) + np.triu(square, 1).T
        inverse[stop:, start:stop] = inverse[start:stop, stop:].T
    # The result is symmetric: its transpose is the same matrix, back in C order.
    return np.asarray(inverse.T)


class EASE:
    """Embarrassingly Shallow Autoencoder (H. Steck, WWW 2019).

    With ``G = X^T X + l2 * I`` on the binary training matrix ``X`` and ``P = G^-1``, the weights
    are ``B[i, j] = -P[i, j] / P[j, j]`` with a zero diagonal; a history row ``x`` scores items
    as ``x @ B``. The item x item matrices are dense: ``dtype="float32"`` (the default) halves the
    memory (12k items: 0.6 GB per matrix), which the ridge term keeps well conditioned.
    """

    def __init__(self, *, l2: float = 500.0, dtype: Literal["float32", "float64"] = "float32") -> None:
        self.l2 = l2
        self.dtype = dtype

    def fit(self, train: TrainData, *, valid: EvalTask | None = None) -> Self:
        """Solve for the weight matrix ``weights_`` (``valid`` is not used)."""
        if self.l2 <= 0:
            raise ValueError(f"EASE.l2 must be > 0, got {self.l2}")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"EASE.dtype must be 'float32' or 'float64', got {self.dtype!r}")
        x = train.matrix()
        n_items = x.shape[1]
        # Items without training rows have zero weights in and out (their Gram block is l2 * I),
        # so only the active items' Gram matrix is inverted: cold items cost nothing. When nearly
        # every item is active the whole matrix is inverted instead: the result is the same
        # (the inactive block's weights come out 0) and the full-size copy is avoided.
        active = np.flatnonzero(np.diff(x.tocsc().indptr) > 0)
        if len(active) >= 0.95 * n_items:
            active = np.arange(n_items)
        n_active = len(active)
        gram: npt.NDArray[np.floating] = np.empty((n_active, n_active), dtype=self.dtype)
        for cols, block in cooccurrence_blocks(x if n_active == n_items else x[:, active]):
            gram[:, cols] = block
        gram[np.diag_indices(n_active)] += self.l2
        inverse = spd_inverse(gram)
        del gram
        diag = np.diag(inverse).copy()
        inverse /= -diag[None, :]
        inverse[np.diag_indices(n_active)] = 0.0
        if n_active == n_items:
            weights = np.asarray(inverse, dtype=np.float32)
        else:
            weights = np.zeros((n_items, n_items), dtype=np.float32)
            weights[np.ix_(active, active)] = inverse
        del inverse
        self.weights_: FloatArray = weights
        return self

    @classmethod
    def from_weights(cls, weights: FloatArray, *, l2: float = 500.0) -> EASE:
        """A fitted EASE with saved ``weights`` (e.g. memory-mapped from an artifacts directory)."""
        if weights.ndim != 2 or weights.shape[0] != weights.shape[1]:
            raise ValueError(f"EASE weights must be a square matrix, got shape {weights.shape}")
        model = cls(l2=l2)
        model.weights_ = weights
        return model

    def score(self, users: IntArray, histories: list[IntArray]) -> FloatArray:
        """``history_matrix(histories) @ weights_``: shape ``(len(users), n_items)``."""
        if not hasattr(self, "weights_"):
            raise RuntimeError("EASE.score called before fit")
        h = history_matrix(histories, self.weights_.shape[0])
        return np.asarray(h @ self.weights_, dtype=np.float32)
