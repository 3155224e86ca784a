"""Explicit-rating predictors: the classic baselines, on one small contract.

A rating model is fitted on :class:`Ratings` (user index, item index, rating) and predicts a
rating for any (user, item) pair, clipped to the dataset's scale. Users or items absent from
training get the parts of the prediction that exist for them (the global mean, and whichever
bias is known), never an error.

=================  ==========================================================  =============
name               model                                                       after
=================  ==========================================================  =============
``global-mean``    the training mean                                           —
``baseline``       μ + b_u + b_i, biases by alternating least squares          Surprise's BaselineOnly
``svd``            biased matrix factorisation by SGD                          Funk / Koren; Surprise's SVD
``svdpp``          SVD with implicit feedback (the items a user rated)         Koren 2008; Surprise's SVDpp
``knn-baseline``   neighbourhood on baseline residuals (MSD or shrunk Pearson)  Koren 2010; Surprise's KNNBaseline
=================  ==========================================================  =============

The defaults are Surprise's (1.1.x), so the published Surprise table on MovieLens-100K is the
check that these are the same algorithms (``tests/models/test_rating_integration.py``). The SGD
loops are compiled with numba, one thread, so results are repeatable for a seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, Self

import numba
import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from interestlm.core.tables import Interactions
from interestlm.core.types import FloatArray, IntArray

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, kw_only=True, eq=False)
class Ratings:
    """Explicit ratings as parallel arrays: ``user[k]`` rated ``item[k]`` with ``rating[k]``.

    ``n_users`` / ``n_items`` size the id spaces (indices may go unrated); ``scale`` is the
    (lowest, highest) rating predictions are clipped to.
    """

    user: IntArray
    item: IntArray
    rating: FloatArray
    n_users: int
    n_items: int
    scale: tuple[float, float]

    def __post_init__(self) -> None:
        n = len(self.user)
        if len(self.item) != n or len(self.rating) != n:
            raise ValueError("Ratings.user, .item and .rating must have the same length")
        if n and (int(self.user.min()) < 0 or int(self.user.max()) >= self.n_users):
            raise ValueError(f"Ratings.user has indices outside 0..{self.n_users - 1}")
        if n and (int(self.item.min()) < 0 or int(self.item.max()) >= self.n_items):
            raise ValueError(f"Ratings.item has indices outside 0..{self.n_items - 1}")
        if not np.all(np.isfinite(self.rating)):
            raise ValueError("Ratings.rating must be finite")
        if self.scale[0] >= self.scale[1]:
            raise ValueError(f"Ratings.scale must be (low, high) with low < high, got {self.scale}")

    @classmethod
    def build(
        cls,
        user: npt.ArrayLike,
        item: npt.ArrayLike,
        rating: npt.ArrayLike,
        *,
        n_users: int | None = None,
        n_items: int | None = None,
        scale: tuple[float, float] | None = None,
    ) -> Ratings:
        """Ratings from array-likes; sizes default to max index + 1, the scale to the observed range."""
        u = np.asarray(user, dtype=np.int32)
        i = np.asarray(item, dtype=np.int32)
        r = np.asarray(rating, dtype=np.float32)
        if scale is None:
            scale = (float(r.min()), float(r.max())) if len(r) else (0.0, 1.0)
        return cls(
            user=u,
            item=i,
            rating=r,
            n_users=n_users if n_users is not None else (int(u.max()) + 1 if len(u) else 0),
            n_items=n_items if n_items is not None else (int(i.max()) + 1 if len(i) else 0),
            scale=scale,
        )

    def __len__(self) -> int:
        return len(self.user)

    def take(self, rows: npt.NDArray[np.integer] | npt.NDArray[np.bool_]) -> Ratings:
        """The rows ``rows`` (indices or a mask), same id spaces and scale."""
        return Ratings(
            user=self.user[rows], item=self.item[rows], rating=self.rating[rows],
            n_users=self.n_users, n_items=self.n_items, scale=self.scale,
        )

    def mean(self) -> float:
        """The mean rating (the middle of the scale when empty)."""
        return float(self.rating.mean()) if len(self) else 0.5 * (self.scale[0] + self.scale[1])

    def user_items(self) -> sp.csr_matrix:
        """Users × items CSR of the ratings (duplicates summed: callers pass one row per pair)."""
        return sp.csr_matrix(
            (self.rating.astype(np.float64), (self.user, self.item)), shape=(self.n_users, self.n_items)
        )


def ratings_from_interactions(
    interactions: Interactions, n_items: int
) -> tuple[Ratings, npt.NDArray[np.int64]]:
    """The rated rows of a log as :class:`Ratings`, and their row numbers in it.

    A user who rated an item twice keeps the later rating (file order breaks ties in time): a
    rating model predicts one number per pair. The scale is the observed range.
    """
    rows = np.flatnonzero(np.isfinite(interactions.rating))
    if not len(rows):
        raise ValueError("the interactions hold no explicit ratings")
    rows = rows[np.lexsort((rows, interactions.timestamp[rows]))]
    pair = interactions.user[rows].astype(np.int64) * n_items + interactions.item[rows]
    _, last = np.unique(pair[::-1], return_index=True)
    rows = np.sort(rows[len(rows) - 1 - last])
    values = interactions.rating[rows]
    ratings = Ratings.build(
        interactions.user[rows], interactions.item[rows], values,
        n_users=len(interactions.user_ids), n_items=n_items, scale=(float(values.min()), float(values.max())),
    )
    return ratings, rows.astype(np.int64)


class RatingModel(Protocol):
    """What every rating predictor does: ``fit`` on ratings, ``predict`` any pairs."""

    def fit(self, train: Ratings) -> Self:
        """Learn from ``train``; returns self."""
        ...

    def predict(self, users: IntArray, items: IntArray) -> FloatArray:
        """Predicted ratings of ``items[k]`` by ``users[k]``, on the training scale."""
        ...


def clip(values: npt.ArrayLike, scale: tuple[float, float]) -> FloatArray:
    """Predictions clipped to the rating scale, as float32."""
    return np.clip(np.asarray(values, dtype=np.float64), scale[0], scale[1]).astype(np.float32)


def shares_to_prediction(shares: dict[str, F64], prediction: FloatArray) -> dict[str, F64]:
    """``shares`` (of an unclipped estimate) plus a ``clip`` share, what clipping to the scale took
    off (0 inside the scale), so that the shares sum to ``prediction`` itself."""
    raw = sum(shares.values(), np.zeros(len(prediction)))
    return {**shares, "clip": np.asarray(prediction, dtype=np.float64) - raw}


def _known(index: IntArray, size: int) -> npt.NDArray[np.bool_]:
    index = np.asarray(index)
    return (index >= 0) & (index < size)


def _lookup(values: F64, index: IntArray) -> F64:
    """``values[index]`` with 0 for indices outside the fitted range (new users or items)."""
    out = np.zeros(len(index), dtype=np.float64)
    ok = _known(index, len(values))
    out[ok] = values[np.asarray(index)[ok]]
    return out


def _rows(matrix: F64, index: IntArray) -> F64:
    out = np.zeros((len(index), matrix.shape[1]), dtype=np.float64)
    ok = _known(index, matrix.shape[0])
    out[ok] = matrix[np.asarray(index)[ok]]
    return out


class GlobalMean:
    """Every prediction is the training mean."""

    def fit(self, train: Ratings) -> Self:
        """Store the mean and the scale."""
        self.mean_ = train.mean()
        self.scale_ = train.scale
        return self

    def decompose(self, users: IntArray, items: IntArray) -> dict[str, F64]:
        """The estimate as named shares (here only ``mean``)."""
        return {"mean": np.full(len(users), self.mean_)}

    def predict(self, users: IntArray, items: IntArray) -> FloatArray:
        """The mean, for every pair."""
        return clip(np.full(len(users), self.mean_), self.scale_)


def als_baselines(train: Ratings, *, reg_u: float, reg_i: float, n_epochs: int) -> tuple[float, F64, F64]:
    """μ, b_u, b_i by alternating least squares, items first (Surprise's ``baseline_only`` ALS)."""
    mu = train.mean()
    bu = np.zeros(train.n_users)
    bi = np.zeros(train.n_items)
    r = train.rating.astype(np.float64)
    n_u = np.bincount(train.user, minlength=train.n_users)
    n_i = np.bincount(train.item, minlength=train.n_items)
    for _ in range(n_epochs):
        bi = np.bincount(train.item, weights=r - mu - bu[train.user], minlength=train.n_items) / (reg_i + n_i)
        bu = np.bincount(train.user, weights=r - mu - bi[train.item], minlength=train.n_users) / (reg_u + n_u)
    return mu, bu, bi


class BaselineOnly:
    """μ + b_u + b_i with biases fitted by ALS (Surprise's defaults: reg_u 15, reg_i 10, 10 epochs)."""

    def __init__(self, *, reg_u: float = 15.0, reg_i: float = 10.0, n_epochs: int = 10) -> None:
        self.reg_u = reg_u
        self.reg_i = reg_i
        self.n_epochs = n_epochs

    def fit(self, train: Ratings) -> Self:
        """Fit the biases."""
        self.mean_, self.user_bias_, self.item_bias_ = als_baselines(
            train, reg_u=self.reg_u, reg_i=self.reg_i, n_epochs=self.n_epochs
        )
        self.scale_ = train.scale
        return self

    def baseline(self, users: IntArray, items: IntArray) -> F64:
        """μ + b_u + b_i, unclipped (the neighbourhood model works on residuals from it)."""
        return self.mean_ + _lookup(self.user_bias_, users) + _lookup(self.item_bias_, items)

    def decompose(self, users: IntArray, items: IntArray) -> dict[str, F64]:
        """The unclipped baseline as named shares: ``mean``, ``user_bias``, ``item_bias``."""
        return {
            "mean": np.full(len(users), self.mean_),
            "user_bias": _lookup(self.user_bias_, users),
            "item_bias": _lookup(self.item_bias_, items),
        }

    def predict(self, users: IntArray, items: IntArray) -> FloatArray:
        """The clipped baseline."""
        return clip(self.baseline(users, items), self.scale_)


@numba.njit(cache=True)
def _svd_sgd(  # pragma: no cover - compiled
    user: npt.NDArray[np.int32], item: npt.NDArray[np.int32], rating: npt.NDArray[np.float32],
    mu: float, bu: F64, bi: F64, p: F64, q: F64,
    lr_bias: float, lr_factor: float, reg_bias: float, reg_factor: float, n_epochs: int, seed: int,
) -> None:
    np.random.seed(seed)
    n_factors = p.shape[1]
    for _ in range(n_epochs):
        for k in np.random.permutation(len(rating)):
            u = user[k]
            i = item[k]
            dot = 0.0
            for f in range(n_factors):
                dot += p[u, f] * q[i, f]
            err = rating[k] - (mu + bu[u] + bi[i] + dot)
            bu[u] += lr_bias * (err - reg_bias * bu[u])
            bi[i] += lr_bias * (err - reg_bias * bi[i])
            for f in range(n_factors):
                puf = p[u, f]
                qif = q[i, f]
                p[u, f] += lr_factor * (err * qif - reg_factor * puf)
                q[i, f] += lr_factor * (err * puf - reg_factor * qif)


class SVD:
    """Biased MF, ``μ + b_u + b_i + p_u·q_i``, fitted by SGD on the squared error.

    Defaults are Surprise's SVD: 100 factors, 20 epochs, learning rate 0.005, regularisation
    0.02, factors drawn from N(0, 0.1²). Ratings are visited in a fresh random order each epoch.
    """

    def __init__(
        self,
        *,
        n_factors: int = 100,
        n_epochs: int = 20,
        lr: float = 0.005,
        reg: float = 0.02,
        lr_bias: float | None = None,
        reg_bias: float | None = None,
        init_std: float = 0.1,
        seed: int = 0,
    ) -> None:
        self.n_factors = n_factors
        self.n_epochs = n_epochs
        self.lr = lr
        self.reg = reg
        self.lr_bias = lr_bias
        self.reg_bias = reg_bias
        self.init_std = init_std
        self.seed = seed

    def fit(self, train: Ratings) -> Self:
        """Run the SGD epochs."""
        rng = np.random.default_rng(self.seed)
        self.mean_ = train.mean()
        self.user_bias_ = np.zeros(train.n_users)
        self.item_bias_ = np.zeros(train.n_items)
        self.user_factors_ = rng.normal(0.0, self.init_std, (train.n_users, self.n_factors))
        self.item_factors_ = rng.normal(0.0, self.init_std, (train.n_items, self.n_factors))
        _svd_sgd(
            train.user, train.item, train.rating, self.mean_, self.user_bias_, self.item_bias_,
            self.user_factors_, self.item_factors_,
            self.lr if self.lr_bias is None else self.lr_bias, self.lr,
            self.reg if self.reg_bias is None else self.reg_bias, self.reg, self.n_epochs, self.seed,
        )
        self.scale_ = train.scale
        return self

    def decompose(self, users: IntArray, items: IntArray) -> dict[str, F64]:
        """The unclipped estimate as ``mean``, ``user_bias``, ``item_bias`` and ``factors`` shares."""
        return {
            "mean": np.full(len(users), self.mean_),
            "user_bias": _lookup(self.user_bias_, users),
            "item_bias": _lookup(self.item_bias_, items),
            "factors": np.einsum("kf,kf->k", _rows(self.user_factors_, users), _rows(self.item_factors_, items)),
        }

    def predict(self, users: IntArray, items: IntArray) -> FloatArray:
        """μ + b_u + b_i + p_u·q_i, clipped; unknown users/items contribute zeros."""
        dot = np.einsum("kf,kf->k", _rows(self.user_factors_, users), _rows(self.item_factors_, items))
        return clip(self.mean_ + _lookup(self.user_bias_, users) + _lookup(self.item_bias_, items) + dot, self.scale_)


@numba.njit(cache=True)
def _svdpp_sgd(  # pragma: no cover - compiled
    user: npt.NDArray[np.int32], item: npt.NDArray[np.int32], rating: npt.NDArray[np.float32],
    indptr: npt.NDArray[np.int32], indices: npt.NDArray[np.int32],
    mu: float, bu: F64, bi: F64, p: F64, q: F64, y: F64,
    lr_bias: float, lr_factor: float, reg_bias: float, reg_factor: float, n_epochs: int, seed: int,
) -> None:
    np.random.seed(seed)
    n_factors = p.shape[1]
    implicit = np.zeros(n_factors)
    for _ in range(n_epochs):
        for k in np.random.permutation(len(rating)):
            u = user[k]
            i = item[k]
            start = indptr[u]
            stop = indptr[u + 1]
            norm = 1.0 / np.sqrt(max(stop - start, 1))
            implicit[:] = 0.0
            for t in range(start, stop):
                implicit += y[indices[t]]
            implicit *= norm
            dot = 0.0
            for f in range(n_factors):
                dot += q[i, f] * (p[u, f] + implicit[f])
            err = rating[k] - (mu + bu[u] + bi[i] + dot)
            bu[u] += lr_bias * (err - reg_bias * bu[u])
            bi[i] += lr_bias * (err - reg_bias * bi[i])
            for f in range(n_factors):
                puf = p[u, f]
                qif = q[i, f]
                p[u, f] += lr_factor * (err * qif - reg_factor * puf)
                q[i, f] += lr_factor * (err * (puf + implicit[f]) - reg_factor * qif)
                step = err * qif * norm
                for t in range(start, stop):
                    j = indices[t]
                    y[j, f] += lr_factor * (step - reg_factor * y[j, f])


class SVDpp:
    """SVD++: ``μ + b_u + b_i + q_i·(p_u + |N(u)|^-½ Σ_{j∈N(u)} y_j)``, N(u) = items u rated.

    Defaults are Surprise's SVDpp: 20 factors, 20 epochs, learning rate 0.007, regularisation
    0.02, N(0, 0.1²) initialisation; every rating updates the y of all the user's items, as
    Surprise does. Prediction reads N(u) from training.
    """

    def __init__(
        self,
        *,
        n_factors: int = 20,
        n_epochs: int = 20,
        lr: float = 0.007,
        reg: float = 0.02,
        lr_bias: float | None = None,
        reg_bias: float | None = None,
        init_std: float = 0.1,
        seed: int = 0,
    ) -> None:
        self.n_factors = n_factors
        self.n_epochs = n_epochs
        self.lr = lr
        self.reg = reg
        self.lr_bias = lr_bias
        self.reg_bias = reg_bias
        self.init_std = init_std
        self.seed = seed

    def fit(self, train: Ratings) -> Self:
        """Run the SGD epochs."""
        rng = np.random.default_rng(self.seed)
        self.mean_ = train.mean()
        self.user_bias_ = np.zeros(train.n_users)
        self.item_bias_ = np.zeros(train.n_items)
        self.user_factors_ = rng.normal(0.0, self.init_std, (train.n_users, self.n_factors))
        self.item_factors_ = rng.normal(0.0, self.init_std, (train.n_items, self.n_factors))
        self.implicit_factors_ = rng.normal(0.0, self.init_std, (train.n_items, self.n_factors))
        rated = train.user_items()
        _svdpp_sgd(
            train.user, train.item, train.rating,
            rated.indptr.astype(np.int32), rated.indices.astype(np.int32),
            self.mean_, self.user_bias_, self.item_bias_,
            self.user_factors_, self.item_factors_, self.implicit_factors_,
            self.lr if self.lr_bias is None else self.lr_bias, self.lr,
            self.reg if self.reg_bias is None else self.reg_bias, self.reg, self.n_epochs, self.seed,
        )
        self.user_implicit_ = implicit_sum(rated, self.implicit_factors_)
        self.scale_ = train.scale
        return self

    def decompose(self, users: IntArray, items: IntArray) -> dict[str, F64]:
        """The unclipped estimate as ``mean``, ``user_bias``, ``item_bias`` and ``factors`` shares
        (``factors`` holds the implicit-feedback part too)."""
        user_vec = _rows(self.user_factors_ + self.user_implicit_, users)
        return {
            "mean": np.full(len(users), self.mean_),
            "user_bias": _lookup(self.user_bias_, users),
            "item_bias": _lookup(self.item_bias_, items),
            "factors": np.einsum("kf,kf->k", user_vec, _rows(self.item_factors_, items)),
        }

    def predict(self, users: IntArray, items: IntArray) -> FloatArray:
        """The SVD++ estimate, clipped."""
        user_vec = _rows(self.user_factors_ + self.user_implicit_, users)
        dot = np.einsum("kf,kf->k", user_vec, _rows(self.item_factors_, items))
        return clip(self.mean_ + _lookup(self.user_bias_, users) + _lookup(self.item_bias_, items) + dot, self.scale_)


def implicit_sum(rated: sp.csr_matrix, y: F64) -> F64:
    """Per user, ``|N(u)|^-½ Σ_{j∈N(u)} y_j`` over the items of each CSR row."""
    counts = np.diff(rated.indptr).astype(np.float64)
    pattern = sp.csr_matrix((np.ones(rated.nnz), rated.indices, rated.indptr), shape=rated.shape)
    summed = np.asarray(pattern @ y)
    out: F64 = summed / np.sqrt(np.maximum(counts, 1.0))[:, None]
    return out


Similarity = Literal["msd", "pearson_baseline"]

#: Above this many items an automatic neighbourhood model compares users instead (dense n × n).
MAX_DENSE_ITEMS = 6000


def similarity_matrix(
    residual: sp.csr_matrix, ratings: sp.csr_matrix, *, name: Similarity, shrinkage: float, min_support: int
) -> F64:
    """Similarities between the rows of the matrices (rows = the entities compared).

    ``msd``: 1 / (1 + mean squared rating difference over common columns), Surprise's MSD;
    ``pearson_baseline``: the correlation of baseline residuals over common columns, shrunk by
    ``(n - 1) / (n - 1 + shrinkage)``. Pairs with fewer than ``min_support`` common columns get 0.
    """
    mask = ratings.copy()
    mask.data = np.ones_like(mask.data)
    support = np.asarray((mask @ mask.T).todense())
    if name == "msd":
        sq = ratings.multiply(ratings).tocsr()
        cross = np.asarray((ratings @ ratings.T).todense())
        left = np.asarray((sq @ mask.T).todense())
        sq_diff = left + left.T - 2.0 * cross
        msd = np.divide(sq_diff, support, out=np.zeros_like(sq_diff), where=support > 0)
        sim = 1.0 / (msd + 1.0)
    else:
        sq = residual.multiply(residual).tocsr()
        cross = np.asarray((residual @ residual.T).todense())
        left = np.asarray((sq @ mask.T).todense())  # Σ over common columns of row a's squares
        denom = np.sqrt(left * left.T)
        corr = np.divide(cross, denom, out=np.zeros_like(cross), where=denom > 0)
        sim = corr * np.maximum(support - 1.0, 0.0) / (np.maximum(support - 1.0, 0.0) + shrinkage)
    sim[support < max(min_support, 1)] = 0.0
    out: F64 = sim
    return out


@numba.njit(cache=True)
def _knn_predict(  # pragma: no cover - compiled
    target: npt.NDArray[np.int32], other: npt.NDArray[np.int32],
    indptr: npt.NDArray[np.int32], indices: npt.NDArray[np.int32], residual: npt.NDArray[np.float64],
    sim: F64, k: int, min_k: int,
) -> F64:
    """Σ sim·residual / Σ sim over the k most similar neighbours of ``target`` that rated ``other``."""
    out = np.zeros(len(target))
    for n in range(len(target)):
        a = target[n]
        b = other[n]
        if a < 0 or a >= sim.shape[0] or b < 0 or b + 1 >= len(indptr):
            continue
        start = indptr[b]
        stop = indptr[b + 1]
        if stop == start:
            continue
        sims = np.empty(stop - start)
        for t in range(start, stop):
            sims[t - start] = sim[a, indices[t]]
        order = np.argsort(-sims)
        total = 0.0
        weight = 0.0
        used = 0
        for r in order[:k]:
            s = sims[r]
            if s > 0:
                total += s * residual[start + r]
                weight += s
                used += 1
        if used >= min_k and weight > 0:
            out[n] = total / weight
    return out


class KNNBaseline:
    """Neighbourhood model on baseline residuals (Koren 2010; Surprise's KNNBaseline).

    ``b_ui + Σ_j sim(i, j)(r_uj − b_uj) / Σ_j sim(i, j)`` over the ``k`` neighbours most similar
    to the target that the user rated (item-based; user-based swaps the roles). Baselines by
    ALS as :class:`BaselineOnly`. Defaults are Surprise's (k 40, min_k 1, MSD, user-based);
    ``sim="pearson_baseline", user_based=False`` is the variant Surprise's docs recommend.
    ``user_based=None`` compares items unless there are more than :data:`MAX_DENSE_ITEMS` of
    them (the similarity matrix is dense), users otherwise; ``user_based_`` says which ran.
    """

    def __init__(
        self,
        *,
        k: int = 40,
        min_k: int = 1,
        sim: Similarity = "msd",
        user_based: bool | None = True,
        shrinkage: float = 100.0,
        min_support: int = 1,
    ) -> None:
        self.k = k
        self.min_k = min_k
        self.sim = sim
        self.user_based = user_based
        self.shrinkage = shrinkage
        self.min_support = min_support

    def fit(self, train: Ratings) -> Self:
        """Fit the baselines and the similarity matrix."""
        self.baseline_ = BaselineOnly().fit(train)
        resid = train.rating - self.baseline_.baseline(train.user, train.item)
        shape = (train.n_users, train.n_items)
        residual = sp.csr_matrix((resid, (train.user, train.item)), shape=shape)
        ratings = sp.csr_matrix((train.rating.astype(np.float64), (train.user, train.item)), shape=shape)
        self.user_based_ = self.user_based if self.user_based is not None else train.n_items > MAX_DENSE_ITEMS
        if not self.user_based_:
            residual, ratings = residual.T.tocsr(), ratings.T.tocsr()
        # Rows of `residual` are the compared entities; its columns (transposed) list who rated.
        self.similarity_ = similarity_matrix(
            residual, ratings, name=self.sim, shrinkage=self.shrinkage, min_support=self.min_support
        )
        by_other = residual.T.tocsr()
        by_other.sort_indices()
        self.other_indptr_ = by_other.indptr.astype(np.int32)
        self.other_indices_ = by_other.indices.astype(np.int32)
        self.other_residual_ = by_other.data.astype(np.float64)
        self.scale_ = train.scale
        return self

    def neighbourhood(self, users: IntArray, items: IntArray) -> F64:
        """The neighbourhood term alone (0 where no positive neighbour exists)."""
        users = np.asarray(users, dtype=np.int32)
        items = np.asarray(items, dtype=np.int32)
        target, other = (users, items) if self.user_based_ else (items, users)
        out: F64 = _knn_predict(
            target, other, self.other_indptr_, self.other_indices_, self.other_residual_,
            self.similarity_, self.k, self.min_k,
        )
        return out

    def decompose(self, users: IntArray, items: IntArray) -> dict[str, F64]:
        """The unclipped estimate: the baseline's shares and ``neighbours`` (the neighbourhood term)."""
        return {**self.baseline_.decompose(users, items), "neighbours": self.neighbourhood(users, items)}

    def affordable(self, train: Ratings) -> bool:
        """Whether the dense similarity matrix of the entities compared here fits: at most
        :data:`MAX_DENSE_ITEMS` of them (a stack leaves a member out that does not)."""
        user_based = self.user_based if self.user_based is not None else train.n_items > MAX_DENSE_ITEMS
        return (train.n_users if user_based else train.n_items) <= MAX_DENSE_ITEMS

    def predict(self, users: IntArray, items: IntArray) -> FloatArray:
        """Baseline plus the neighbourhood term, clipped."""
        return clip(self.baseline_.baseline(users, items) + self.neighbourhood(users, items), self.scale_)


#: Every baseline by name, at Surprise's defaults.
BASELINES: dict[str, type] = {
    "global-mean": GlobalMean,
    "baseline": BaselineOnly,
    "svd": SVD,
    "svdpp": SVDpp,
    "knn-baseline": KNNBaseline,
}
