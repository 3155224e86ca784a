"""Metrics checked against independent implementations (ranx, scikit-learn) and by properties."""

from __future__ import annotations

import math
import warnings
from collections import Counter
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.metrics import mean_absolute_error, mean_squared_error, ndcg_score, roc_auc_score
from sklearn.metrics.pairwise import cosine_distances

from interestlm.core.metrics import (
    RANKING_METRICS,
    auc,
    average_precision,
    beyond_accuracy,
    catalog_coverage,
    gini_index,
    hit_matrix,
    hit_rate,
    intra_list_diversity,
    item_user_counts,
    mae,
    mrr,
    ndcg,
    novelty,
    precision,
    ranking_metrics,
    recall,
    rmse,
    row_auc,
)

Targets = list[np.ndarray]
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def rankings(
    draw: st.DrawFn, *, padding: bool = True, min_targets: int = 1, min_items: int = 1
) -> tuple[np.ndarray, Targets, int]:
    """(topk, targets, n_items): rows of distinct items best first, ``-1`` padding at the end."""
    n_items = draw(st.integers(min_items, 12))
    width = draw(st.integers(1, min(8, n_items) if not padding else 8))
    n_rows = draw(st.integers(1, 6))
    topk = np.full((n_rows, width), -1, dtype=np.int32)
    targets: Targets = []
    for j in range(n_rows):
        perm = draw(st.permutations(range(n_items)))
        filled = draw(st.integers(0, min(width, n_items))) if padding else width
        topk[j, :filled] = perm[:filled]
        # Targets may repeat an item and come in any order.
        t = draw(st.lists(st.integers(0, n_items - 1), min_size=min_targets, max_size=6))
        targets.append(np.asarray(t, dtype=np.int64))
    return topk, targets, n_items


# --- ranx: the independent reference for every ranking metric -------------------------------

RANX_NAMES = {
    "hr": "hit_rate",
    "recall": "recall",
    "ndcg": "ndcg",
    "mrr": "mrr",
    "precision": "precision",
    "map": "map",
}


def ranx_per_row(topk: np.ndarray, targets: Targets, k: int) -> dict[str, np.ndarray]:
    """Per-row scores from ranx's metric kernels.

    ranx's ``evaluate`` takes numba typed lists of ``[doc id, score]`` arrays as well as its
    ``Qrels``/``Run`` containers; the containers JIT-compile a dict builder per value signature
    (minutes on 2 cores), so the lists are built here directly: one ``(n, 2)`` array per query,
    relevant items with relevance 1, ranked items best first with decreasing scores.
    """
    from numba.typed import List
    from ranx import evaluate

    qrels, run = List(), List()
    for row, t in zip(topk, targets, strict=True):
        relevant = np.unique(np.asarray(t, dtype=np.float64))
        qrels.append(np.stack([relevant, np.ones(len(relevant))], axis=1))
        ranked = row[row >= 0].astype(np.float64)
        run.append(np.stack([ranked, np.arange(len(ranked), 0, -1, dtype=np.float64)], axis=1).reshape(-1, 2))
    with warnings.catch_warnings():
        # ranx's numba kernels warn about an unsigned/signed cast in their thread index.
        warnings.simplefilter("ignore")
        scores = evaluate(qrels, run, [f"{m}@{k}" for m in RANX_NAMES.values()], return_mean=False)
    return {ours: np.asarray(scores[f"{theirs}@{k}"]) for ours, theirs in RANX_NAMES.items()}


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rankings(), st.data())
def test_every_ranking_metric_matches_ranx(case: tuple[np.ndarray, Targets, int], data: st.DataObject) -> None:
    topk, targets, _ = case
    k = data.draw(st.integers(1, topk.shape[1]))
    theirs = ranx_per_row(topk, targets, k)
    n_rel = np.array([len(set(t.tolist())) for t in targets], dtype=np.float64)
    for name, fn in RANKING_METRICS.items():
        ours = fn(topk, targets, k)
        if name == "map":
            # ranx (like trec_eval) divides AP@k by #targets; we divide by min(#targets, k).
            ours = ours * np.minimum(n_rel, k) / n_rel
        np.testing.assert_allclose(ours, theirs[name], rtol=1e-12, atol=1e-12, err_msg=f"{name}@{k}")


