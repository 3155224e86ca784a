from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interestlm.core.schema import SIGNALS, InterestProfile, ProfileEdits
from interestlm.rank import SignalContext, compute_signals, standardise

Factory = Callable[..., InterestProfile]


def top(row: np.ndarray, k: int) -> set[int]:
    return set(np.argsort(-row, kind="stable")[:k].tolist())


def test_all_signals_have_shape_and_are_standardised(ctx: SignalContext, world: Any, profile_factory: Factory) -> None:
    profiles = [
        profile_factory(
            [0, 1, 2],
            interests=[(world.centres["a"], 1.0)],
            short_term=world.vectors[2],
            concepts=[("topic a", 1.0)],
            dislikes=[45],
            disliked_concepts=[("topic c", 0.5)],
        ),
        profile_factory([20, 21], interests=[(world.centres["b"], 1.0)], concepts=[("topic b", 1.0)]),
        profile_factory(),
    ]
    signals = compute_signals(profiles, ctx)
    # Every signal but the sequence model's (it needs a trained model: tests/learn/test_seqrec_recommender.py).
    assert tuple(signals) == ctx.names == tuple(n for n in SIGNALS if n not in ("sequential", "visual"))
    for name, s in signals.items():
        assert s.shape == (3, 60) and s.dtype == np.float32, name
        for row in s:
            if np.any(row):
                assert row.mean() == pytest.approx(0.0, abs=1e-5), name
                assert row.std() == pytest.approx(1.0, abs=1e-4), name
    # The user without history, interests or concepts has nothing but popularity to go on.
    for name in ("interest", "short_term", "concept", "graph", "collaborative", "transition", "dislike"):
        assert not np.any(signals[name][2]), name
    np.testing.assert_allclose(signals["popularity"][2], signals["popularity"][0])


def test_interest_ranks_the_users_topic_first(ctx: SignalContext, world: Any, profile_factory: Factory) -> None:
    p = profile_factory(interests=[(world.centres["a"], 1.0)])
    interest = compute_signals([p], ctx, names=["interest"])["interest"][0]
    assert top(interest, 20) == set(world.topics["a"].tolist())


def test_interest_weights_and_overrides(ctx: SignalContext, world: Any, profile_factory: Factory) -> None:
    both = [(world.centres["a"], 0.5), (world.centres["b"], 0.5)]
    p = profile_factory(interests=both)
    s = compute_signals([p], ctx, names=["interest"])["interest"][0]
    assert top(s, 40) == set(range(40))
    # A user override of weight 0 removes interest b: its items fall back to the bottom.
    muted = profile_factory(interests=both, edits=ProfileEdits(interest_weights=((1, 0.0),)))
    s = compute_signals([muted], ctx, names=["interest"])["interest"][0]
    assert top(s, 20) == set(world.topics["a"].tolist())
    # Without members in the history an interest counts by its weight: a soft-max over interests,
    # tau * log(sum_c share_c * exp(cos_c / tau)), checked against a direct computation.
    raw = compute_signals(
        [profile_factory(interests=[(world.centres["a"], 0.9), (world.centres["b"], 0.1)])],
        ctx,
        names=["interest"],
        standardised=False,
    )["interest"][0]
    tau = ctx.interest_temperature
    cos = np.stack([world.vectors @ world.centres["a"], world.vectors @ world.centres["b"]]).astype(np.float64)
    expected = tau * np.log(0.9 * np.exp(cos[0] / tau) + 0.1 * np.exp(cos[1] / tau))
    np.testing.assert_allclose(raw, expected, atol=1e-5)
    # The heavier interest wins an item equally close to both, and one interest alone is its cosine.
    assert np.all(expected >= cos.max(axis=0) + tau * np.log(0.1) - 1e-9)
    alone = compute_signals(
        [profile_factory(interests=[(world.centres["a"], 0.3)])], ctx, names=["interest"], standardised=False
    )["interest"][0]
    np.testing.assert_allclose(alone, cos[0], atol=1e-5)


def _with_members(profile: InterestProfile, members: list[tuple[int, ...]]) -> InterestProfile:
    interests = tuple(replace(i, items=m) for i, m in zip(profile.interests, members, strict=True))
    return replace(profile, interests=interests)


