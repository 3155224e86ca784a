import json

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

from interestlm.rank import Fusion, FusionLearner

N_USERS, N_ITEMS = 300, 400


def planted(seed: int = 0) -> tuple[dict[str, np.ndarray], list[np.ndarray]]:
    """One target per user; 'oracle' ranks it first, 'helpful' leans to it, 'noise' is noise,
    'dislike' is one standard deviation lower on the target than on the other items."""
    rng = np.random.default_rng(seed)
    targets = rng.integers(0, N_ITEMS, N_USERS)
    rows = np.arange(N_USERS)
    oracle = rng.standard_normal((N_USERS, N_ITEMS)).astype(np.float32)
    oracle[rows, targets] = oracle.max(axis=1) + 1.0
    helpful = rng.standard_normal((N_USERS, N_ITEMS)).astype(np.float32)
    helpful[rows, targets] += 1.5
    noise = rng.standard_normal((N_USERS, N_ITEMS)).astype(np.float32)
    dislike = rng.standard_normal((N_USERS, N_ITEMS)).astype(np.float32)
    dislike[rows, targets] -= 1.0
    signals = {"oracle": oracle, "helpful": helpful, "noise": noise, "dislike": dislike}
    return signals, [np.array([t]) for t in targets]


def test_oracle_signal_gets_by_far_the_largest_weight() -> None:
    signals, targets = planted()
    fusion = FusionLearner().fit(signals, targets)
    w = fusion.weights
    others = max(abs(w[n]) for n in ("helpful", "noise", "dislike"))
    assert w["oracle"] > 3 * others, w


def test_noise_gets_about_zero_and_dislike_goes_negative() -> None:
    signals, targets = planted(1)
    learner = FusionLearner()
    w = learner.fit({n: signals[n] for n in ("helpful", "noise", "dislike")}, targets).weights
    assert w["helpful"] > 0.5
    assert abs(w["noise"]) < 0.1 * w["helpful"], w
    assert w["dislike"] < -0.2, w
    assert learner.n_users_ == N_USERS


def test_deterministic_and_subsampled() -> None:
    signals, targets = planted(2)
    a = FusionLearner(max_users=100, seed=3).fit(signals, targets)
    b = FusionLearner(max_users=100, seed=3).fit(signals, targets)
    assert a.weights == b.weights
    learner = FusionLearner(max_users=100, seed=4)
    learner.fit(signals, targets)
    assert learner.n_users_ == 100
    assert learner.fusion_.weights != a.weights


def reference_loss(
    signals: dict[str, np.ndarray], targets: list[np.ndarray], exclude: np.ndarray, w: np.ndarray, l2: float
) -> float:
    """Independent loop version of the objective with every non-excluded item a candidate."""
    names = list(signals)
    total, users = 0.0, 0
    for u, t in enumerate(targets):
        t = [i for i in t.tolist() if not exclude[u, i]]
        if not t:
            continue
        keep = ~exclude[u]
        s = sum(w[j] * signals[n][u].astype(np.float64) for j, n in enumerate(names))
        log_z = np.log(np.sum(np.exp(s[keep] - s[keep].max()))) + s[keep].max()
        total += np.mean([log_z - s[i] for i in t])
        users += 1
    return total / users + l2 * float(w @ w)


def test_solution_is_the_minimum_of_the_stated_objective() -> None:
    rng = np.random.default_rng(5)
    n_users, n_items = 40, 30
    signals = {n: rng.standard_normal((n_users, n_items)).astype(np.float32) for n in ("x", "y", "z")}
    targets = [rng.choice(n_items, rng.integers(1, 4), replace=False) for _ in range(n_users)]
    for u, t in enumerate(targets):
        signals["x"][u, t] += 1.0
        signals["y"][u, t] -= 0.5
    exclude = rng.random((n_users, n_items)) < 0.2
    exclude[0, targets[0]] = True  # user 0 has only excluded targets: dropped
    kept = sum(not exclude[u, t].all() for u, t in enumerate(targets))
    assert kept < n_users
    learner = FusionLearner(l2=0.01, n_candidates=n_items)
    fusion = learner.fit(signals, targets, sp.csr_matrix(exclude))
    assert learner.n_users_ == kept
    w = np.array([fusion.weights[n] for n in signals])
    best = reference_loss(signals, targets, exclude, w, 0.01)
    assert learner.loss_ == pytest.approx(best, rel=1e-6)
    for j in range(3):
        for step in (-1e-2, 1e-2):
            moved = w.copy()
            moved[j] += step
            assert reference_loss(signals, targets, exclude, moved, 0.01) > best
    assert fusion.weights["x"] > 0 > fusion.weights["y"]


def test_fit_errors() -> None:
    signals, targets = planted()
    with pytest.raises(ValueError, match="targets has 2 rows"):
        FusionLearner().fit(signals, targets[:2])
    with pytest.raises(ValueError, match="has shape"):
        FusionLearner().fit({"a": np.zeros((3, 4)), "b": np.zeros((3, 5))}, [np.array([0])] * 3)
    with pytest.raises(ValueError, match="no user has a target"):
        FusionLearner().fit({"a": np.zeros((1, 4))}, [np.array([1])], sp.csr_matrix(np.array([[0, 1, 0, 0]])))
    with pytest.raises(ValueError, match="outside"):
        FusionLearner().fit({"a": np.zeros((1, 4))}, [np.array([4])])
    with pytest.raises(ValueError, match="NaN"):
        FusionLearner().fit({"a": np.full((1, 4), np.nan)}, [np.array([1])])
    with pytest.raises(ValueError, match="l2"):
        FusionLearner(l2=-1).fit(signals, targets)


@given(
    weights=st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), st.floats(-5, 5), min_size=1),
    seed=st.integers(0, 100),
)
def test_fusion_score_is_the_weighted_sum(weights: dict[str, float], seed: int) -> None:
    rng = np.random.default_rng(seed)
    signals = {n: rng.standard_normal((3, 7)).astype(np.float32) for n in "abcde"}
    fusion = Fusion(weights)
    expected = sum(w * signals[n].astype(np.float64) for n, w in weights.items())
    np.testing.assert_allclose(fusion.score(signals), expected, atol=1e-4)
    assert Fusion.from_dict(json.loads(json.dumps(fusion.to_dict()))) == fusion


def test_fusion_table_and_errors() -> None:
    fusion = Fusion({"popularity": 0.2, "dislike": -1.5, "interest": 0.9})
    lines = fusion.table().splitlines()
    assert [line.split()[0] for line in lines[2:]] == ["dislike", "interest", "popularity"]
    assert "-1.5000" in lines[2]
    with pytest.raises(ValueError, match=r"\['dislike'\] have fusion weights"):
        fusion.score({"popularity": np.zeros(3), "interest": np.zeros(3)})
    with pytest.raises(ValueError, match="expected"):
        fusion.score({"popularity": np.zeros(3), "interest": np.zeros(3), "dislike": np.zeros(4)})
    with pytest.raises(ValueError, match="must be a number"):
        Fusion.from_dict({"weights": {"a": "high"}})
    with pytest.raises(ValueError, match="expected"):
        Fusion.from_dict({"w": {}})
    with pytest.raises(ValueError, match="finite"):
        Fusion({"a": float("inf")})
