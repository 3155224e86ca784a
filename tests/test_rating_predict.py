"""Recommender.predict on the planted topics: users rate their own topics high (3.5-5) and the
one or two items they tried of another topic low (1-1.5), so predictions must rank an unseen item
of a user's own topic above one of a topic they do not follow; predict must serve the very model
the rating evaluation reports (the stack), its shares must add up to each prediction, and a saved
recommender must predict the same numbers without refitting."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from interestlm.config import RecommenderConfig
from interestlm.core.errors import BadInputError, ConfigError, ConflictError, UnknownIdError
from interestlm.core.tables import Dataset
from interestlm.recommender import Recommender
from interestlm.testing.planted import planted_topic_of, planted_topics, planted_user_topics


@pytest.fixture(scope="module")
def planted() -> Dataset:
    return planted_topics()


@pytest.fixture(scope="module")
def rec(planted: Dataset) -> Recommender:
    return Recommender(RecommenderConfig(encoder="hashing")).fit(planted)


def test_own_topic_items_are_predicted_above_other_topics(rec: Recommender, planted: Dataset) -> None:
    ids = [str(i) for i in planted.catalog.item_ids.tolist()]
    gaps = []
    for u, user_id in enumerate(planted.interactions.user_ids.tolist()):
        topics = planted_user_topics(planted, u)
        seen = set(planted.interactions.item[planted.interactions.user == u].tolist())
        unseen = [i for i in range(len(ids)) if i not in seen]
        pred = rec.predict(str(user_id), [ids[i] for i in unseen])
        own = np.array([planted_topic_of(planted, i) in topics for i in unseen])
        gaps.append(pred[own].mean() - pred[~own].mean())
    assert np.mean(gaps) > 0.1
    assert np.mean(np.array(gaps) > 0) > 0.75


def test_predictions_are_on_the_scale_and_their_shares_add_up(rec: Recommender, planted: Dataset) -> None:
    user = str(planted.interactions.user_ids[0])
    items = [str(i) for i in planted.catalog.item_ids[:5].tolist()]
    body = rec.predictions_json(user, items)
    assert body["user_id"] == user and [p["item_id"] for p in body["predictions"]] == items
    for p in body["predictions"]:
        assert 1.0 <= p["rating"] <= 5.0
        assert p["rating"] == pytest.approx(sum(p["contributions"].values()), abs=1e-3)
        assert {"mean", "user_bias", "item_bias", "factors", "taste", "neighbours", "clip"} <= set(p["contributions"])
    shares = rec.explain_prediction(user, items)
    np.testing.assert_allclose(sum(shares.values()), rec.predict(user, items), atol=1e-5)


def test_predict_serves_the_model_the_rating_evaluation_reports(rec: Recommender, planted: Dataset) -> None:
    from interestlm.evaluate.rating import rating_models
    from interestlm.models.rating import ratings_from_interactions
    from interestlm.models.rating_fused import RatingBlend, item_features

    state = rec.state_
    assert isinstance(state.rating, RatingBlend)
    ratings, _ = ratings_from_interactions(state.train, len(state.catalog))
    features = item_features(state.item_vectors, state.catalog.categories)
    evaluated = rating_models(rec.config.seed)["interest"]().fit(ratings, features=features)
    ids = [str(i) for i in state.catalog.item_ids.tolist()]
    for u in (0, 5, 11):
        served = rec.predict(state.user_ids[u], ids)
        np.testing.assert_array_equal(served, evaluated.predict(np.full(len(ids), u), np.arange(len(ids))))


def test_saved_recommender_predicts_the_same_without_refitting(
    rec: Recommender, planted: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from interestlm.models.rating import BaselineOnly, KNNBaseline, SVDpp
    from interestlm.models.rating_autorec import AutoRec
    from interestlm.models.rating_fused import FusedRating, RatingBlend

    user = str(planted.interactions.user_ids[3])
    items = [str(i) for i in planted.catalog.item_ids[10:20].tolist()]
    rec.save(tmp_path / "artifacts")

    def no_fit(*args: object, **kwargs: object) -> None:
        raise AssertionError("load must not refit the rating model")

    for cls in (RatingBlend, FusedRating, SVDpp, KNNBaseline, BaselineOnly, AutoRec):
        monkeypatch.setattr(cls, "fit", no_fit)
    loaded = Recommender.load(tmp_path / "artifacts")
    assert isinstance(loaded.state_.rating, RatingBlend)
    np.testing.assert_array_equal(loaded.predict(user, items), rec.predict(user, items))
    assert loaded.predictions_json(user, items) == rec.predictions_json(user, items)


def test_errors_name_the_problem(rec: Recommender, planted: Dataset) -> None:
    user = str(planted.interactions.user_ids[0])
    with pytest.raises(UnknownIdError):
        rec.predict(user, ["no-such-item"])
    with pytest.raises(UnknownIdError):
        rec.predict("no-such-user", [str(planted.catalog.item_ids[0])])
    with pytest.raises(BadInputError):
        rec.predict(user, [])
    with pytest.raises(ConfigError, match="rating_model"):
        RecommenderConfig(rating_model="yes")  # type: ignore[arg-type]


def test_without_a_rating_model_predict_is_a_conflict(planted: Dataset) -> None:
    rec = Recommender(RecommenderConfig(encoder="hashing", rating_model=False)).fit(planted)
    assert rec.state_.rating is None
    with pytest.raises(ConflictError, match="no rating model"):
        rec.predict(str(planted.interactions.user_ids[0]), [str(planted.catalog.item_ids[0])])


def test_items_added_after_fitting_are_predicted_from_their_content(planted: Dataset, tmp_path: Path) -> None:
    rec = Recommender(RecommenderConfig(encoder="hashing")).fit(planted)
    cat = planted.catalog
    user = str(planted.interactions.user_ids[0])
    (topic,) = planted_user_topics(planted, 0)[:1]
    twin = next(i for i in range(len(cat)) if planted_topic_of(planted, i) == topic)
    rec.add_items([{
        "item_id": "new-twin", "title": cat.titles[twin], "text": cat.descriptions[twin],
        "categories": list(cat.categories[twin]),
    }])  # fmt: skip
    shares = rec.explain_prediction(user, ["new-twin"])
    assert shares["item_bias"][0] == 0.0 and shares["factors"][0] == 0.0  # nobody rated it
    assert shares["content_bias"][0] != 0.0 and shares["taste"][0] != 0.0  # its content speaks
    rec.save(tmp_path / "grown")
    again = Recommender.load(tmp_path / "grown")
    np.testing.assert_allclose(again.predict(user, ["new-twin"]), rec.predict(user, ["new-twin"]), atol=1e-6)


def test_the_fused_member_alone_is_a_cheaper_choice_that_saves_and_loads(planted: Dataset, tmp_path: Path) -> None:
    from interestlm.models.rating_fused import FusedRating

    rec = Recommender(RecommenderConfig(encoder="hashing", rating_model="fused")).fit(planted)
    assert isinstance(rec.state_.rating, FusedRating)
    user = str(planted.interactions.user_ids[0])
    items = [str(i) for i in planted.catalog.item_ids[:5].tolist()]
    expected = rec.predict(user, items)
    np.testing.assert_allclose(sum(rec.explain_prediction(user, items).values()), expected, atol=1e-5)
    loaded = Recommender.load(rec.save(tmp_path / "fused"))
    assert loaded.config.rating_model == "fused"
    np.testing.assert_allclose(loaded.predict(user, items), expected, atol=1e-6)
    with pytest.raises(ConfigError, match="rating_model"):
        RecommenderConfig(rating_model="svd")  # type: ignore[arg-type]
