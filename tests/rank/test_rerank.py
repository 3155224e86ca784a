import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

from interestlm.encode import l2_normalise
from interestlm.rank import Fusion, SignalContext, compute_signals, edit_mask, filter_seen, mmr, rank_items
from interestlm.schema import InterestProfile, ProfileEdits

Factory = Callable[..., InterestProfile]


def intra_list_similarity(items: np.ndarray, vectors: np.ndarray) -> float:
    v = vectors[items]
    sims = v @ v.T
    n = len(items)
    return float((sims.sum() - np.trace(sims)) / (n * (n - 1)))


@given(
    scores=st.lists(st.floats(-10, 10, allow_nan=False).map(lambda x: round(x, 1)), min_size=1, max_size=40),
    k=st.integers(1, 45),
)
def test_zero_diversity_is_plain_top_k(scores: list[float], k: int) -> None:
    n = len(scores)
    items = np.random.default_rng(n).permutation(100)[:n]
    vectors = l2_normalise(np.random.default_rng(0).standard_normal((100, 8)))
    got = mmr(np.array(scores), items, vectors, k, diversity=0.0)
    expected = items[np.argsort(-np.array(scores), kind="stable")[:k]]
    np.testing.assert_array_equal(got, expected)
    # The greedy path with a vanishing diversity picks the same scores (ties may go to other items).
    near_zero = mmr(np.array(scores), items, vectors, k, diversity=1e-9)
    score_of = dict(zip(items.tolist(), scores, strict=True))
    assert [score_of[i] for i in near_zero.tolist()] == [score_of[i] for i in expected.tolist()]


def test_diversity_lowers_intra_list_similarity() -> None:
    rng = np.random.default_rng(1)
    base = l2_normalise(rng.standard_normal((1, 16)))
    # 15 near-duplicates with the best scores, then 15 varied items scoring a little lower.
    dupes = l2_normalise(base + 0.05 * rng.standard_normal((15, 16)))
    varied = l2_normalise(rng.standard_normal((15, 16)))
    vectors = np.vstack([dupes, varied]).astype(np.float32)
    scores = np.r_[np.linspace(1.0, 0.9, 15), np.linspace(0.85, 0.7, 15)]
    items = np.arange(30)
    ils = [intra_list_similarity(mmr(scores, items, vectors, 8, diversity=d), vectors) for d in (0, 0.2, 0.5, 0.8)]
    assert all(b <= a + 1e-9 for a, b in itertools.pairwise(ils)), ils
    assert ils[0] > 0.9 and ils[-1] < 0.3, ils
    picked = mmr(scores, items, vectors, 8, diversity=0.5)
    assert picked[0] == 0 and len(set(picked.tolist())) == 8


def test_mmr_skips_non_finite_and_checks_input() -> None:
    vectors = l2_normalise(np.eye(4, dtype=np.float32))
    assert mmr(np.array([1.0, -np.inf, 0.5]), np.array([0, 1, 2]), vectors, 5, diversity=0.3).tolist() == [0, 2]
    with pytest.raises(ValueError, match="diversity"):
        mmr(np.ones(2), np.arange(2), vectors, 2, diversity=1.5)
    with pytest.raises(ValueError, match="2 scores but 3"):
        mmr(np.ones(2), np.arange(3), vectors, 2, diversity=0.0)
    with pytest.raises(ValueError, match="must lie in"):
        mmr(np.ones(1), np.array([9]), vectors, 1, diversity=0.0)


def test_edit_mask(world: Any) -> None:
    muted, boost = edit_mask(world.concepts, muted=["  Topic C "], pinned=["bonus", "no such concept"], pin_boost=2.0)
    assert np.flatnonzero(muted).tolist() == world.topics["c"].tolist()
    # bonus is on items 5, 25 and 45; 45 is muted, so it gets no boost.
    assert np.flatnonzero(boost).tolist() == [5, 25]
    np.testing.assert_allclose(boost[[5, 25]], 2.0)
    nothing, zero = edit_mask(world.concepts, muted=[], pinned=[])
    assert not nothing.any() and not zero.any()


def test_filter_seen_forms() -> None:
    scores = np.arange(12, dtype=np.float32).reshape(3, 4)
    by_matrix = filter_seen(scores, sp.csr_matrix(([1, 1], ([0, 2], [1, 3])), shape=(3, 4)))
    by_lists = filter_seen(scores, [np.array([1]), np.array([], np.int32), np.array([3])])
    np.testing.assert_array_equal(by_matrix, by_lists)
    assert np.isneginf(by_matrix[[0, 2], [1, 3]]).all() and np.isfinite(by_matrix).sum() == 10
    assert np.isfinite(scores).all()  # a copy, not in place
    with pytest.raises(ValueError, match="outside"):
        filter_seen(scores, [np.array([4]), np.array([]), np.array([])])


@pytest.fixture(scope="module")
def ctx(world: Any) -> SignalContext:
    return SignalContext.build(
        world.vectors, world.concepts, graph=world.graph, train_sequences=world.sequences, n_items=60
    )


def test_rank_items_obeys_mutes_pins_and_history(ctx: SignalContext, world: Any, profile_factory: Factory) -> None:
    fusion = Fusion({"interest": 1.0, "popularity": 0.1})
    interests = [(world.centres["a"], 0.5), (world.centres["c"], 0.5)]
    plain = profile_factory([0, 1], interests=interests)
    signals = {n: s[0] for n, s in compute_signals([plain], ctx).items()}
    items, scores = rank_items(plain, signals, fusion, item_concepts=world.concepts, item_vectors=world.vectors, k=10)
    assert len(items) == 10 and not {0, 1} & set(items.tolist())
    assert set(items.tolist()) <= set(world.topics["a"].tolist()) | set(world.topics["c"].tolist())
    assert np.all(np.diff(scores) <= 0)
    edited = profile_factory(
        [0, 1], interests=interests, edits=ProfileEdits(muted=frozenset({"topic c"}), pinned=frozenset({"bonus"}))
    )
    items, _ = rank_items(
        edited, signals, fusion, item_concepts=world.concepts, item_vectors=world.vectors, k=30, pin_boost=10.0
    )
    assert not set(items.tolist()) & set(world.topics["c"].tolist())  # muted items vanish
    assert items[:2].tolist() == [5, 25]  # pinned "bonus" items rise to the top (45 is muted)
    assert not {0, 1} & set(items.tolist())


def test_rank_items_on_candidates_and_exclusions(ctx: SignalContext, world: Any, profile_factory: Factory) -> None:
    p = profile_factory(interests=[(world.centres["b"], 1.0)], dislikes=[21])
    cands = np.array([20, 21, 22, 23, 50, 51], dtype=np.int32)
    signals = {n: s for n, s in compute_signals([p], ctx, items=cands).items()}  # (1, n) rows are fine too
    items, scores = rank_items(
        p,
        signals,
        Fusion({"interest": 1.0}),
        item_concepts=world.concepts,
        item_vectors=world.vectors,
        k=4,
        items=cands,
        exclude=[22],
    )
    assert set(items.tolist()) == {20, 23, 50, 51} and items[:1].tolist()[0] in (20, 23)
    assert len(scores) == 4
    with pytest.raises(ValueError, match="score 6 items, expected 5"):
        rank_items(
            p,
            signals,
            Fusion({"interest": 1.0}),
            item_concepts=world.concepts,
            item_vectors=world.vectors,
            k=4,
            items=cands[:5],
        )