@FAST
@given(rankings(padding=False, min_items=2), st.data())
def test_ndcg_matches_scikit_learn(case: tuple[np.ndarray, Targets, int], data: st.DataObject) -> None:
    topk, targets, n_items = case
    k = data.draw(st.integers(1, topk.shape[1]))
    ours = ndcg(topk, targets, k)
    for j, row in enumerate(topk):
        relevance = np.zeros((1, n_items))
        relevance[0, targets[j]] = 1.0
        # Unranked items tie below every ranked one; with a full row they all sit past rank k.
        scores = np.full((1, n_items), -1.0)
        scores[0, row] = np.arange(len(row), 0, -1)
        assert ours[j] == pytest.approx(ndcg_score(relevance, scores, k=k), abs=1e-12)


# --- planted values ---------------------------------------------------------------------------


def test_planted_values() -> None:
    topk = np.array([[5, 3, 9, 1], [2, 2, 7, -1], [4, -1, -1, -1]])
    targets = [np.array([3, 1, 8]), np.array([2]), np.array([], dtype=np.int64)]
    k = 4
    # Row 0: hits at ranks 2 and 4 of 3 targets. Row 1: item 2 repeated: one hit at rank 1.
    np.testing.assert_allclose(hit_rate(topk, targets, k), [1, 1, 0])
    np.testing.assert_allclose(recall(topk, targets, k), [2 / 3, 1, 0])
    np.testing.assert_allclose(precision(topk, targets, k), [2 / 4, 1 / 4, 0])
    np.testing.assert_allclose(mrr(topk, targets, k), [1 / 2, 1, 0])
    dcg0 = 1 / math.log2(3) + 1 / math.log2(5)
    idcg0 = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    np.testing.assert_allclose(ndcg(topk, targets, k), [dcg0 / idcg0, 1, 0])
    np.testing.assert_allclose(average_precision(topk, targets, k), [(1 / 2 + 2 / 4) / 3, 1, 0])
    # The row without targets is left out of the means.
    means = ranking_metrics(topk, targets, [k])
    assert means["recall@4"] == pytest.approx((2 / 3 + 1) / 2)
    assert means["hr@4"] == 1.0


def test_padding_and_repeats_are_never_hits() -> None:
    topk = np.array([[-1, 0, 0, 0], [1, -1, 1, 2]])
    hits = hit_matrix(topk, [np.array([0]), np.array([1, 2])])
    assert hits.tolist() == [[False, True, False, False], [True, False, False, True]]
    assert recall(topk, [np.array([0]), np.array([1, 2])], 4).tolist() == [1.0, 1.0]
    assert ndcg(np.array([[0, 0, 0]]), [np.array([0])], 3)[0] == 1.0
    with pytest.raises(ValueError, match=">= 0"):
        hit_rate(topk, [np.array([-1]), np.array([1])], 2)


def test_no_targets_anywhere_and_bad_k() -> None:
    topk = np.array([[1, 2]])
    assert ranking_metrics(topk, [np.array([], dtype=np.int64)], [1, 2]) == {
        f"{m}@{k}": 0.0 for k in (1, 2) for m in RANKING_METRICS
    }
    with pytest.raises(ValueError, match="exceeds"):
        ranking_metrics(topk, [np.array([1])], [3])
    with pytest.raises(ValueError, match="k must be"):
        ndcg(topk, [np.array([1])], 0)
    with pytest.raises(ValueError, match="rows"):
        ndcg(topk, [np.array([1]), np.array([2])], 1)


# --- properties -------------------------------------------------------------------------------


@FAST
@given(rankings(min_targets=0), st.randoms(use_true_random=False))
def test_ranking_properties(case: tuple[np.ndarray, Targets, int], rnd: Any) -> None:
    topk, targets, _ = case
    width = topk.shape[1]
    ks = range(1, width + 1)
    means = ranking_metrics(topk, targets, ks)
    judged = np.array([len(t) > 0 for t in targets])
    # Order and repetition of targets do not matter.
    shuffled = [np.asarray(rnd.sample(list(t) * 2, 2 * len(t)), dtype=np.int64) for t in targets]
    for name, fn in RANKING_METRICS.items():
        previous = np.zeros(len(topk))
        for k in ks:
            values = fn(topk, targets, k)
            assert values.shape == (len(topk),)
            assert np.all((values >= 0) & (values <= 1 + 1e-12)), name
            assert np.all(values[~judged] == 0), "a row without targets scores 0"
            if name in ("hr", "recall"):
                assert np.all(values >= previous), f"{name} must not fall as k grows"
            previous = values
            assert means[f"{name}@{k}"] == pytest.approx(values[judged].mean() if judged.any() else 0.0)
        np.testing.assert_allclose(fn(topk, shuffled, width), values, err_msg=name)


