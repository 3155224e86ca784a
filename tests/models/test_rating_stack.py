"""The served rating stack: out-of-fold weights (every carve held in turn on small data, one carve
on large), members left out when too large for the data, shares that sum to the prediction, and
save / load of every rating model giving the same numbers without refitting."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_rating import planted, split

from interestlm.models import rating as rating_module
from interestlm.models.rating import SVD, BaselineOnly, GlobalMean, KNNBaseline, Ratings, SVDpp
from interestlm.models.rating_autorec import AutoRec
from interestlm.models.rating_fused import FusedRating, ItemFeaturizer, RatingBlend
from interestlm.models.rating_io import load_rating_model, save_rating_model
from interestlm.models.rating_stack import fit_interest_stack, interest_stack


def small_stack(seed: int = 0, **kwargs: Any) -> RatingBlend:
    """A stack of every kind of member, sized to fit in a test's time."""
    return RatingBlend(
        {
            "fused": lambda: FusedRating(n_factors=4, n_epochs=15, lr=0.01, seed=seed),
            "svdpp": lambda: SVDpp(n_factors=4, n_epochs=5, seed=seed),
            "knn_item": lambda: KNNBaseline(sim="pearson_baseline", user_based=False),
            "knn_user": lambda: KNNBaseline(sim="pearson_baseline", user_based=True),
            "baseline": BaselineOnly,
            "autorec": lambda: AutoRec(hidden=16, n_epochs=5, seed=seed),
        },
        seed=seed,
        **kwargs,
    )


def test_small_data_hold_every_fold_in_turn_and_large_data_one_carve() -> None:
    blend = RatingBlend({"mean": GlobalMean}, valid_fraction=0.1, min_valid=5000, n_folds=5, seed=3)
    carve, used = blend.carves(40_000)  # a tenth is 4,000 < 5,000: five folds, every rating held once
    assert used == 5 and set(carve.tolist()) == set(range(5))
    assert 0.18 < np.mean(carve == 0) < 0.22
    carve, used = blend.carves(80_000)  # a tenth is 8,000: one carve is enough
    assert used == 1 and set(carve.tolist()) == {0, 1}
    # The carve is exactly the random tenth the stack held before it cross-fitted.
    np.testing.assert_array_equal(carve == 0, np.random.default_rng(3).random(80_000) < 0.1)


def test_out_of_fold_weights_use_every_training_rating() -> None:
    ratings, features, _ = planted(seed=11)
    train, _ = split(ratings)
    blend = RatingBlend(
        {"fused": lambda: FusedRating(n_factors=5, n_epochs=40, lr=0.01), "mean": GlobalMean}, min_valid=10**9
    ).fit(train, features=features)
    assert blend.n_carves_ == 5
    assert blend.weights_[0] > 0.5 > abs(blend.weights_[1])


def test_members_too_large_for_the_data_are_left_out(monkeypatch: pytest.MonkeyPatch) -> None:
    ratings, features, _ = planted(n_users=60, n_items=30, seed=12)
    monkeypatch.setattr(rating_module, "MAX_DENSE_ITEMS", 40)  # 60 users are too many to compare
    blend = RatingBlend(
        {"knn_user": lambda: KNNBaseline(user_based=True), "knn_item": lambda: KNNBaseline(user_based=False),
         "baseline": BaselineOnly}
    ).fit(ratings, features=features)  # fmt: skip
    assert blend.left_out_ == ["knn_user"] and list(blend.models_) == ["knn_item", "baseline"]
    assert len(blend.weights_) == 2
    assert not AutoRec().affordable(Ratings.build([0, 1], [0, 1], [1.0, 2.0], n_users=10_000, n_items=10_000))


def test_stack_shares_sum_to_the_prediction_including_what_clipping_took() -> None:
    ratings, features, _ = planted(seed=13)
    train, test = split(ratings)
    blend = small_stack().fit(train, features=features)
    users = np.concatenate([test.user, [ratings.n_users + 3]])  # and a user nobody has seen
    items = np.concatenate([test.item, [1]])
    shares = blend.explain(users, items)
    np.testing.assert_allclose(sum(shares.values()), blend.predict(users, items), atol=1e-5)
    assert {"mean", "user_bias", "item_bias", "factors", "neighbours", "autoencoder", "clip"} <= set(shares)
    assert np.any(shares["clip"] != 0)  # planted ratings reach the scale's ends: some are clipped


