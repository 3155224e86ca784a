"""A fitted recommender above ``candidates_above``: its candidate stage searches each query in its space."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from interestlm.config import RecommenderConfig
from interestlm.rank.ranker import REFERENCE_ITEMS
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


def _fitted(n_candidates: int, n_items: int = 600) -> Recommender:
    data = synthetic(n_users=40, n_items=n_items, n_interactions=2_000, n_topics=6, seed=2)
    config = RecommenderConfig(
        encoder="hashing-512", candidates_above=100, n_candidates=n_candidates, rating_model=False
    )
    return Recommender(config).fit(data.dataset)


def test_with_every_item_a_candidate_and_in_the_reference_sample_candidates_rank_as_full_ranking() -> None:
    # 600 items: the reference sample is the whole catalogue, so its scale is full ranking's.
    rec = _fitted(n_candidates=600)
    state = rec.state_
    staged = state.ranker
    assert staged.candidates is not None and staged._uses_candidates()
    full = replace(staged, candidates=None)
    profiles = [rec.profile(u) for u in state.user_ids]
    for got, want in zip(staged.rank(profiles, 10), full.rank(profiles, 10), strict=True):
        assert [r.item for r in got] == [r.item for r in want]
        np.testing.assert_allclose([r.score for r in got], [r.score for r in want], rtol=1e-5, atol=1e-5)
        for g, w in zip(got, want, strict=True):
            for name, share in w.contributions.items():
                assert abs(g.contributions[name] - share) < 1e-4


def test_candidate_lists_do_not_depend_on_the_batch_and_their_shares_are_the_scores() -> None:
    # More items than the reference sample: other profiles' candidates join a batch's columns.
    rec = _fitted(n_candidates=60, n_items=REFERENCE_ITEMS + 500)
    staged = rec.state_.ranker
    profiles = [rec.profile(u) for u in rec.state_.user_ids]
    together = staged.rank(profiles, 8)
    alone = replace(staged, candidate_batch=1).rank(profiles, 8)
    for a, b in zip(together, alone, strict=True):
        assert [r.item for r in a] == [r.item for r in b]
        np.testing.assert_allclose([r.score for r in a], [r.score for r in b], rtol=1e-5, atol=1e-6)
    # Each ranked item's shares sum to its score; Ranker.contributions gives the same shares.
    for profile, ranked in zip(profiles[:10], together[:10], strict=True):
        shares = staged.contributions(profile, [r.item for r in ranked])
        for j, r in enumerate(ranked):
            assert abs(sum(r.contributions.values()) - r.score) < 1e-4
            for name, values in shares.items():
                assert abs(float(values[j]) - r.contributions[name]) < 1e-4


def test_added_and_edited_items_stay_in_the_candidate_stage() -> None:
    data = synthetic(n_users=40, n_items=600, n_interactions=2_000, n_topics=6, seed=3)
    config = RecommenderConfig(encoder="hashing-512", candidates_above=100, n_candidates=80, rating_model=False)
    rec = Recommender(config).fit(data.dataset)
    state = rec.state_
    before = state.ranker.candidates
    assert before is not None
    catalog = data.dataset.catalog
    # A new item with the text of item 7: the same vectors, so the indexes must find it there.
    twin = {"item_id": "twin-of-7", "title": catalog.titles[7], "text": catalog.descriptions[7]}
    (new,) = rec.add_items([twin])
    stage = state.ranker.candidates
    assert stage is not None and stage is not before and len(before.index) == 600  # the served one untouched
    assert len(stage.index) == 601 and stage.interest_index is not None and len(stage.interest_index) == 601
    _, found = stage.index.search(state.item_vectors[[new]], 2)
    assert new in found[0].tolist()
    _, found = stage.interest_index.search(state.space.vectors_[[new]], 2)
    assert new in found[0].tolist()
    assert stage.popularity.counts_[new] == 0 and stage.cooccurrence.transition_.shape == (601, 601)
    assert len(rec.recommend("u0", 5, explain=False)) == 5
    # Editing item 3's text moves it in the rebuilt index: it is its new vector's nearest item.
    old_vector = state.item_vectors[3].copy()
    edit = {"item_id": str(catalog.item_ids[3]), "title": catalog.titles[500], "text": catalog.descriptions[500]}
    rec.add_items([edit])
    edited = state.ranker.candidates
    assert edited is not None and edited is not stage and len(edited.index) == 601
    assert not np.allclose(old_vector, state.item_vectors[3])
    _, found = edited.index.search(state.item_vectors[[3]], 1)
    assert found[0].tolist() == [3]


def test_the_candidate_index_kinds_agree_and_a_bad_kind_is_refused() -> None:
    import pytest

    from interestlm.core.errors import ConfigError

    data = synthetic(n_users=30, n_items=500, n_interactions=1_500, n_topics=5, seed=4)
    lists = {}
    for kind in ("exact", "flat"):
        config = RecommenderConfig(
            encoder="hashing-512", candidates_above=100, n_candidates=60, rating_model=False, candidate_index=kind
        )
        rec = Recommender(config).fit(data.dataset)
        lists[kind] = [[r.item for r in rec.recommend(f"u{u}", 5, explain=False)] for u in range(30)]
    assert lists["exact"] == lists["flat"]
    with pytest.raises(ConfigError, match="candidate_index"):
        RecommenderConfig(candidate_index="annoy")