def test_interest_follows_recent_activity_and_overrides(
    ctx: SignalContext, world: Any, profile_factory: Factory
) -> None:
    a, b = world.topics["a"], world.topics["b"]
    # Topic a long ago, topic b lately: b is what the user is into now, whatever the long-term
    # weights say (they only enter through a user's override).
    history = [*a[:3].tolist(), *b[:8].tolist()]
    p = _with_members(
        profile_factory(history, interests=[(world.centres["a"], 0.7), (world.centres["b"], 0.3)]),
        [tuple(a[:3].tolist()), tuple(b[:8].tolist())],
    )
    raw = compute_signals([p], ctx, names=["interest"], standardised=False)["interest"][0]
    assert top(raw, 20) == set(b.tolist())
    # Independent computation: members weighted 2^(-age / half-life), query = their unit mean.
    ages = {item: len(history) - 1 - pos for pos, item in enumerate(history)}
    parts = []
    for members in (a[:3], b[:8]):
        decay = np.exp2(-np.array([ages[i] for i in members.tolist()]) / ctx.interest_half_life)
        query = decay @ world.vectors[members].astype(np.float64)
        parts.append((decay.sum(), world.vectors @ (query / np.linalg.norm(query))))
    tau, total = ctx.interest_temperature, sum(m for m, _ in parts)
    expected = tau * np.log(sum(m / total * np.exp(c / tau) for m, c in parts))
    np.testing.assert_allclose(raw, expected, atol=1e-5)
    # The user's override of weight 0 on the recent interest leaves the older one alone.
    muted = replace(p, edits=ProfileEdits(interest_weights=((1, 0.0),)))
    raw = compute_signals([muted], ctx, names=["interest"], standardised=False)["interest"][0]
    assert top(raw, 20) == set(a.tolist())
    np.testing.assert_allclose(raw, parts[0][1], atol=1e-5)


def test_interest_scores_in_the_space_vectors(world: Any, profile_factory: Factory) -> None:
    # The interest signal reads space_vectors; short-term and dislikes keep the text vectors.
    swapped = np.roll(world.vectors, 20, axis=0)  # in the "space", topic a's items sit at b's rows
    ctx = SignalContext.build(
        world.vectors,
        world.concepts,
        train_sequences=world.sequences,
        n_items=60,
        collaborative="none",
        space_vectors=swapped,
    )
    p = profile_factory(interests=[(world.centres["a"], 1.0)], short_term=world.centres["a"])
    s = compute_signals([p], ctx, names=["interest", "short_term"], standardised=False)
    assert top(s["interest"][0], 20) == set(world.topics["b"].tolist())
    assert top(s["short_term"][0], 20) == set(world.topics["a"].tolist())
    grown = ctx.with_items(world.vectors[:2], world.concepts.matrix[:2], space_vectors=swapped[:2])
    assert grown.space_vectors is not None and grown.space_vectors.shape == (62, swapped.shape[1])
    with pytest.raises(ValueError, match="space_vectors"):
        ctx.with_items(world.vectors[:2], world.concepts.matrix[:2])
    with pytest.raises(ValueError, match="space_vectors"):
        SignalContext.build(
            world.vectors, world.concepts, train_sequences=world.sequences, n_items=60, space_vectors=swapped[:5]
        )


def test_short_term_concept_graph_transition_dislike(ctx: SignalContext, world: Any, profile_factory: Factory) -> None:
    p = profile_factory(
        [3, 4, 10],
        short_term=world.centres["b"],
        concepts=[("Topic C", 1.0), ("bonus", 0.5)],
        dislikes=[50],
        disliked_concepts=[("topic a", 1.0)],
    )
    s = compute_signals([p], ctx)
    assert top(s["short_term"][0], 20) == set(world.topics["b"].tolist())
    assert top(s["concept"][0], 1) == {45}  # topic c + bonus
    assert top(s["concept"][0], 20) == set(world.topics["c"].tolist())
    # A user who likes topic a is led to topic b, a's neighbour in the concept graph.
    g = compute_signals([profile_factory(concepts=[("topic a", 1.0)])], ctx, names=["graph"])["graph"][0]
    assert top(g, 20) == set(world.topics["b"].tolist())
    assert top(s["transition"][0], 1) == {11}  # the latest item is 10; 10 -> 11 in every training walk
    d = s["dislike"][0]
    # Disliked concept (topic a) and items like the disliked item 50 (topic c) both beat neutral topic b.
    a, b, c = (d[world.topics[t]] for t in "abc")
    assert a.min() > b.max() and c.min() > b.max()
    assert int(np.argmax(c)) == 10  # item 50 itself


def test_collaborative_follows_the_history(ctx: SignalContext, world: Any, profile_factory: Factory) -> None:
    p = profile_factory([40, 41, 42])
    collab = compute_signals([p], ctx, names=["collaborative"])["collaborative"][0]
    assert top(collab, 5) <= set(world.topics["c"].tolist())
    knn = SignalContext.build(
        world.vectors, world.concepts, train_sequences=world.sequences, n_items=60, collaborative="itemknn"
    )
    assert "graph" not in knn.names
    s = compute_signals([p], knn, names=["collaborative"])["collaborative"][0]
    assert top(s, 5) <= set(world.topics["c"].tolist())
    none = SignalContext.build(
        world.vectors, world.concepts, train_sequences=world.sequences, n_items=60, collaborative="none"
    )
    assert "collaborative" not in compute_signals([p], none)


