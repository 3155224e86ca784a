"""EASE: the closed-form linear item-item autoencoder of Steck (2019), and the same model with
some training entries removed (:meth:`EASE.without`) derived from it without a second inverse."""

from __future__ import annotations

from typing import Literal, Self

import numpy as np
import numpy.typing as npt
import scipy.linalg
import scipy.linalg.lapack
import scipy.sparse as sp

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


#: Above this share of non-zero cells the dual's product ``X^T (K X)`` is a dense (threaded BLAS)
#: product, below it a sparse one (single-threaded, but ``nnz x n`` operations instead of
#: ``users x n^2``); ml-latest-small (1.7%): sparse 1.4 s, dense 3.2 s on 2 busy cores.
DUAL_SPARSE_DENSITY = 0.02


def _dual_weights(x: sp.csr_matrix, l2: float) -> tuple[FloatArray, npt.NDArray[np.float64]]:
    """EASE weights and the inverse's diagonal from the users x users system (see :class:`EASE`).

    With ``K = (l2 I + X X^T)^-1`` and ``W = X^T K``: ``P = (I - W X) / l2``, so the diagonal is
    ``d = (1 - rowsum(W * X^T)) / l2`` (float64: ``1 - ...`` cancels for popular items) and,
    off the diagonal, ``B[i, j] = -P[i, j] / d[j] = (W X)[i, j] / (l2 d[j])``, which involves no
    cancellation and is computed in float32 as ``X^T (W / (l2 d))^T``.
    """
    n_items = x.shape[1]
    if x.shape[0] == 0:
        return np.zeros((n_items, n_items), dtype=np.float32), np.full(n_items, 1.0 / l2)
    x64 = sp.csr_matrix(x, dtype=np.float64)
    gram = (x64 @ x64.T).toarray()
    gram[np.diag_indices_from(gram)] += l2
    inner = spd_inverse(np.ascontiguousarray(gram))
    xt = x64.T.tocsr()
    w = np.asarray(xt @ inner)  # n x users
    diag = (1.0 - np.asarray(xt.multiply(w).sum(axis=1)).ravel()) / l2
    scaled = np.ascontiguousarray((w / (l2 * diag)[:, None]).T, dtype=np.float32)  # users x n
    del w
    xt32 = sp.csr_matrix(xt, dtype=np.float32)
    if xt32.nnz <= DUAL_SPARSE_DENSITY * n_items * x.shape[0]:
        weights = np.asarray(xt32 @ scaled, dtype=np.float32)
    else:
        weights = np.asarray(xt32.toarray() @ scaled, dtype=np.float32)
    weights[np.diag_indices(n_items)] = 0.0
    return weights, diag


