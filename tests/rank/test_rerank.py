import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from interestlm.core.schema import InterestProfile, ProfileEdits
from interestlm.encode import l2_normalise
from interestlm.rank import PIN, Fusion, Imputer, Ranker, SignalContext, edit_mask, mmr
from interestlm.retrieve.candidates import CandidateStage

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
    muted, boost = edit_mask(world.concepts, muted=["  Topic C "], pinned=["bonus", "no such concept"])
    assert np.flatnonzero(muted).tolist() == world.topics["c"].tolist()
    # bonus is on items 5, 25 and 45; 45 is muted, so it gets no boost.
    assert np.flatnonzero(boost).tolist() == [5, 25]
    np.testing.assert_allclose(boost[[5, 25]], 1.0)
    nothing, zero = edit_mask(world.concepts, muted=[], pinned=[])
    assert not nothing.any() and not zero.any()


@pytest.fixture(scope="module")
def ctx(world: Any) -> SignalContext:
    return SignalContext.build(
        world.vectors, world.concepts, graph=world.graph, train_sequences=world.sequences, n_items=60
    )


def _ranker(ctx: SignalContext, weights: dict[str, float], **kw: Any) -> Ranker:
    return Ranker(
        context=ctx, fusion=Fusion(weights), imputer=Imputer(coefficients={}), signals=tuple(weights), **kw
    )


def test_ranker_obeys_mutes_pins_and_history(ctx: SignalContext, world: Any, profile_factory: Factory) -> None:
    ranker = _ranker(ctx, {"interest": 1.0, "popularity": 0.1})
    interests = [(world.centres["a"], 0.5), (world.centres["c"], 0.5)]
    plain = profile_factory([0, 1], interests=interests)
    ranked = ranker.rank([plain], 10)[0]
    items = [r.item for r in ranked]
    assert len(items) == 10 and not {0, 1} & set(items)
    assert set(items) <= set(world.topics["a"].tolist()) | set(world.topics["c"].tolist())
    assert np.all(np.diff([r.score for r in ranked]) <= 0)
    edited = profile_factory(
        [0, 1], interests=interests, edits=ProfileEdits(muted=frozenset({"topic c"}), pinned=frozenset({"bonus"}))
    )
    items = [r.item for r in ranker.rank([edited], 30)[0]]
    assert not set(items) & set(world.topics["c"].tolist())  # muted items vanish
    plain_order = [r.item for r in ranker.rank([plain], 60)[0]]
    # Pinned "bonus" items rise (45 is muted): 5, of the user's topic a, to the very top; 25,
    # of another topic, far above where it stood.
    assert items[0] == 5 and 25 in items and items.index(25) < plain_order.index(25) - 10
    assert not {0, 1} & set(items)


def test_contributions_sum_to_the_score(ctx: SignalContext, world: Any, profile_factory: Factory) -> None:
    ranker = _ranker(ctx, {"interest": 0.7, "popularity": 0.2, "concept": 0.4})
    plain = profile_factory([0, 1], interests=[(world.centres["a"], 1.0)])
    ranked = ranker.rank([plain], 8)[0]
    items = [r.item for r in ranked]
    shares = ranker.contributions(plain, items)
    assert set(shares) == {"interest", "popularity", "concept"}
    total = sum(shares.values())
    np.testing.assert_allclose(total, [r.score for r in ranked], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ranker.scores([plain])[0, items], total, rtol=1e-5, atol=1e-5)
    for r in ranked:
        assert abs(sum(r.contributions.values()) - r.score) < 1e-4


def test_pins_hold_half_of_every_prefix_and_their_lift_is_a_share(
    ctx: SignalContext, world: Any, profile_factory: Factory
) -> None:
    ranker = _ranker(ctx, {"interest": 1.0})
    pinned = profile_factory(
        [0, 1], interests=[(world.centres["a"], 1.0)], edits=ProfileEdits(pinned=frozenset({"topic b"}))
    )
    ranked = ranker.rank([pinned], 10)[0]
    in_b = [r.item in set(world.topics["b"].tolist()) for r in ranked]
    assert all(sum(in_b[: n + 1]) >= 0.5 * (n + 1) for n in range(10)), in_b
    assert np.all(np.diff([r.score for r in ranked]) <= 1e-6)
    for r, is_pinned in zip(ranked, in_b, strict=True):
        assert abs(sum(r.contributions.values()) - r.score) < 1e-4
        assert (PIN in r.contributions) <= is_pinned
    assert any(PIN in r.contributions for r in ranked)


def test_batches_give_the_same_scores(ctx: SignalContext, world: Any, profile_factory: Factory) -> None:
    profiles = [profile_factory([i, i + 1], interests=[(world.centres["b"], 1.0)]) for i in range(0, 10, 2)]
    weights = {"interest": 1.0, "short_term": 0.3, "transition": 0.2}
    whole = _ranker(ctx, weights, batch_size=64).scores(profiles)
    batched = _ranker(ctx, weights, batch_size=2).scores(profiles)
    np.testing.assert_allclose(whole, batched, rtol=1e-5, atol=1e-6)


def test_candidate_stage_ranks_only_candidates(ctx: SignalContext, world: Any, profile_factory: Factory) -> None:
    profile = profile_factory([20, 21], interests=[(world.centres["b"], 1.0)])
    stage = CandidateStage.build(world.vectors, world.concepts, world.sequences, n_candidates=12)
    full = _ranker(ctx, {"interest": 1.0}).rank([profile], 5)[0]
    staged = _ranker(ctx, {"interest": 1.0}, candidates=stage, candidates_above=10).rank([profile], 5)[0]
    candidates = set(stage.retrieve(profile).tolist())
    assert len(candidates) == 12 and not {20, 21} & candidates
    assert {r.item for r in staged} <= candidates
    # The candidates come first from the same interest vector, so the best items agree.
    assert [r.item for r in staged] == [r.item for r in full]


def test_rank_rejects_bad_arguments(ctx: SignalContext, world: Any, profile_factory: Factory) -> None:
    ranker = _ranker(ctx, {"interest": 1.0})
    profile = profile_factory([0], interests=[(world.centres["a"], 1.0)])
    with pytest.raises(ValueError, match="k must be >= 1"):
        ranker.rank([profile], 0)
    with pytest.raises(ValueError, match="diversity"):
        ranker.rank([profile], 3, diversity=1.5)
