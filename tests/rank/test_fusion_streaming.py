"""Learning the fusion weights from row batches of the signals gives the one-shot weights exactly."""

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

import interestlm.rank.ranker as ranker_module
from interestlm.core.schema import InterestProfile
from interestlm.rank import FusionLearner, Imputer, SignalContext, cold_items, fit_ranker
from interestlm.rank.fusion import FUSION_BYTES, fit_imputer_and_fusion, fusion_batch_users

Factory = Callable[..., InterestProfile]
SIGNALS = ("interest", "short_term", "concept", "graph", "collaborative", "transition", "popularity", "new_item")


@pytest.fixture(scope="module")
def grown(world: Any, ctx: SignalContext) -> SignalContext:
    """The planted world with six items appended after fitting: cold columns the imputer fills."""
    return ctx.with_items(world.vectors[[1, 8, 22, 30, 44, 50]], ctx.item_concepts.matrix[[1, 8, 22, 30, 44, 50]])


def users(world: Any, make: Factory, n: int = 23) -> tuple[list[InterestProfile], list[np.ndarray], sp.csr_matrix]:
    """``n`` users inside one planted topic each, their next items of that topic as targets."""
    rng = np.random.default_rng(7)
    profiles, targets, seen = [], [], []
    for u in range(n):
        topic = world.topics["abc"[u % 3]]
        history = rng.choice(topic, 4, replace=False)
        centre = world.vectors[history].mean(0)
        profiles.append(
            make(
                history.tolist(),
                interests=[(centre / np.linalg.norm(centre), 1.0)],
                short_term=world.vectors[history[-1]],
                concepts=[(f"topic {'abc'[u % 3]}", 1.0)],
                user_id=f"u{u}",
            )
        )
        # Some targets are new items (60..65) and one is already seen, so it must be dropped.
        targets.append(np.r_[rng.choice(np.setdiff1d(topic, history), 2, replace=False), 60 + u % 6, history[0]])
        seen.append(history)
    rows = np.repeat(np.arange(n), [len(s) for s in seen])
    exclude = sp.csr_matrix((np.ones(len(rows), bool), (rows, np.concatenate(seen))), shape=(n, 66))
    return profiles, targets, exclude


def per_user_bytes(ctx: SignalContext) -> int:
    return ctx.n_items * len([n for n in SIGNALS if n in ctx.names]) * 4