@pytest.mark.parametrize(
    "make",
    [GlobalMean, BaselineOnly, lambda: SVD(n_epochs=3), lambda: SVDpp(n_epochs=3),
     lambda: KNNBaseline(user_based=False), lambda: AutoRec(hidden=8, n_epochs=3)],
)  # fmt: skip
def test_every_member_survives_save_load(make: Any, tmp_path: Path) -> None:
    ratings, _, _ = planted(seed=14)
    model = make().fit(ratings)
    loaded = load_rating_model(save_rating_model(model, tmp_path / "m"))
    assert type(loaded) is type(model)
    users = np.concatenate([ratings.user[:40], [ratings.n_users + 1]])
    items = np.concatenate([ratings.item[:40], [0]])
    np.testing.assert_array_equal(loaded.predict(users, items), model.predict(users, items))


def test_a_saved_stack_loads_without_refitting_and_predicts_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ratings, _, _ = planted(seed=15)
    text = np.random.default_rng(1).normal(size=(ratings.n_items, 12))
    cats = [("even",) if i % 2 == 0 else ("odd",) for i in range(ratings.n_items)]
    stack = small_stack().fit(
        ratings, features=ItemFeaturizer().fit(text, cats).transform(text, cats),
        featurizer=ItemFeaturizer().fit(text, cats),
    )  # fmt: skip
    save_rating_model(stack, tmp_path / "rating")

    def no_fit(*args: object, **kwargs: object) -> None:
        raise AssertionError("loading must not refit")

    for cls in (RatingBlend, FusedRating, SVDpp, KNNBaseline, BaselineOnly, AutoRec):
        monkeypatch.setattr(cls, "fit", no_fit)
    loaded = load_rating_model(tmp_path / "rating")
    assert isinstance(loaded, RatingBlend) and list(loaded.models_) == list(stack.models_)
    users, items = ratings.user[:60], ratings.item[:60]
    np.testing.assert_array_equal(loaded.predict(users, items), stack.predict(users, items))
    for name, values in stack.explain(users, items).items():
        np.testing.assert_array_equal(loaded.explain(users, items)[name], values)
    # Items appended later reach the loaded stack's content member through its saved featurizer.
    grown = loaded.with_items(text[:2] + 0.5, [("even",), ("odd",)])
    again = stack.with_items(text[:2] + 0.5, [("even",), ("odd",)])
    new = np.array([ratings.n_items, ratings.n_items + 1])
    np.testing.assert_array_equal(grown.predict(users[:2], new), again.predict(users[:2], new))


def test_fit_interest_stack_is_the_stack_on_featurized_content() -> None:
    ratings, _, _ = planted(n_users=40, n_items=30, density=0.4, seed=16)
    text = np.random.default_rng(2).normal(size=(ratings.n_items, 10))
    cats = [("a",)] * ratings.n_items
    served = fit_interest_stack(ratings, text, cats, seed=4)
    features = ItemFeaturizer().fit(text, cats).transform(text, cats)
    evaluated = interest_stack(4).fit(ratings, features=features)
    assert set(served.members) == {"fused", "svdpp", "knn_item", "knn_user", "baseline", "autorec"}
    np.testing.assert_array_equal(
        served.predict(ratings.user, ratings.item), evaluated.predict(ratings.user, ratings.item)
    )


def test_a_rating_directory_saved_before_the_stack_still_loads(tmp_path: Path) -> None:
    ratings, features, _ = planted(seed=17)
    fused = FusedRating(n_factors=3, n_epochs=5).fit(ratings, features=features)
    fused.save(tmp_path / "rating")  # the format artifacts had when predict served FusedRating alone
    loaded = load_rating_model(tmp_path / "rating")
    assert isinstance(loaded, FusedRating)
    np.testing.assert_array_equal(loaded.predict(ratings.user, ratings.item), fused.predict(ratings.user, ratings.item))
