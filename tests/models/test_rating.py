"""The rating predictors on a planted rating structure: each must recover what was planted better
than the simpler model below it, and their parts must be exact (similarities against a brute-force
loop, decompositions summing to the prediction, save / load giving the same numbers)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from interestlm.core.tables import Interactions
from interestlm.models.rating import (
    SVD,
    BaselineOnly,
    GlobalMean,
    KNNBaseline,
    Ratings,
    SVDpp,
    ratings_from_interactions,
    similarity_matrix,
)
from interestlm.models.rating_fused import FUSED_TERMS, FusedRating, RatingBlend, item_features, taste_vectors


def planted(
    n_users: int = 120, n_items: int = 90, density: float = 0.3, seed: int = 0
) -> tuple[Ratings, np.ndarray, np.ndarray]:
    """Ratings = 3.5 + user bias + item bias + 2-factor interaction + noise, on a 1-5 scale.

    Each item's content (6 features) is a noisy copy of its factors and bias: content predicts
    what an item is like, so it can stand in for an unrated item. Returns (ratings, features,
    true noise-free value of every rated pair)."""
    rng = np.random.default_rng(seed)
    bu = rng.normal(0, 0.4, n_users)
    bi = rng.normal(0, 0.5, n_items)
    p = rng.normal(0, 0.8, (n_users, 2))
    q = rng.normal(0, 0.8, (n_items, 2))
    mask = rng.random((n_users, n_items)) < density
    u, i = np.nonzero(mask)
    clean = 3.5 + bu[u] + bi[i] + np.einsum("kf,kf->k", p[u], q[i])
    r = np.clip(np.round(clean + rng.normal(0, 0.3, len(u))), 1, 5)
    features = np.hstack([q, bi[:, None], rng.normal(0, 1, (n_items, 3)) * 0.1]) + rng.normal(0, 0.05, (n_items, 6))
    ratings = Ratings.build(u, i, r, n_users=n_users, n_items=n_items, scale=(1.0, 5.0))
    return ratings, features, clean


def split(ratings: Ratings, seed: int = 1) -> tuple[Ratings, Ratings]:
    test = np.random.default_rng(seed).random(len(ratings)) < 0.2
    return ratings.take(~test), ratings.take(test)


def rmse_of(model: object, train: Ratings, test: Ratings, **fit: object) -> float:
    model.fit(train, **fit)  # type: ignore[attr-defined]
    pred = model.predict(test.user, test.item)  # type: ignore[attr-defined]
    return float(np.sqrt(np.mean((pred - test.rating) ** 2)))


def test_each_model_beats_the_simpler_one_on_planted_factors() -> None:
    ratings, features, _ = planted()
    train, test = split(ratings)
    mean = rmse_of(GlobalMean(), train, test)
    base = rmse_of(BaselineOnly(), train, test)
    svd = rmse_of(SVD(n_factors=5, n_epochs=60, lr=0.01), train, test)
    svdpp = rmse_of(SVDpp(n_factors=5, n_epochs=40, lr=0.01), train, test)
    fused = rmse_of(FusedRating(n_factors=5, n_epochs=60, lr=0.01, reg_factor=0.05), train, test, features=features)
    assert base < 0.9 * mean
    assert svd < 0.9 * base and svdpp < 0.9 * base
    assert fused < 0.95 * base


def test_cold_items_are_predicted_from_content() -> None:
    ratings, features, _ = planted(seed=2)
    cold = np.random.default_rng(3).choice(ratings.n_items, 15, replace=False)
    test_mask = np.isin(ratings.item, cold)
    train, test = ratings.take(~test_mask), ratings.take(test_mask)
    no_item = rmse_of(BaselineOnly(), train, test)  # knows nothing of a cold item: mean + user bias
    with_content = rmse_of(FusedRating(n_factors=5, n_epochs=60, lr=0.01), train, test, features=features)
    without = rmse_of(FusedRating(n_factors=5, n_epochs=60, lr=0.01, use_content=False), train, test, features=features)
    assert with_content < 0.9 * no_item
    assert abs(without - no_item) < 0.05 * no_item


def test_baseline_biases_recover_the_planted_ones() -> None:
    rng = np.random.default_rng(4)
    bu, bi = rng.normal(0, 0.5, 60), rng.normal(0, 0.7, 40)
    u, i = np.nonzero(np.ones((60, 40), dtype=bool))
    ratings = Ratings.build(u, i, 3.0 + bu[u] + bi[i] + rng.normal(0, 0.1, len(u)), scale=(0.0, 6.0))
    model = BaselineOnly(reg_u=0.0, reg_i=0.0, n_epochs=20).fit(ratings)
    assert np.corrcoef(model.user_bias_, bu)[0, 1] > 0.99
    assert np.corrcoef(model.item_bias_, bi)[0, 1] > 0.99


def _brute_similarity(dense: np.ndarray, resid: np.ndarray, name: str, shrinkage: float) -> np.ndarray:
    n = dense.shape[0]
    out = np.zeros((n, n))
    for a in range(n):
        for b in range(n):
            common = ~np.isnan(dense[a]) & ~np.isnan(dense[b])
            k = int(common.sum())
            if k == 0:
                continue
            if name == "msd":
                out[a, b] = 1.0 / (np.mean((dense[a, common] - dense[b, common]) ** 2) + 1.0)
            else:
                x, y = resid[a, common], resid[b, common]
                den = np.sqrt((x**2).sum() * (y**2).sum())
                out[a, b] = 0.0 if den == 0 else (x * y).sum() / den * max(k - 1, 0) / (max(k - 1, 0) + shrinkage)
    return out


@pytest.mark.parametrize("name", ["msd", "pearson_baseline"])
def test_similarities_match_a_brute_force_loop(name: str) -> None:
    import scipy.sparse as sp

    rng = np.random.default_rng(5)
    dense = np.where(rng.random((7, 9)) < 0.6, rng.integers(1, 6, (7, 9)).astype(float), np.nan)
    resid = np.where(np.isnan(dense), 0.0, dense - 3.1 + rng.normal(0, 0.2, dense.shape))
    rows, cols = np.nonzero(~np.isnan(dense))
    ratings = sp.csr_matrix((dense[rows, cols], (rows, cols)), shape=dense.shape)
    residual = sp.csr_matrix((resid[rows, cols], (rows, cols)), shape=dense.shape)
    got = similarity_matrix(residual, ratings, name=name, shrinkage=2.0, min_support=1)  # type: ignore[arg-type]
    np.testing.assert_allclose(got, _brute_similarity(dense, resid, name, 2.0), atol=1e-9)


@pytest.mark.parametrize("user_based", [True, False])
def test_knn_baseline_improves_on_its_baseline(user_based: bool) -> None:
    ratings, _, _ = planted(seed=6)
    train, test = split(ratings)
    base = rmse_of(BaselineOnly(), train, test)
    knn = rmse_of(KNNBaseline(sim="pearson_baseline", user_based=user_based), train, test)
    assert knn < 0.97 * base


def test_unknown_users_and_items_get_a_prediction_on_the_scale() -> None:
    ratings, features, _ = planted(seed=7)
    users = np.array([0, ratings.n_users + 5, 3])
    items = np.array([ratings.n_items + 2, 1, 2])
    for model in (BaselineOnly(), SVD(n_epochs=2), SVDpp(n_epochs=2), KNNBaseline(), FusedRating(n_epochs=2)):
        if isinstance(model, FusedRating):
            model.fit(ratings, features=features)
        else:
            model.fit(ratings)
        pred = model.predict(users, items)
        assert pred.shape == (3,) and np.all((pred >= 1.0) & (pred <= 5.0))


def test_fused_decomposition_sums_to_the_prediction_and_survives_save_load(tmp_path: Path) -> None:
    ratings, features, _ = planted(seed=8)
    model = FusedRating(n_factors=4, n_epochs=10).fit(ratings, features=features)
    users, items = ratings.user[:50], ratings.item[:50]
    shares = model.decompose(users, items)
    assert tuple(shares) == FUSED_TERMS
    total = np.clip(sum(shares.values()), 1.0, 5.0)
    np.testing.assert_allclose(model.predict(users, items), total, atol=1e-5)
    assert np.any(shares["content_factors"] != 0) and np.any(shares["taste"] != 0)
    loaded = FusedRating.load(model.save(tmp_path / "rating"))
    np.testing.assert_array_equal(loaded.predict(users, items), model.predict(users, items))


def test_taste_vectors_point_toward_liked_content() -> None:
    # User 0 rates item 0 (feature +1) high and item 1 (feature -1) low.
    ratings = Ratings.build([0, 0], [0, 1], [5.0, 1.0], scale=(1.0, 5.0))
    taste = taste_vectors(ratings, np.array([[1.0], [-1.0]]), shrinkage=0.0)
    assert taste[0, 0] == pytest.approx(2.0)


def test_item_features_whiten_text_and_keep_frequent_categories() -> None:
    rng = np.random.default_rng(9)
    text = rng.normal(0, 1, (30, 16))
    cats = [("a",)] * 10 + [("a", "b")] * 10 + [("rare",)] + [()] * 9
    x = item_features(text, cats, text_dim=4, min_category_items=5)
    assert x.shape == (30, 4 + 2)  # "rare" is held by one item only
    np.testing.assert_allclose(x[:, :4].std(axis=0), 0.5, atol=1e-6)  # unit variance / sqrt(4)


def test_blend_weights_a_good_member_above_a_bad_one_and_decomposes_exactly() -> None:
    ratings, features, _ = planted(seed=10)
    train, test = split(ratings)
    blend = RatingBlend(
        {
            "fused": lambda: FusedRating(n_factors=5, n_epochs=40, lr=0.01),
            "mean": GlobalMean,
        }
    ).fit(train, features=features)
    assert blend.weights_[0] > 0.5 > abs(blend.weights_[1])
    shares = blend.decompose(test.user, test.item)
    np.testing.assert_allclose(blend.predict(test.user, test.item), np.clip(sum(shares.values()), 1, 5), atol=1e-5)
    assert any(name.startswith("fused.") for name in shares)


def test_ratings_from_interactions_keeps_the_later_rating_of_a_pair() -> None:
    inter = Interactions.build(
        user=np.array([0, 0, 1, 1]), item=np.array([2, 2, 0, 1]), user_ids=["a", "b"],
        timestamp=np.array([10, 20, 5, 6]), rating=np.array([1.0, 4.0, np.nan, 3.0], dtype=np.float32),
    )
    ratings, rows = ratings_from_interactions(inter, n_items=3)
    assert rows.tolist() == [1, 3]
    assert ratings.rating.tolist() == [4.0, 3.0]
    assert ratings.scale == (3.0, 4.0)


def test_ratings_reject_bad_input() -> None:
    with pytest.raises(ValueError, match="outside"):
        Ratings.build([0, 5], [0, 1], [1.0, 2.0], n_users=2)
    with pytest.raises(ValueError, match="finite"):
        Ratings.build([0], [0], [np.nan])
    with pytest.raises(ValueError, match="no explicit ratings"):
        ratings_from_interactions(
            Interactions.build(user=np.array([0]), item=np.array([0]), user_ids=["a"], timestamp=np.array([1])), 1
        )