def test_fit_ranker_in_batches_gives_the_one_shot_weights_and_coefficients(
    grown: SignalContext, world: Any, profile_factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    profiles, targets, exclude = users(world, profile_factory)
    assert cold_items(grown).sum() == 6

    def fit(fusion_bytes: int) -> Any:
        return fit_ranker(
            grown,
            profiles,
            targets,
            exclude,
            signals=SIGNALS,
            l2=1e-3,
            n_candidates=10,
            seed=5,
            batch_size=2,
            fusion_bytes=fusion_bytes,
        )

    one_shot = fit(FUSION_BYTES)
    assert one_shot.imputer.coefficients, "the fixture must give the imputer something to fit"
    # A third of the targets are new items: the new-item boost and the recent item carry them.
    assert one_shot.fusion.weights["new_item"] > 0.5 and one_shot.fusion.weights["short_term"] > 0.5
    calls: list[int] = []
    real = ranker_module.compute_signals

    def counted(profiles: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(len(profiles))
        return real(profiles, *args, **kwargs)

    monkeypatch.setattr(ranker_module, "compute_signals", counted)
    # Batches of 2 and 4 users cut the signals where compute_signals(batch_size=2) cuts them: exact.
    for n_batch in (2, 4):
        calls.clear()
        streamed = fit(n_batch * per_user_bytes(grown) + 3)
        # Two passes (cold items are imputed between them), one batch of users at a time.
        assert calls == ([n_batch] * (23 // n_batch) + [23 % n_batch]) * 2
        assert streamed.fusion.weights == one_shot.fusion.weights
        assert streamed.imputer.coefficients == one_shot.imputer.coefficients
    # A budget below one user still streams, one user at a time. Those batches are not cut where
    # compute_signals(batch_size=2) cuts, and its float32 products round differently (1e-6).
    calls.clear()
    single = fit(0)
    assert calls == [1] * 46
    assert single.imputer.coefficients.keys() == one_shot.imputer.coefficients.keys()
    for target, coef in one_shot.imputer.coefficients.items():
        for name, value in coef.items():
            np.testing.assert_allclose(single.imputer.coefficients[target][name], value, rtol=1e-5, atol=1e-8)
    for name, w in one_shot.fusion.weights.items():
        np.testing.assert_allclose(single.fusion.weights[name], w, rtol=1e-5, atol=1e-8)


def planted(seed: int = 0, n_users: int = 90, n_items: int = 120) -> tuple[dict[str, np.ndarray], list[np.ndarray]]:
    """Signals where 'oracle' ranks each user's targets high and 'collaborative' follows the content."""
    rng = np.random.default_rng(seed)
    targets = [rng.choice(n_items, int(rng.integers(1, 4)), replace=False) for _ in range(n_users)]
    oracle = rng.standard_normal((n_users, n_items)).astype(np.float32)
    for u, t in enumerate(targets):
        oracle[u, t] += 2.0
    concept = rng.standard_normal((n_users, n_items)).astype(np.float32)
    collaborative = (0.8 * oracle - 0.3 * concept + 0.1 * rng.standard_normal((n_users, n_items))).astype(np.float32)
    return {"interest": oracle, "concept": concept, "collaborative": collaborative}, targets


def batches_of(signals: Mapping[str, np.ndarray], calls: list[tuple[int, int]]) -> Callable[[int, int], Any]:
    def signals_of(a: int, b: int) -> dict[str, np.ndarray]:
        calls.append((a, b))
        return {n: s[a:b] for n, s in signals.items()}

    return signals_of


@pytest.mark.parametrize("with_cold", [False, True])
def test_streamed_fit_equals_imputer_fit_and_learner_fit(with_cold: bool) -> None:
    signals, targets = planted()
    n_users, n_items = signals["interest"].shape
    cold = np.zeros(n_items, dtype=bool)
    if with_cold:
        cold[::7] = True
        signals["collaborative"][:, cold] = 0.0
    exclude = sp.random(n_users, n_items, density=0.05, random_state=1, format="csr") > 0
    imputer = Imputer.fit(signals, ~cold, seed=2)
    learner = FusionLearner(n_candidates=15, max_users=60, seed=2)
    fusion = learner.fit(imputer.apply(signals, cold), targets, exclude)
    assert learner.n_users_ == 60
    per_user = n_items * len(signals) * 4
    for n_batch in (1, 7, 30, n_users):
        calls: list[tuple[int, int]] = []
        streamed = FusionLearner(n_candidates=15, max_users=60, seed=2)
        got_imputer, got = fit_imputer_and_fusion(
            batches_of(signals, calls),
            n_users=n_users,
            n_items=n_items,
            names=list(signals),
            cold=cold,
            targets=targets,
            exclude=exclude,
            learner=streamed,
            seed=2,
            budget_bytes=n_batch * per_user,
        )
        spans = [(a, min(a + n_batch, n_users)) for a in range(0, n_users, n_batch)]
        # Nothing to impute: one pass; otherwise a second one after the imputer is fitted. All at once: one call.
        assert calls == (spans * 2 if with_cold and len(spans) > 1 else spans)
        assert got.weights == fusion.weights
        assert got_imputer.coefficients == imputer.coefficients
        assert (streamed.n_users_, streamed.mean_candidates_, streamed.loss_) == (
            learner.n_users_,
            learner.mean_candidates_,
            learner.loss_,
        )
    if with_cold:
        assert abs(imputer.coefficients["collaborative"]["interest"] - 0.8) < 0.02


def test_batch_size_follows_the_byte_budget() -> None:
    per_user = 97_420 * 9 * 4
    assert fusion_batch_users(97_420, 9) == FUSION_BYTES // per_user == 153
    assert fusion_batch_users(97_420, 9, align=64) == 128
    assert fusion_batch_users(97_420, 9, align=256) == 153  # no room for one aligned batch: as many as fit
    assert fusion_batch_users(974_200, 9, 100 * 974_200 * 9 * 4 - 1) == 99
    assert fusion_batch_users(974_200, 9, 1) == 1  # at least one user
    assert fusion_batch_users(0, 9, 10) == 10
    with pytest.raises(ValueError, match="budget_bytes >= 0"):
        fusion_batch_users(10, 9, -1)
    with pytest.raises(ValueError, match="align >= 1"):
        fusion_batch_users(10, 9, align=0)


def test_solve_needs_every_planned_user_once() -> None:
    signals, targets = planted(n_users=10)
    learner = FusionLearner(n_candidates=5)
    names = list(signals)
    plan = learner.plan(targets, None, n_users=10, n_items=120)
    first = learner.design(plan, {n: s[:5] for n, s in signals.items()}, names, start=0)
    rest = learner.design(plan, {n: s[5:] for n, s in signals.items()}, names, start=5)
    assert learner.design(plan, {n: s[:0] for n, s in signals.items()}, names, start=10) is None
    with pytest.raises(ValueError, match=r"signal 'concept' has shape \(5, 119\), expected \(5, 120\)"):
        learner.design(plan, {n: s[:5, : 119 if n == "concept" else 120] for n, s in signals.items()}, names, start=0)
    with pytest.raises(ValueError, match="every planned user exactly once"):
        learner.solve(plan, names, [first])
    with pytest.raises(ValueError, match="every planned user exactly once"):
        learner.solve(plan, names, [first, rest, rest])
    assert (
        learner.solve(plan, names, [first, None, rest]).weights
        == FusionLearner(n_candidates=5).fit(signals, targets).weights
    )