@FAST
@given(st.integers(1, 10), st.integers(1, 6), st.data())
def test_perfect_ranking_scores_one(n_items: int, width: int, data: st.DataObject) -> None:
    width = min(width, n_items)
    chosen = data.draw(st.lists(st.integers(0, n_items - 1), min_size=1, max_size=n_items, unique=True))
    rest = [i for i in range(n_items) if i not in chosen]
    topk = np.array([(chosen + rest)[:width]])
    targets = [np.array(chosen[::-1])]
    for k in range(1, width + 1):
        assert hit_rate(topk, targets, k)[0] == 1.0
        assert mrr(topk, targets, k)[0] == 1.0
        assert ndcg(topk, targets, k)[0] == pytest.approx(1.0)
        assert average_precision(topk, targets, k)[0] == pytest.approx(1.0)
        assert recall(topk, targets, k)[0] == pytest.approx(min(1.0, k / len(chosen)))
        assert precision(topk, targets, k)[0] == pytest.approx(min(k, len(chosen)) / k)


@FAST
@given(rankings(padding=False), st.data())
def test_repeated_item_counts_like_an_empty_slot(case: tuple[np.ndarray, Targets, int], data: st.DataObject) -> None:
    topk, targets, _ = case
    width = topk.shape[1]
    if width < 2:
        return
    j = data.draw(st.integers(0, len(topk) - 1))
    src, dst = sorted(data.draw(st.lists(st.integers(0, width - 1), min_size=2, max_size=2, unique=True)))
    repeated, blanked = topk.copy(), topk.copy()
    repeated[j, dst] = topk[j, src]  # a ranker bug: the same item listed twice
    blanked[j, dst] = -1
    for k in range(1, width + 1):
        for name, fn in RANKING_METRICS.items():
            np.testing.assert_array_equal(fn(repeated, targets, k), fn(blanked, targets, k), err_msg=name)


# --- ratings and AUC --------------------------------------------------------------------------


@FAST
@given(st.lists(st.tuples(st.floats(-5, 5), st.floats(-5, 5)), min_size=1, max_size=30))
def test_rmse_and_mae_match_scikit_learn(pairs: list[tuple[float, float]]) -> None:
    pred, truth = np.array(pairs).T
    assert rmse(pred, truth) == pytest.approx(math.sqrt(mean_squared_error(truth, pred)), abs=1e-12)
    assert mae(pred, truth) == pytest.approx(mean_absolute_error(truth, pred), abs=1e-12)


