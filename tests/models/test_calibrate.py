"""The new-item score offset: its objective must be the evaluation's NDCG@10, and it must find the level."""

from __future__ import annotations

import numpy as np
import pytest

from interestlm.core.metrics import ranking_metrics
from interestlm.core.topk import top_k
from interestlm.models.calibrate import (
    OBJECTIVES,
    LiftBlock,
    TargetRanks,
    best_lift,
    best_offset,
    best_offsets,
    concat_ranks,
    gain,
    recent_new_share,
    subset,
    target_ranks,
)

N_ITEMS = 60


def _rows(seed: int, n_rows: int = 40) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(n_rows, N_ITEMS)).astype(np.float32)
    targets = [rng.choice(N_ITEMS, size=int(rng.integers(1, 3)), replace=False) for _ in range(n_rows)]
    exclude = [np.setdiff1d(rng.choice(N_ITEMS, size=5, replace=False), t) for t in targets]
    new = rng.random(N_ITEMS) < 0.3
    return scores, targets, exclude, new


def _ndcg_by_ranking(scores: np.ndarray, targets: list[np.ndarray], exclude: list[np.ndarray]) -> float:
    """NDCG@10 the way the evaluation computes it: seen items removed, full ranking."""
    s = scores.copy()
    for j, ex in enumerate(exclude):
        s[j, ex] = -np.inf
    return float(ranking_metrics(top_k(s, 10), targets, (10,))["ndcg@10"])


@pytest.mark.parametrize("offset", [-1.5, 0.0, 0.7, 2.5])
def test_gain_is_the_evaluations_ndcg_for_single_targets(offset: float) -> None:
    scores, targets, exclude, new = _rows(0)
    single = [t[:1] for t in targets]
    # Two blocks of rows joined, as SeqRec scores the validation rows block by block.
    ranks = concat_ranks([target_ranks(scores[:25], single[:25], exclude[:25], new),
                          target_ranks(scores[25:], single[25:], exclude[25:], new)])  # fmt: skip
    expected = _ndcg_by_ranking(scores + offset * new, single, exclude)
    assert gain(ranks, np.array([offset]))[0] == pytest.approx(expected, abs=1e-6)


def test_an_excluded_target_is_never_a_hit() -> None:
    scores, targets, exclude, new = _rows(1)
    single = [t[:1] for t in targets]
    everything = [np.arange(N_ITEMS) for _ in targets]
    assert gain(target_ranks(scores, single, everything, new), np.array([0.0, 5.0]))[0] == 0.0
    assert gain(target_ranks(scores, single, exclude, new), np.array([0.0]))[0] > 0.0