def test_popularity_is_log_count(ctx: SignalContext, world: Any, profile_factory: Factory) -> None:
    raw = compute_signals([profile_factory()], ctx, names=["popularity"], standardised=False)["popularity"][0]
    counts = np.bincount(np.concatenate(world.sequences), minlength=60)
    np.testing.assert_allclose(raw, np.log1p(counts), rtol=1e-6)
    assert int(np.argmax(raw)) == 59


def test_item_subset_and_batching_agree_with_full(ctx: SignalContext, world: Any, profile_factory: Factory) -> None:
    rng = np.random.default_rng(1)
    profiles = [
        profile_factory(
            rng.choice(60, 5, replace=False).tolist(),
            interests=[(world.vectors[rng.integers(60)], 1.0), (world.vectors[rng.integers(60)], 2.0)],
            short_term=world.vectors[rng.integers(60)],
            concepts=[("topic a", float(rng.normal())), ("bonus", 1.0)],
            dislikes=[int(rng.integers(60))],
        )
        for _ in range(7)
    ]
    items = np.array([3, 59, 20, 41, 7], dtype=np.int32)
    full = compute_signals(profiles, ctx, standardised=False)
    sub = compute_signals(profiles, ctx, items=items, standardised=False, batch_size=3)
    for name in full:
        np.testing.assert_allclose(sub[name], full[name][:, items], atol=1e-5, err_msg=name)
    batched = compute_signals(profiles, ctx, batch_size=2)
    for name, s in compute_signals(profiles, ctx, batch_size=100).items():
        np.testing.assert_allclose(batched[name], s, atol=1e-5, err_msg=name)


@settings(max_examples=50, deadline=None)
@given(
    rows=st.integers(1, 5),
    cols=st.integers(1, 30),
    seed=st.integers(0, 1000),
    constant_row=st.booleans(),
)
def test_standardise_property(rows: int, cols: int, seed: int, constant_row: bool) -> None:
    m = np.random.default_rng(seed).normal(3.0, 2.0, (rows, cols)).astype(np.float32)
    if constant_row:
        m[0] = 7.0
    z = standardise(m.copy())
    for r in range(rows):
        if (constant_row and r == 0) or cols == 1:
            assert not np.any(z[r])
        else:
            np.testing.assert_allclose(z[r].mean(), 0.0, atol=1e-5)
            np.testing.assert_allclose(z[r].std(), 1.0, atol=1e-4)
            # Order within a row is preserved.
            assert (np.argsort(z[r], kind="stable") == np.argsort(m[r], kind="stable")).all()


def test_bad_input(ctx: SignalContext, world: Any, profile_factory: Factory) -> None:
    with pytest.raises(ValueError, match="unknown signals"):
        compute_signals([profile_factory()], ctx, names=["vibes"])
    no_graph = SignalContext.build(
        world.vectors, world.concepts, train_sequences=world.sequences, n_items=60, collaborative="none"
    )
    with pytest.raises(ValueError, match="not available"):
        compute_signals([profile_factory()], no_graph, names=["graph"])
    with pytest.raises(ValueError, match="history items outside"):
        compute_signals([profile_factory([60])], ctx)
    with pytest.raises(ValueError, match="items must lie"):
        compute_signals([profile_factory()], ctx, items=np.array([61]))
    with pytest.raises(ValueError, match=r"shape \(n_items=61"):
        SignalContext.build(world.vectors, world.concepts, train_sequences=world.sequences, n_items=61)
    with pytest.raises(ValueError, match="collaborative must be"):
        SignalContext.build(
            world.vectors,
            world.concepts,
            train_sequences=world.sequences,
            n_items=60,
            collaborative="svd",  # type: ignore[arg-type]
        )


def test_new_item_is_a_raw_indicator_of_items_without_interactions(
    ctx: SignalContext, world: Any, profile_factory: Factory
) -> None:
    grown = ctx.with_items(world.vectors[:1], ctx.item_concepts.matrix[:1])
    profiles = [profile_factory([0, 1]), profile_factory()]
    fresh = compute_signals(profiles, grown, names=["new_item"])["new_item"]
    # Not z-scored: one new item among 61 would otherwise score sqrt(60) ~ 7.7 and swamp the rest.
    expected = np.zeros(61, dtype=np.float32)
    expected[60] = 1.0
    for row in fresh:
        np.testing.assert_array_equal(row, expected)