def test_rating_errors_refuse_bad_input() -> None:
    assert rmse([3.0, 5.0], [4.0, 4.0]) == 1.0
    with pytest.raises(ValueError, match="shape"):
        mae([1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="finite"):
        rmse([1.0, 2.0], [np.nan, 2.0])
    with pytest.raises(ValueError, match="no predictions"):
        mae([], [])


@FAST
@given(
    st.integers(1, 5),
    st.integers(2, 12),
    st.data(),
)
def test_auc_matches_scikit_learn_with_ties(n_rows: int, n_cols: int, data: st.DataObject) -> None:
    # Integer scores in a narrow range make ties frequent.
    scores = np.array(data.draw(st.lists(st.integers(0, 3), min_size=n_rows * n_cols, max_size=n_rows * n_cols)))
    labels = np.array(data.draw(st.lists(st.booleans(), min_size=n_rows * n_cols, max_size=n_rows * n_cols)))
    scores, labels = scores.reshape(n_rows, n_cols).astype(float), labels.reshape(n_rows, n_cols)
    per_row = row_auc(scores, labels)
    defined = []
    for j in range(n_rows):
        if labels[j].all() or not labels[j].any():
            assert np.isnan(per_row[j])
        else:
            expected = roc_auc_score(labels[j], scores[j])
            assert per_row[j] == pytest.approx(expected, abs=1e-12)
            defined.append(expected)
    if defined:
        assert auc(scores, labels) == pytest.approx(np.mean(defined), abs=1e-12)
    else:
        with pytest.raises(ValueError, match="positive and one negative"):
            auc(scores, labels)
    flat_labels = labels.ravel()
    if flat_labels.any() and not flat_labels.all():
        assert auc(scores.ravel(), flat_labels) == pytest.approx(roc_auc_score(flat_labels, scores.ravel()), abs=1e-12)


def test_auc_planted() -> None:
    assert auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == pytest.approx(0.75)
    assert auc([1.0, 1.0], [0, 1]) == 0.5
    with pytest.raises(ValueError, match="binary"):
        auc([0.1, 0.2], [0, 2])


# --- beyond accuracy --------------------------------------------------------------------------


def reference_lists(topk: np.ndarray, k: int) -> list[list[int]]:
    """Each row's top-k items, padding removed, repeats kept once (first copy)."""
    out = []
    for row in topk[:, :k].tolist():
        seen: list[int] = []
        for item in row:
            if item >= 0 and item not in seen:
                seen.append(item)
        out.append(seen)
    return out


@st.composite
def lists_with_repeats(draw: st.DrawFn) -> tuple[np.ndarray, int, int]:
    n_items = draw(st.integers(1, 9))
    width = draw(st.integers(1, 6))
    n_rows = draw(st.integers(1, 6))
    cells = draw(st.lists(st.integers(-1, n_items - 1), min_size=n_rows * width, max_size=n_rows * width))
    k = draw(st.integers(1, width))
    return np.array(cells, dtype=np.int64).reshape(n_rows, width), n_items, k


@FAST
@given(lists_with_repeats(), st.data())
def test_beyond_accuracy_matches_reference(case: tuple[np.ndarray, int, int], data: st.DataObject) -> None:
    topk, n_items, k = case
    lists = reference_lists(topk, k)
    n_users = data.draw(st.integers(1, 20))
    popularity = np.array(data.draw(st.lists(st.integers(0, n_users), min_size=n_items, max_size=n_items)))
    vectors = np.array(
        data.draw(st.lists(st.integers(-3, 3), min_size=n_items * 3, max_size=n_items * 3)), dtype=float
    ).reshape(n_items, 3)

    assert catalog_coverage(topk, n_items, k) == pytest.approx(len({i for row in lists for i in row}) / n_items)

    counts = Counter(i for row in lists for i in row)
    x = np.array([counts.get(i, 0) for i in range(n_items)], dtype=float)
    # Gini as the relative mean absolute difference over all pairs.
    expected_gini = np.abs(x[:, None] - x[None, :]).sum() / (2 * n_items**2 * x.mean()) if x.sum() else 0.0
    assert gini_index(topk, n_items, k) == pytest.approx(expected_gini, abs=1e-12)

    per_list = [np.mean([math.log2(n_users / max(popularity[i], 1)) for i in row]) for row in lists if row]
    assert novelty(topk, popularity, n_users, k) == pytest.approx(np.mean(per_list) if per_list else 0.0)

    distances = []
    for row in lists:
        if len(row) >= 2:
            vec = vectors[row]
            d = cosine_distances(vec)  # zero vectors: cosine 0, distance 1, as documented
            distances.append(d[np.triu_indices(len(row), 1)].mean())
    expected_ild = np.mean(distances) if distances else 0.0
    assert intra_list_diversity(topk, vectors, k) == pytest.approx(expected_ild, abs=1e-9)
    assert intra_list_diversity(topk, sp.csr_matrix(vectors), k) == pytest.approx(expected_ild, abs=1e-9)
    assert intra_list_diversity(topk, vectors, k, batch_size=1) == pytest.approx(expected_ild, abs=1e-9)

    combined = beyond_accuracy(
        topk, k, n_items=n_items, item_popularity=popularity, n_users=n_users, item_vectors=vectors
    )
    assert set(combined) == {"coverage", "gini", "novelty", "diversity"}
    assert "diversity" not in beyond_accuracy(topk, k, n_items=n_items, item_popularity=popularity, n_users=n_users)


def test_beyond_accuracy_planted() -> None:
    same = np.zeros((4, 1), dtype=np.int64)
    assert gini_index(same, 5, 1) == pytest.approx(4 / 5)  # one item takes every slot
    spread = np.arange(6).reshape(3, 2)
    assert gini_index(spread, 6, 2) == 0.0
    assert catalog_coverage(spread, 12, 2) == 0.5
    assert novelty(np.array([[0, 1]]), np.array([8, 2]), 8, 2) == pytest.approx((0 + 2) / 2)
    vectors = np.array([[1.0, 0.0], [0.0, 2.0], [-3.0, 0.0]])
    assert intra_list_diversity(np.array([[0, 1, 2]]), vectors, 3) == pytest.approx((1 + 2 + 1) / 3)
    with pytest.raises(ValueError, match="distinct users"):
        novelty(np.array([[0]]), np.array([9]), 8, 1)
    with pytest.raises(ValueError, match="catalog"):
        catalog_coverage(np.array([[7]]), 5, 1)


def test_item_user_counts_counts_distinct_users() -> None:
    users = np.array([0, 0, 1, 2, 2, 2])
    items = np.array([1, 1, 1, 0, 3, 3])
    assert item_user_counts(users, items, 5).tolist() == [1, 2, 0, 1, 0]
