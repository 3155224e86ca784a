"""Fusion learning without a validation task fits the interaction signals on each user's history
less its last item; the EASE model there comes from the full one (``EASE.without``), and must give
what a refit gives (signals and learned weights)."""

from __future__ import annotations

import numpy as np
import pytest

from interestlm import fitted
from interestlm.config import RecommenderConfig
from interestlm.core.tables import Dataset
from interestlm.fitted import Content, content_state, held_out_context, learn_ranker, prefix
from interestlm.models.ease import EASE
from interestlm.profiles.space import ItemSpace
from interestlm.rank.signals import SignalContext
from interestlm.testing.planted import planted_topics

CONFIG = RecommenderConfig(encoder="hashing", collaborative="ease", progress=False, rating_model=False)


@pytest.fixture(scope="module")
def data() -> Dataset:
    return planted_topics(n_topics=4, items_per_topic=25, n_users=24, history_len=24, seed=1)


@pytest.fixture(scope="module")
def content(data: Dataset) -> Content:
    return content_state(CONFIG, data.catalog, data.interactions)


def _refit(config: RecommenderConfig, content: Content, sequences: list[np.ndarray], space: ItemSpace) -> SignalContext:
    return content.signal_context(config, sequences, sequential=content.context.sequential, space=space)


def test_held_out_context_derives_ease_and_matches_a_refit(content: Content) -> None:
    sequences = [prefix(h, len(h) - 1).items if len(h) >= 2 else h.items for h in content.histories]
    derived = held_out_context(CONFIG, content, sequences, content.space)
    refit = _refit(CONFIG, content, sequences, content.space)
    # 24 users, 100 items: EASE's dual solver, refitted cheaply (ReducedEASE is tested on its own).
    assert isinstance(derived.collaborative, EASE) and derived.collaborative.solver_ == "dual"
    assert derived.collaborative is not content.context.collaborative
    users = np.arange(len(sequences), dtype=np.int32)
    got = derived.collaborative.score(users, sequences)
    expected = refit.collaborative.score(users, sequences)
    assert np.abs(expected - content.context.collaborative.score(users, sequences)).max() > 1e-3
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5 * np.abs(expected).max())
    assert (derived.transition != refit.transition).nnz == 0
    np.testing.assert_array_equal(derived.log_popularity, refit.log_popularity)
    assert derived.names == refit.names


def test_learned_weights_match_those_learned_with_a_refitted_ease(
    content: Content, monkeypatch: pytest.MonkeyPatch
) -> None:
    derived = learn_ranker(CONFIG, content, None).fusion.weights
    monkeypatch.setattr(fitted, "held_out_context", _refit)
    refit = learn_ranker(CONFIG, content, None).fusion.weights
    assert derived.keys() == refit.keys()
    for name, weight in refit.items():
        assert derived[name] == pytest.approx(weight, abs=1e-4), name