def _shifted_new_items(seed: int, shift: float, n_rows: int = 300) -> TargetRanks:
    """Rows whose target is the top item by a random signal; the 15 new items' scores are that
    signal plus ``shift``, so the offset that ranks every target right is ``-shift``."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=(n_rows, N_ITEMS)).astype(np.float32)
    new = np.zeros(N_ITEMS, dtype=bool)
    new[:15] = True
    targets = [np.array([int(signal[j].argmax())]) for j in range(n_rows)]
    exclude = [np.zeros(0, dtype=np.int64)] * n_rows
    return target_ranks(signal + shift * new, targets, exclude, new)


def test_best_offset_lifts_new_items_to_their_level() -> None:
    # New items score 3 below their signal; only the offset that undoes the shift ranks them right.
    ranks = _shifted_new_items(seed=2, shift=-3.0)
    assert ranks.new.sum() >= 10
    offset = best_offset(ranks)
    assert 2.0 < offset < 4.5
    assert gain(ranks, np.array([offset]))[0] > gain(ranks, np.array([0.0]))[0] + 0.1
    assert gain(ranks, np.array([offset]))[0] == pytest.approx(1.0, abs=0.02)


def test_without_enough_new_targets_the_offset_stays_zero() -> None:
    scores, targets, exclude, new = _rows(3)
    warm_targets = [t[~new[t]] for t in targets]
    ranks = target_ranks(scores, warm_targets, exclude, new)
    assert ranks.new.sum() == 0
    # Hiding new items would raise this gain a little, but there is no evidence about new items.
    assert best_offset(ranks) == 0.0
    few = target_ranks(scores, targets, exclude, new)
    assert best_offset(few, min_new_targets=int(few.new.sum()) + 1) == 0.0


def test_balanced_gain_weighs_new_and_warm_targets_equally() -> None:
    scores, targets, exclude, new = _rows(5, n_rows=80)
    single = [t[:1] for t in targets]
    ranks = target_ranks(scores, single, exclude, new)
    assert 0 < ranks.new.sum() < len(single) / 2  # unequal groups, so the two means differ
    is_new = np.array([bool(new[t[0]]) for t in single])
    offsets = np.array([-1.0, 0.0, 1.0])
    shifted = [scores + b * new for b in offsets]
    per_group = []
    for rows in (np.flatnonzero(is_new), np.flatnonzero(~is_new)):
        group_targets, group_exclude = [single[j] for j in rows], [exclude[j] for j in rows]
        per_group.append([_ndcg_by_ranking(s[rows], group_targets, group_exclude) for s in shifted])
    np.testing.assert_allclose(gain(ranks, offsets, balanced=True), np.mean(per_group, axis=0), atol=1e-6)
    assert not np.allclose(gain(ranks, offsets, balanced=True), gain(ranks, offsets))


def _sliver_of_new_targets() -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray], np.ndarray]:
    """Many warm targets that rank well and a few new ones that rank badly: balancing the two
    groups pays to put new items on top of every list, which ruins the warm rows."""
    rng = np.random.default_rng(7)
    n_rows, n_new_targets = 400, 12
    scores = rng.normal(size=(n_rows, N_ITEMS)).astype(np.float32)
    new = np.zeros(N_ITEMS, dtype=bool)
    new[:20] = True
    scores[:, new] -= 2.0
    targets = []
    for j in range(n_rows):
        pool = np.flatnonzero(new) if j < n_new_targets else np.flatnonzero(~new)
        targets.append(np.array([pool[int(scores[j, pool].argmax())]]))
    return scores, targets, [np.zeros(0, dtype=np.int64)] * n_rows, new


def test_bounded_offset_spends_at_most_the_tolerance_of_overall_ndcg() -> None:
    ranks = target_ranks(*_sliver_of_new_targets())
    grid = np.linspace(-1.0, 6.0, 701)
    best_overall = gain(ranks, grid).max()
    balanced = best_offset(ranks, objective="balanced")
    bounded = best_offset(ranks, objective="bounded", tolerance=0.01)
    overall_at = {name: gain(ranks, np.array([b]))[0] for name, b in (("balanced", balanced), ("bounded", bounded))}
    # The balanced objective pays more than the tolerance; the bounded one never does.
    assert overall_at["balanced"] < 0.95 * best_overall
    # 0 is always a candidate, so the budget is at least 1 % of the unshifted NDCG; the candidates
    # are quantiles of the change points, so against a fine grid it holds up to their resolution.
    assert overall_at["bounded"] >= 0.99 * gain(ranks, np.array([0.0]))[0] - 1e-9
    assert overall_at["bounded"] >= 0.99 * best_overall - 0.002
    # Within that budget it lifts new items (nearly) as far as any affordable offset can.
    new_gain = gain(subset(ranks, ranks.new), grid)
    affordable = gain(ranks, grid) >= 0.99 * best_overall
    at_bounded = gain(subset(ranks, ranks.new), np.array([bounded, 0.0]))
    assert at_bounded[0] >= 0.9 * new_gain[affordable].max()
    assert at_bounded[0] > at_bounded[1]


def test_a_wider_tolerance_never_lifts_new_items_less() -> None:
    ranks = target_ranks(*_sliver_of_new_targets())
    offsets = np.array([best_offset(ranks, tolerance=t) for t in (0.0, 0.01, 0.1, 0.5)])
    lifts = list(gain(subset(ranks, ranks.new), offsets))
    assert lifts == sorted(lifts)
    assert lifts[-1] > lifts[0]


def test_an_unknown_objective_is_rejected() -> None:
    ranks = target_ranks(*_sliver_of_new_targets())
    with pytest.raises(ValueError, match="objective"):
        best_offset(ranks, objective="recall")  # type: ignore[arg-type]


def test_a_floor_keeps_the_offset_from_burying_new_items() -> None:
    # New items score 3 above their signal and most targets are warm: every objective would sink
    # the new items; a floor of 0 stops at their content score, and still lets them be lifted.
    ranks = _shifted_new_items(seed=4, shift=3.0)
    assert ranks.new.sum() >= 10
    for objective in OBJECTIVES:
        assert best_offset(ranks, objective=objective) < -2.0, objective
        assert best_offset(ranks, objective=objective, min_offset=0.0) == 0.0, objective
        assert best_offset(ranks, objective=objective, min_offset=-1.0) >= -1.0, objective
    assert 2.0 < best_offset(_shifted_new_items(seed=4, shift=-3.0), min_offset=0.0) < 4.5


def test_recent_new_share_reads_the_last_window_items() -> None:
    new = np.array([False, True, False, True])
    histories = [np.array([1, 3, 0, 2]), np.array([], dtype=np.int64), np.array([0, 1]), np.array([2, 5, 9])]
    # Last 3 of [1, 3, 0, 2] is [3, 0, 2]: one new; items past the catalogue (5, 9) were added since.
    np.testing.assert_allclose(recent_new_share(histories, new, 3), [1 / 3, 0.0, 0.5, 2 / 3], rtol=1e-6)
    np.testing.assert_allclose(recent_new_share(histories, new, 1), [0.0, 0.0, 1.0, 1.0])


def _new_item_users(seed: int, n_rows: int = 400) -> tuple[TargetRanks, np.ndarray, np.ndarray]:
    """Rows whose target is the top item by a random signal; new items' scores sit 3 below it.
    Half the users have recent histories full of new items (share 1) and their target is new;
    the others (share 0) choose warm items. Returns the ranks, each row's share and whether
    its target is new."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=(n_rows, N_ITEMS)).astype(np.float32)
    new = np.zeros(N_ITEMS, dtype=bool)
    new[:15] = True
    fan = rng.random(n_rows) < 0.5
    pool = {True: np.flatnonzero(new), False: np.flatnonzero(~new)}
    targets = [np.array([pool[bool(f)][signal[j, pool[bool(f)]].argmax()]]) for j, f in enumerate(fan)]
    exclude = [np.zeros(0, dtype=np.int64)] * n_rows
    share = fan.astype(np.float32)
    return target_ranks(signal - 3.0 * new, targets, exclude, new, shares=share), share, fan


