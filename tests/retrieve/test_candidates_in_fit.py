"""A fitted recommender above ``candidates_above``: its candidate stage searches each query in its space."""

from __future__ import annotations

import numpy as np

from interestlm.config import RecommenderConfig
from interestlm.recommender import Recommender
from interestlm.testing.synthetic import synthetic


def test_a_large_catalogue_recommends_through_candidates_of_the_users_topics() -> None:
    data = synthetic(n_users=60, n_items=800, n_interactions=3_000, n_topics=8, seed=1)
    config = RecommenderConfig(encoder="hashing-512", candidates_above=100, n_candidates=100, rating_model=False)
    rec = Recommender(config).fit(data.dataset)
    state = rec.state_
    # The interest space is not the text space (other dimensions): this raised before.
    assert state.space.vectors_.shape[1] != state.item_vectors.shape[1]
    assert state.ranker.candidates is not None
    planted = data.planted
    in_topics = []
    for u in range(20):
        own = planted.user_topics[u][planted.user_topics[u] >= 0]
        cands = state.ranker.candidates.retrieve(rec.profile(f"u{u}"))
        in_topics.append(np.isin(planted.item_topic[cands[:20]], own).mean())
        recs = rec.recommend(f"u{u}", 5, explain=False)
        assert len(recs) == 5 and {r.item for r in recs} <= set(cands.tolist())
    # The candidates' head comes from the user's own topics (8 topics: chance is ~1/4 or less).
    assert float(np.mean(in_topics)) > 0.6
