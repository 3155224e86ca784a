"""The rating model that uses what the profile knows: biases, factors, content and taste.

``FusedRating`` predicts

    r̂_ui = μ + b_u + b_i + w·x_i + (p_u + |N(u)|^-½ Σ_{j∈N(u)} y_j) · (q_i + V x_i) + α t_u·x_i

where ``x_i`` are the item's content features (its text vector reduced to a few directions,
plus its categories / genres), ``N(u)`` the items the user rated (SVD++'s implicit feedback), and
``t_u`` the user's *taste vector*: the profile's sentiment, i.e. the content of the items the user
rated, weighted by how far each rating sits above or below the user's own mean (shrunk). An item
nobody rated gets ``b_i = 0, q_i = 0`` and is predicted from its content alone (``w·x_i``,
``V x_i`` and the taste term), which is what makes cold items predictable.

``RatingBlend`` stacks several rating models with a ridge regression learned on a validation
split carved from the training ratings (never the test ratings), then refits every model on all
of the training ratings. Both models explain a prediction as an exact sum of named shares
(:meth:`FusedRating.decompose`, :meth:`RatingBlend.decompose`), the way a recommendation's score
splits into ``weight × signal`` shares.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Self

import numba
import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from interestlm.core.types import FloatArray, IntArray
from interestlm.models.rating import (
    F64,
    Ratings,
    _lookup,
    _rows,
    als_baselines,
    clip,
    implicit_sum,
    shares_to_prediction,
)


class ItemFeaturizer:
    """Content features per item: the text vectors' top ``text_dim`` principal directions
    (whitened to unit variance, scaled by 1/√dims) beside multi-hot categories held by at least
    ``min_category_items`` items (scaled by 1/√(categories per item)). Rows with no text and no
    category are zero, so such items get no content term. Fitted once on the catalogue, it
    transforms items added later the same way."""

    def __init__(self, *, text_dim: int = 24, min_category_items: int = 5) -> None:
        self.text_dim = text_dim
        self.min_category_items = min_category_items

    def fit(self, text_vectors: npt.NDArray[np.floating] | None, categories: Sequence[Sequence[str]] | None) -> Self:
        """Learn the text directions and the category vocabulary."""
        self.mean_ = np.zeros(0)
        self.basis_ = np.zeros((0, 0))
        self.std_ = np.zeros(0)
        if text_vectors is not None and len(text_vectors) and self.text_dim > 0:
            x = np.asarray(text_vectors, dtype=np.float64)
            nonzero = np.linalg.norm(x, axis=1) > 0
            if nonzero.any():
                self.mean_ = x[nonzero].mean(axis=0)
                _, _, vt = np.linalg.svd(x[nonzero] - self.mean_, full_matrices=False)
                self.basis_ = vt[: min(self.text_dim, vt.shape[0])]
                self.std_ = ((x[nonzero] - self.mean_) @ self.basis_.T).std(axis=0)
        counts: dict[str, int] = {}
        for cats in categories or ():
            for c in set(cats):
                counts[c] = counts.get(c, 0) + 1
        self.categories_ = [c for c in sorted(counts) if counts[c] >= self.min_category_items]
        return self

    @property
    def dim(self) -> int:
        """Number of features per item."""
        return len(self.basis_) + len(self.categories_)

    def transform(
        self, text_vectors: npt.NDArray[np.floating] | None, categories: Sequence[Sequence[str]] | None
    ) -> F64:
        """Feature rows of the items given (``text_vectors`` and ``categories`` row-aligned)."""
        n = len(text_vectors) if text_vectors is not None else len(categories or ())
        parts: list[F64] = []
        if len(self.basis_):
            x = np.zeros((n, len(self.mean_))) if text_vectors is None else np.asarray(text_vectors, dtype=np.float64)
            nonzero = np.linalg.norm(x, axis=1) > 0
            proj = np.where(nonzero[:, None], (x - self.mean_) @ self.basis_.T, 0.0)
            whitened = np.divide(proj, self.std_, out=np.zeros_like(proj), where=self.std_ > 0)
            parts.append(whitened / np.sqrt(len(self.basis_)))
        if self.categories_:
            column = {c: k for k, c in enumerate(self.categories_)}
            multi = np.zeros((n, len(column)))
            for row, cats in enumerate(categories or [()] * n):
                cols = [column[c] for c in set(cats) if c in column]
                if cols:
                    multi[row, cols] = 1.0 / np.sqrt(len(cols))
            parts.append(multi)
        return np.hstack(parts) if parts else np.zeros((n, 0))

    def to_json(self) -> dict[str, Any]:
        """Settings and vocabulary (the arrays are saved beside, as ``.npy``)."""
        return {
            "text_dim": self.text_dim, "min_category_items": self.min_category_items, "categories": self.categories_,
        }


def item_features(
    text_vectors: npt.NDArray[np.floating] | None,
    categories: Sequence[Sequence[str]] | None,
    *,
    text_dim: int = 24,
    min_category_items: int = 5,
) -> F64:
    """:class:`ItemFeaturizer` fitted on these items and applied to them."""
    featurizer = ItemFeaturizer(text_dim=text_dim, min_category_items=min_category_items)
    return featurizer.fit(text_vectors, categories).transform(text_vectors, categories)


def taste_vectors(train: Ratings, features: F64, *, shrinkage: float = 5.0) -> F64:
    """Each user's taste over the content features: Σ_j (r_uj − r̄_u) x_j / (n_u + shrinkage).

    This is the profile's sentiment (ratings centred per user: liked content counts up,
    disliked content down), expressed in the rating model's feature space.
    """
    n_u = np.bincount(train.user, minlength=train.n_users).astype(np.float64)
    sums = np.bincount(train.user, weights=train.rating.astype(np.float64), minlength=train.n_users)
    user_mean = np.divide(sums, n_u, out=np.zeros_like(sums), where=n_u > 0)
    centred = train.rating - user_mean[train.user]
    weights = sp.csr_matrix((centred, (train.user, train.item)), shape=(train.n_users, train.n_items))
    out: F64 = np.asarray(weights @ features) / (n_u + shrinkage)[:, None]
    return out


@numba.njit(cache=True)
def _fused_sgd(  # pragma: no cover - compiled
    user_order_seed: int, indptr: npt.NDArray[np.int32], indices: npt.NDArray[np.int32],
    ratings: npt.NDArray[np.float64], x: F64, taste: F64,
    mu: float, bu: F64, bi: F64, w: F64, p: F64, q: F64, y: F64, v: F64, alpha: npt.NDArray[np.float64],
    lr: float, lr_decay: float, reg_bias: float, reg_factor: float, reg_content: float, n_epochs: int,
) -> None:
    """SGD over users (random order); within a user, ratings in random order. The implicit sum
    is computed once per user and its gradient applied to the y's at the end of the user's
    ratings (the usual fast SVD++ schedule)."""
    np.random.seed(user_order_seed)
    n_users = len(indptr) - 1
    n_factors = p.shape[1]
    n_feat = x.shape[1]
    implicit = np.zeros(n_factors)
    grad_implicit = np.zeros(n_factors)
    item_vec = np.zeros(n_factors)
    rate = lr
    for _ in range(n_epochs):
        for u in np.random.permutation(n_users):
            start = indptr[u]
            stop = indptr[u + 1]
            if stop == start:
                continue
            norm = 1.0 / np.sqrt(stop - start)
            implicit[:] = 0.0
            for t in range(start, stop):
                implicit += y[indices[t]]
            implicit *= norm
            grad_implicit[:] = 0.0
            for t in start + np.random.permutation(stop - start):
                i = indices[t]
                content_bias = 0.0
                taste_dot = 0.0
                for d in range(n_feat):
                    content_bias += w[d] * x[i, d]
                    taste_dot += taste[u, d] * x[i, d]
                for f in range(n_factors):
                    acc = q[i, f]
                    for d in range(n_feat):
                        acc += v[f, d] * x[i, d]
                    item_vec[f] = acc
                dot = 0.0
                for f in range(n_factors):
                    dot += (p[u, f] + implicit[f]) * item_vec[f]
                err = ratings[t] - (mu + bu[u] + bi[i] + content_bias + dot + alpha[0] * taste_dot)
                bu[u] += rate * (err - reg_bias * bu[u])
                bi[i] += rate * (err - reg_bias * bi[i])
                alpha[0] += rate * 0.1 * (err * taste_dot - reg_bias * alpha[0])
                for d in range(n_feat):
                    w[d] += rate * (err * x[i, d] - reg_content * w[d])
                for f in range(n_factors):
                    user_f = p[u, f] + implicit[f]
                    puf = p[u, f]
                    p[u, f] += rate * (err * item_vec[f] - reg_factor * puf)
                    q[i, f] += rate * (err * user_f - reg_factor * q[i, f])
                    grad_implicit[f] += err * item_vec[f]
                    for d in range(n_feat):
                        v[f, d] += rate * (err * user_f * x[i, d] - reg_content * v[f, d])
            for t in range(start, stop):
                j = indices[t]
                for f in range(n_factors):
                    y[j, f] += rate * (grad_implicit[f] * norm - reg_factor * y[j, f])
        rate *= lr_decay


#: The shares :meth:`FusedRating.decompose` returns, in order; they sum to the unclipped estimate.
FUSED_TERMS = ("mean", "user_bias", "item_bias", "content_bias", "factors", "content_factors", "taste")


class FusedRating:
    """Biases + SVD++ factors + content features + the profile's taste (module docstring).

    ``use_content=False`` drops ``x`` (and with it the content and taste terms); ``use_taste``
    and ``use_implicit`` switch those terms, for the ablation.
    """

    def __init__(
        self,
        *,
        n_factors: int = 50,
        n_epochs: int = 60,
        lr: float = 0.005,
        lr_decay: float = 0.96,
        reg_bias: float = 0.02,
        reg_factor: float = 0.1,
        reg_content: float = 0.02,
        init_std: float = 0.05,
        use_content: bool = True,
        use_taste: bool = True,
        use_implicit: bool = True,
        seed: int = 0,
    ) -> None:
        self.n_factors = n_factors
        self.n_epochs = n_epochs
        self.lr = lr
        self.lr_decay = lr_decay
        self.reg_bias = reg_bias
        self.reg_factor = reg_factor
        self.reg_content = reg_content
        self.init_std = init_std
        self.use_content = use_content
        self.use_taste = use_taste
        self.use_implicit = use_implicit
        self.seed = seed

    def fit(self, train: Ratings, *, features: F64 | None = None, featurizer: ItemFeaturizer | None = None) -> Self:
        """Fit on ``train``; ``features`` are the items' content rows (``n_items × d``), made by
        ``featurizer`` when given (kept, so items added later get features the same way)."""
        rng = np.random.default_rng(self.seed)
        self.featurizer_ = featurizer
        if features is None or not self.use_content:
            features = np.zeros((train.n_items, 0))
        if features.shape[0] != train.n_items:
            raise ValueError(f"features has {features.shape[0]} rows, expected {train.n_items} items")
        x = np.ascontiguousarray(features, dtype=np.float64)
        self.features_ = x
        k, d = self.n_factors, x.shape[1]
        # Biases start at their ALS values: SGD then only refines them, which converges faster.
        self.mean_, self.user_bias_, self.item_bias_ = als_baselines(train, reg_u=15.0, reg_i=10.0, n_epochs=10)
        self.content_weights_ = np.zeros(d)
        self.user_factors_ = rng.normal(0.0, self.init_std, (train.n_users, k))
        self.item_factors_ = rng.normal(0.0, self.init_std, (train.n_items, k))
        self.implicit_factors_ = (
            rng.normal(0.0, self.init_std, (train.n_items, k)) if self.use_implicit else np.zeros((train.n_items, k))
        )
        self.content_factors_ = np.zeros((k, d))
        self.taste_ = taste_vectors(train, x) if (self.use_taste and d) else np.zeros((train.n_users, d))
        alpha = np.zeros(1)
        rated = sp.csr_matrix(
            (train.rating.astype(np.float64), (train.user, train.item)), shape=(train.n_users, train.n_items)
        )
        rated.sort_indices()
        implicit = self.implicit_factors_ if self.use_implicit else np.zeros((train.n_items, k))
        _fused_sgd(
            self.seed, rated.indptr.astype(np.int32), rated.indices.astype(np.int32), rated.data,
            x, self.taste_, self.mean_, self.user_bias_, self.item_bias_, self.content_weights_,
            self.user_factors_, self.item_factors_, implicit, self.content_factors_, alpha,
            self.lr, self.lr_decay, self.reg_bias, self.reg_factor, self.reg_content,
            self.n_epochs,
        )
        if not self.use_implicit:
            implicit[:] = 0.0
        self.implicit_factors_ = implicit
        self.taste_weight_ = float(alpha[0])
        self.user_implicit_ = implicit_sum(rated, implicit)
        self.scale_ = train.scale
        return self

    def decompose(self, users: IntArray, items: IntArray) -> dict[str, F64]:
        """The unclipped estimate as named shares (:data:`FUSED_TERMS`), one array per share."""
        users = np.asarray(users)
        items = np.asarray(items)
        x = _rows(self.features_, items)
        user_vec = _rows(self.user_factors_ + self.user_implicit_, users)
        return {
            "mean": np.full(len(users), self.mean_),
            "user_bias": _lookup(self.user_bias_, users),
            "item_bias": _lookup(self.item_bias_, items),
            "content_bias": x @ self.content_weights_,
            "factors": np.einsum("kf,kf->k", user_vec, _rows(self.item_factors_, items)),
            "content_factors": np.einsum("kf,kf->k", user_vec, x @ self.content_factors_.T),
            "taste": self.taste_weight_ * np.einsum("kd,kd->k", _rows(self.taste_, users), x),
        }

    def predict(self, users: IntArray, items: IntArray) -> FloatArray:
        """The sum of the shares, clipped to the scale."""
        return clip(sum(self.decompose(users, items).values()), self.scale_)

    def explain(self, users: IntArray, items: IntArray) -> dict[str, F64]:
        """:meth:`decompose`'s shares and a ``clip`` share: they sum to :meth:`predict`."""
        return shares_to_prediction(self.decompose(users, items), self.predict(users, items))

    def with_items(
        self, text_vectors: npt.NDArray[np.floating], categories: Sequence[Sequence[str]]
    ) -> FusedRating:
        """A copy that knows items appended to the catalogue after fitting: their content rows
        come from the fitted featurizer (zeros without one); they have no bias or factors, so
        they are predicted from content and the user's taste."""
        rows = (
            self.featurizer_.transform(text_vectors, categories)
            if self.featurizer_ is not None
            else np.zeros((len(text_vectors), self.features_.shape[1]))
        )
        other = copy.copy(self)
        other.features_ = np.vstack([self.features_, rows])
        return other

    # ------------------------------------------------------------------ persistence (no pickle)
    def save(self, directory: Path | str) -> Path:
        """Write the learned arrays as ``.npy`` and the scalars as ``rating.json`` in ``directory``."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        for name in _SAVED_ARRAYS:
            np.save(out / f"{name}.npy", np.asarray(getattr(self, name + "_")), allow_pickle=False)
        scalars: dict[str, Any] = {
            "mean": self.mean_, "taste_weight": self.taste_weight_, "scale": list(self.scale_),
            "config": {k: getattr(self, k) for k in _CONFIG_KEYS}, "featurizer": None,
        }
        if self.featurizer_ is not None:
            scalars["featurizer"] = self.featurizer_.to_json()
            for name in ("mean", "basis", "std"):
                np.save(out / f"featurizer_{name}.npy", getattr(self.featurizer_, name + "_"), allow_pickle=False)
        (out / "rating.json").write_text(json.dumps(scalars, indent=2) + "\n", encoding="utf-8")
        return out

    @classmethod
    def load(cls, directory: Path | str) -> FusedRating:
        """The model :meth:`save` wrote, ready to predict (nothing is refitted)."""
        src = Path(directory)
        scalars = json.loads((src / "rating.json").read_text(encoding="utf-8"))
        model = cls(**scalars["config"])
        for name in _SAVED_ARRAYS:
            setattr(model, name + "_", np.load(src / f"{name}.npy", allow_pickle=False))
        model.mean_ = float(scalars["mean"])
        model.taste_weight_ = float(scalars["taste_weight"])
        model.scale_ = (float(scalars["scale"][0]), float(scalars["scale"][1]))
        model.featurizer_ = None
        if scalars.get("featurizer") is not None:
            spec = scalars["featurizer"]
            featurizer = ItemFeaturizer(text_dim=spec["text_dim"], min_category_items=spec["min_category_items"])
            featurizer.categories_ = [str(c) for c in spec["categories"]]
            for name in ("mean", "basis", "std"):
                setattr(featurizer, name + "_", np.load(src / f"featurizer_{name}.npy", allow_pickle=False))
            model.featurizer_ = featurizer
        return model


_SAVED_ARRAYS = (
    "features", "user_bias", "item_bias", "content_weights", "user_factors", "item_factors",
    "implicit_factors", "content_factors", "taste", "user_implicit",
)
_CONFIG_KEYS = (
    "n_factors", "n_epochs", "lr", "lr_decay", "reg_bias", "reg_factor", "reg_content", "init_std",
    "use_content", "use_taste", "use_implicit", "seed",
)


ModelFactory = Callable[[], Any]


class RatingBlend:
    """A ridge stack of rating models, weights learned on held-out predictions of the training ratings.

    ``members`` maps a name to a factory of an unfitted model; a member whose ``fit`` takes
    ``features`` is given the item features. The members are fitted without a held carve of the
    training ratings and predict it; the ridge is fitted on those held predictions; the members
    are then refit on all the training ratings. The carve is a random ``valid_fraction`` (by
    ``seed``) when that holds at least ``min_valid`` ratings; on smaller sets the ratings are
    dealt into ``n_folds`` folds, each held out in turn, so every training rating gets an
    out-of-fold prediction: that is what makes the weights trustworthy on small, sparse sets,
    where a tenth of the ratings is a few hundred noisy residuals. With fewer than 10 held
    ratings per member the members are averaged instead.
    """

    def __init__(
        self,
        members: dict[str, ModelFactory],
        *,
        valid_fraction: float = 0.1,
        min_valid: int = 5000,
        n_folds: int = 5,
        ridge: float = 1.0,
        seed: int = 0,
    ) -> None:
        if not members:
            raise ValueError("RatingBlend needs at least one member")
        if not 0.0 < valid_fraction < 1.0:
            raise ValueError(f"valid_fraction must be in (0, 1), got {valid_fraction}")
        self.members = members
        self.valid_fraction = valid_fraction
        if n_folds < 2:
            raise ValueError(f"n_folds must be at least 2, got {n_folds}")
        self.min_valid = min_valid
        self.n_folds = n_folds
        self.ridge = ridge
        self.seed = seed

    @staticmethod
    def _fit_member(
        model: Any, train: Ratings, features: F64 | None, featurizer: ItemFeaturizer | None = None
    ) -> Any:
        if isinstance(model, FusedRating):
            return model.fit(train, features=features, featurizer=featurizer)
        if isinstance(model, RatingBlend):
            return model.fit(train, features=features, featurizer=featurizer)
        return model.fit(train)

    def carves(self, n_ratings: int) -> tuple[npt.NDArray[np.int64], int]:
        """Each training rating's carve and how many carves are held out in turn, ``0 … used − 1``
        (see the class docstring): one carve (0, the rest 1) or ``n_folds`` folds."""
        draw = np.random.default_rng(self.seed).random(n_ratings)
        if self.valid_fraction * n_ratings >= self.min_valid:
            return (draw >= self.valid_fraction).astype(np.int64), 1
        return np.minimum((draw * self.n_folds).astype(np.int64), self.n_folds - 1), self.n_folds

    def fit(
        self, train: Ratings, *, features: F64 | None = None, featurizer: ItemFeaturizer | None = None
    ) -> Self:
        """Fit the members without each held carve, the ridge on their held predictions, then
        refit the members on all the ratings (``featurizer`` goes to :class:`FusedRating` members)."""
        # A member too large for these data (a dense n × n similarity, a dense rating matrix)
        # says so through ``affordable`` and is left out.
        members = {
            name: make for name, make in self.members.items()
            if getattr(make(), "affordable", lambda _train: True)(train)
        }  # fmt: skip
        if not members:
            raise ValueError("no member of this RatingBlend is affordable on these ratings")
        self.left_out_ = [name for name in self.members if name not in members]
        carve, used = self.carves(len(train))
        held = carve < used
        self.n_carves_ = used
        self.scale_ = train.scale
        if held.sum() < 10 * len(members) or (carve != 0).sum() < 1:
            # Too few ratings to learn weights from: average the members.
            self.weights_ = np.full(len(members), 1.0 / len(members))
            self.intercept_ = 0.0
            self.valid_rmse_: dict[str, float] = {}
            self.models_: dict[str, Any] = {
                name: self._fit_member(make(), train, features, featurizer) for name, make in members.items()
            }
            return self
        preds = np.zeros((len(train), len(members)))
        for c in range(used):
            out = carve == c
            fit_part, valid = train.take(~out), train.take(out)
            for m, make in enumerate(members.values()):
                model = self._fit_member(make(), fit_part, features)
                preds[out, m] = model.predict(valid.user, valid.item).astype(np.float64)
        preds = preds[held]
        target = train.rating[held].astype(np.float64)
        centre = preds.mean(axis=0)
        a = preds - centre
        gram = a.T @ a + self.ridge * np.eye(a.shape[1])
        self.weights_ = np.linalg.solve(gram, a.T @ (target - target.mean()))
        self.intercept_ = float(target.mean() - centre @ self.weights_)
        self.valid_rmse_ = {
            name: float(np.sqrt(np.mean((preds[:, m] - target) ** 2))) for m, name in enumerate(members)
        }
        self.models_ = {
            name: self._fit_member(make(), train, features, featurizer) for name, make in members.items()
        }
        return self

    def decompose(self, users: IntArray, items: IntArray) -> dict[str, F64]:
        """Shares of the unclipped blend: the intercept, then ``weight × prediction`` of each
        member; a :class:`FusedRating` member's share is split further into its own terms."""
        out: dict[str, F64] = {"intercept": np.full(len(users), self.intercept_)}
        for weight, (name, model) in zip(self.weights_.tolist(), self.models_.items(), strict=True):
            if isinstance(model, FusedRating):
                for term, values in model.decompose(users, items).items():
                    out[f"{name}.{term}"] = weight * values
            else:
                out[name] = weight * model.predict(users, items).astype(np.float64)
        return out

    def predict(self, users: IntArray, items: IntArray) -> FloatArray:
        """The blended prediction, clipped."""
        return clip(sum(self.decompose(users, items).values()), self.scale_)

    def explain(self, users: IntArray, items: IntArray) -> dict[str, F64]:
        """The prediction as shares by kind of evidence, summed over the members: ``mean`` (the
        intercept and each member's weighted global mean), ``user_bias``, ``item_bias``,
        ``factors``, the content terms, ``neighbours``, ``autoencoder``, and ``clip`` (what
        clipping to the scale took off, the members' and the blend's). They sum to :meth:`predict`."""
        out: dict[str, F64] = {"mean": np.full(len(users), self.intercept_)}
        for weight, model in zip(self.weights_.tolist(), self.models_.values(), strict=True):
            shares = shares_to_prediction(model.decompose(users, items), model.predict(users, items))
            for term, values in shares.items():
                out[term] = out.get(term, np.zeros(len(users))) + weight * values
        out.pop("clip", None)
        out["clip"] = self.predict(users, items).astype(np.float64) - sum(out.values(), np.zeros(len(users)))
        return out

    def with_items(
        self, text_vectors: npt.NDArray[np.floating], categories: Sequence[Sequence[str]]
    ) -> RatingBlend:
        """A copy whose content-reading members know items appended after fitting (see
        :meth:`FusedRating.with_items`); the others treat them as unrated."""
        other = copy.copy(self)
        other.models_ = {
            name: model.with_items(text_vectors, categories) if hasattr(model, "with_items") else model
            for name, model in self.models_.items()
        }
        return other