def test_gain_with_affinity_is_the_evaluations_ndcg() -> None:
    rng = np.random.default_rng(0)
    scores, targets, exclude, new = _rows(0)
    single = [t[:1] for t in targets]
    shares = rng.random(len(single)).astype(np.float32)
    ranks = target_ranks(scores, single, exclude, new, shares=shares)
    for offset, affinity in ((0.0, 1.5), (-0.5, 2.0), (0.7, 0.0)):
        lifted = scores + (offset + affinity * shares[:, None]) * new
        expected = _ndcg_by_ranking(lifted, single, exclude)
        assert gain(ranks, np.array([offset]), affinity=affinity)[0] == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_the_affinity_slope_lifts_new_items_for_the_users_who_choose_them(objective: str) -> None:
    ranks, _, fan = _new_item_users(1)
    offset, affinity = best_offsets(ranks, objective=objective, affinity=True)  # type: ignore[arg-type]
    # Users who choose new items need them lifted by about 3; the others need none.
    assert affinity > 2.0 and offset + affinity > 2.5
    with_slope = gain(ranks, np.array([offset]), affinity=affinity)[0]
    alone = best_offset(ranks, objective=objective)  # type: ignore[arg-type]
    assert with_slope > gain(ranks, np.array([alone]))[0] + 0.2
    # Without the flag the slope stays 0, and the offset is best_offset's.
    assert best_offsets(ranks, objective=objective) == (alone, 0.0)  # type: ignore[arg-type]
    assert fan.any() and not fan.all()


def test_no_new_item_evidence_means_no_offset_and_no_slope() -> None:
    ranks, _, _ = _new_item_users(2)
    assert best_offsets(ranks, affinity=True, min_new_targets=int(ranks.new.sum()) + 1) == (0.0, 0.0)


def test_best_lift_names_an_unknown_objective() -> None:
    scores, targets, exclude, new = _rows(3)
    block = LiftBlock(scores=scores, targets=targets, seen=exclude, shares=np.zeros(len(targets), np.float32))
    with pytest.raises(ValueError, match="best_lift: objective must be one of"):
        best_lift([block], new, objective="recall")  # type: ignore[arg-type]