class EASE:
    """Embarrassingly Shallow Autoencoder (H. Steck, WWW 2019).

    With ``G = X^T X + l2 * I`` on the binary training matrix ``X`` and ``P = G^-1``, the weights
    are ``B[i, j] = -P[i, j] / P[j, j]`` with a zero diagonal; a history row ``x`` scores items
    as ``x @ B``. The item x item matrices are dense: ``dtype="float32"`` (the default) halves the
    memory (12k items: 0.6 GB per matrix), which the ridge term keeps well conditioned.

    ``solver``: ``"primal"`` inverts the items' Gram matrix (``n^3``); ``"dual"`` uses
    ``P = (I - X^T (l2 I + X X^T)^-1 X) / l2`` (Woodbury), whose inverse is users x users and is
    computed in float64 whatever ``dtype``: far cheaper when users are few beside items
    (ml-latest-small: 610 users, 9,742 items); ``"auto"`` picks it with at most a quarter as many
    users as active items (where its users x items float64 temporaries stay within the primal's
    memory). Both give the same model (to float32 rounding; the dual is the more exact).
    """

    weights_: FloatArray
    #: The diagonal of ``(X^T X + l2 I)^-1`` (:meth:`without` recovers the inverse from it).
    inverse_diag_: npt.NDArray[np.float64]
    solver_: Literal["primal", "dual"]

    def __init__(
        self,
        *,
        l2: float = 500.0,
        dtype: Literal["float32", "float64"] = "float32",
        solver: Literal["auto", "primal", "dual"] = "auto",
    ) -> None:
        self.l2 = l2
        self.dtype = dtype
        self.solver = solver

    def fit(self, train: TrainData, *, valid: EvalTask | None = None) -> Self:
        """Solve for the weight matrix ``weights_`` (``valid`` is not used)."""
        return self.fit_matrix(train.matrix())

    def fit_matrix(self, x: sp.csr_matrix) -> Self:
        """:meth:`fit` on the binary users x items training matrix ``x``."""
        if self.l2 <= 0:
            raise ValueError(f"EASE.l2 must be > 0, got {self.l2}")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"EASE.dtype must be 'float32' or 'float64', got {self.dtype!r}")
        if self.solver not in ("auto", "primal", "dual"):
            raise ValueError(f"EASE.solver must be 'auto', 'primal' or 'dual', got {self.solver!r}")
        x = sp.csr_matrix(x)
        n_items = x.shape[1]
        x_active = x[np.diff(x.indptr) > 0]
        few_users = 4 * x_active.shape[0] <= int((np.diff(x.tocsc().indptr) > 0).sum())
        self.solver_ = "dual" if self.solver == "dual" or (self.solver == "auto" and few_users) else "primal"
        if self.solver_ == "dual":
            self.weights_, self.inverse_diag_ = _dual_weights(x_active, self.l2)
            return self
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
        # The inverse's diagonal is all :meth:`without` needs besides the weights to recover it.
        self.inverse_diag_ = np.full(n_items, 1.0 / self.l2)
        self.inverse_diag_[active] = diag
        inverse /= -diag[None, :]
        inverse[np.diag_indices(n_active)] = 0.0
        if n_active == n_items:
            weights = np.asarray(inverse, dtype=np.float32)
        else:
            weights = np.zeros((n_items, n_items), dtype=np.float32)
            weights[np.ix_(active, active)] = inverse
        del inverse
        self.weights_ = weights
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

    def without(self, train: sp.spmatrix, reduced: sp.spmatrix) -> EASE | ReducedEASE:
        """The model :meth:`fit` would give on ``reduced``, a binary matrix holding a subset of the
        entries of ``train`` (the binary matrix this model was fitted on), the cheapest way.

        Fitted by the dual solver (few users beside items), this model is simply refitted on
        ``reduced``: its inverse is users x users. Otherwise, when the removed entries touch few
        items (``6 m <= n``, below), a low-rank update of this model is returned (no second
        ``n x n`` inverse); else it is refitted (the update's rank ``2m`` would near ``n``: on the
        Amazon sets each user's last item leaves ``2m > n``).

        Removing entries ``D = X - X'`` changes the Gram matrix by a low-rank term,
        ``X'^T X' = X^T X - (M E^T + E M^T - E C E^T)``, where ``E`` holds the unit columns of the
        ``m`` items with removed entries, ``M = X^T D E`` and ``C = E^T D^T D E``: that is
        ``U S U^T`` with ``U = [E, M]`` (``n x 2m``) and ``S = [[-C, I], [I, 0]]``. The Woodbury
        identity gives the new inverse, ``P' = P + Z K Z^T`` with ``Z = P U`` and
        ``K = (S^-1 - U^T Z)^-1``, ``S^-1 = [[0, I], [I, C]]``; ``P = (I - B) diag(d)`` is
        recovered from the weights ``B`` and the inverse's diagonal ``d``. Because ``M`` is
        sparse, ``Z`` costs ``nnz(M) x n`` operations instead of the ``n^3`` of a fresh inverse,
        and ``P'`` is never formed: :meth:`ReducedEASE.score` applies it to the histories.
        Leave-one-out validation (each user's last item removed) is the use case.
        """
        if not hasattr(self, "inverse_diag_"):
            raise RuntimeError("EASE.without needs a model fitted in this process (loaded weights lack the inverse)")
        x = sp.csr_matrix(train, dtype=np.float64)
        x_reduced = sp.csr_matrix(reduced, dtype=np.float64)
        n_items = self.weights_.shape[0]
        if x.shape != x_reduced.shape or x.shape[1] != n_items:
            raise ValueError(f"train {x.shape} and reduced {x_reduced.shape} must both have {n_items} columns")
        removed = (x - x_reduced).tocsr()
        removed.eliminate_zeros()
        if len(removed.data) and (removed.data.min() < 0 or removed.data.max() > 1):
            raise ValueError("reduced must hold a subset of train's entries (both binary)")
        cols = np.unique(removed.indices)
        m = len(cols)
        if self.solver_ == "dual" or 6 * m > n_items:
            return EASE(l2=self.l2, dtype=self.dtype, solver=self.solver).fit_matrix(x_reduced)
        d = self.inverse_diag_
        d_cols = removed[:, cols]  # D E: users x m
        # M = X^T D E (n x m), sparse; C = E^T D^T D E (m x m).
        mixed = (x.T @ d_cols).tocsr()
        counts = (d_cols.T @ d_cols).toarray()
        z = np.empty((n_items, 2 * m), dtype=np.float64)
        # P E: columns of P = (I - B) diag(d) at the changed items.
        z[:, :m] = -self.weights_[:, cols] * d[cols]
        z[cols, np.arange(m)] += d[cols]
        # P M = diag(d) M - B (diag(d) M), the dense product in float64 row blocks.
        dm = sp.diags(d) @ mixed
        z[:, m:] = dm.toarray()
        step = max(1, 4_000_000 // max(n_items, 1))
        for start in range(0, n_items, step):
            stop = min(start + step, n_items)
            z[start:stop, m:] -= np.asarray(dm.T @ self.weights_[start:stop].T.astype(np.float64)).T
        # U^T Z: its first m rows are Z's rows at the changed items, the rest M^T Z.
        utz = np.vstack([z[cols], np.asarray(mixed.T @ z)])
        s_inv = np.zeros((2 * m, 2 * m), dtype=np.float64)
        s_inv[:m, m:] = s_inv[m:, :m] = np.eye(m)
        s_inv[m:, m:] = counts
        inner = s_inv - 0.5 * (utz + utz.T)  # symmetric in exact arithmetic
        k = np.linalg.inv(inner) if m else np.zeros((0, 0))
        diag = d + np.einsum("ij,ij->i", z @ k, z)
        # Items left without any interaction get zero weights in and out, as a fresh fit gives.
        idle = np.diff(x_reduced.tocsc().indptr) == 0
        return ReducedEASE(weights=self.weights_, inverse_diag=d, z=z, k=k, reduced_diag=diag, idle=idle)


class ReducedEASE:
    """EASE fitted on a training matrix with entries removed, scored through the full model's
    weights and a low-rank correction (built by :meth:`EASE.without`; see there)."""

    def __init__(
        self,
        *,
        weights: FloatArray,
        inverse_diag: npt.NDArray[np.float64],
        z: npt.NDArray[np.float64],
        k: npt.NDArray[np.float64],
        reduced_diag: npt.NDArray[np.float64],
        idle: npt.NDArray[np.bool_],
    ) -> None:
        self.weights = weights
        self.inverse_diag = inverse_diag
        self.z = z
        self.k = k
        self.reduced_diag = reduced_diag
        self.idle = idle

    @property
    def n_items(self) -> int:
        """Items scored."""
        return int(self.weights.shape[0])

    def fit(self, train: TrainData, *, valid: EvalTask | None = None) -> Self:
        """Never refitted: derived from a fitted model."""
        return self

    def score(self, users: IntArray, histories: list[IntArray]) -> FloatArray:
        """``h @ B'`` with ``B' = -P' / diag(P')`` (zero diagonal): ``-(h P') / diag(P') + h``,
        where ``h P' = (h - h B) diag(d) + (h Z) K Z^T``."""
        h = history_matrix(histories, self.n_items)
        if self.idle.any():
            h = h @ sp.diags((~self.idle).astype(np.float32))
        hb = np.asarray(h @ self.weights, dtype=np.float64)
        dense = h.toarray().astype(np.float64)
        hp = (dense - hb) * self.inverse_diag
        hp += (np.asarray(h @ self.z) @ self.k) @ self.z.T
        out = dense - hp / self.reduced_diag
        out[:, self.idle] = 0.0
        scores: FloatArray = out.astype(np.float32)
        return scores
