import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from interestlm.core.protocol import EvalTask, history_matrix
from interestlm.core.topk import top_k
from interestlm.models.ranking import evaluate_task, rank_task


def test_top_k_orders_by_score_and_breaks_ties_by_index() -> None:
    scores = np.array([[0.1, 0.5, 0.5, 0.9, -1.0]], dtype=np.float32)
    assert top_k(scores, 3).tolist() == [[3, 1, 2]]


def test_top_k_never_returns_masked_items_and_pads_short_catalogs() -> None:
    scores = np.array([[1.0, -np.inf, 0.5]], dtype=np.float32)
    assert top_k(scores, 3).tolist() == [[0, 2, -1]]
    assert top_k(scores, 5).tolist() == [[0, 2, -1, -1, -1]]


@settings(max_examples=60, deadline=None)
@given(arrays(np.float32, (4, 9), elements=st.floats(-5, 5, width=32)), st.integers(1, 9))
def test_top_k_matches_a_full_stable_sort(scores: np.ndarray, k: int) -> None:
    expected = np.array([sorted(range(9), key=lambda i: (-row[i], i))[:k] for row in scores])
    assert np.array_equal(top_k(scores, k), expected)


class FixedScores:
    """A model whose scores are a fixed table per user (the oracle for masking checks)."""

    def __init__(self, table: np.ndarray) -> None:
        self.table = table

    def fit(self, train: object, *, valid: object = None) -> "FixedScores":
        return self

    def score(self, users: np.ndarray, histories: list[np.ndarray]) -> np.ndarray:
        return self.table[users]


def test_rank_task_removes_seen_items_and_batches_consistently() -> None:
    table = np.array([[5, 4, 3, 2, 1], [1, 2, 3, 4, 5], [3, 3, 3, 3, 3]], dtype=np.float32)
    histories = [np.array([0]), np.array([4, 3]), np.array([], dtype=np.int32)]
    task = EvalTask(
        name="test",
        users=np.array([0, 1, 2], dtype=np.int32),
        histories=histories,
        targets=[np.array([1]), np.array([2]), np.array([0])],
        exclude=history_matrix(histories, 5),
    )
    model = FixedScores(table)
    full = rank_task(model, task, 3)
    assert full.tolist() == [[1, 2, 3], [2, 1, 0], [0, 1, 2]]
    assert np.array_equal(rank_task(model, task, 3, batch_size=1), full)
    metrics = evaluate_task(model, task, ks=(1,))
    assert metrics["hr@1"] == 1.0
    assert metrics["ndcg@1"] == 1.0


class ClockScores(FixedScores):
    """Prefers item ``time mod n_items`` when asked at a time; the fixed table otherwise."""

    def score_at(self, users: np.ndarray, histories: list[np.ndarray], times: np.ndarray) -> np.ndarray:
        out = self.table[users].copy()
        out[np.arange(len(users)), times.astype(np.int64) % out.shape[1]] = 100.0
        return out


def test_models_that_read_the_clock_are_scored_at_the_tasks_times() -> None:
    table = np.tile(np.arange(5, 0, -1, dtype=np.float32), (2, 1))
    histories = [np.array([], dtype=np.int32)] * 2
    task = EvalTask(
        name="test", users=np.array([0, 1], dtype=np.int32), histories=histories,
        targets=[np.array([3]), np.array([4])], exclude=history_matrix(histories, 5), times=np.array([13.0, 4.0]),
    )  # fmt: skip
    assert rank_task(ClockScores(table), task, 2, batch_size=1).tolist() == [[3, 0], [4, 0]]
    # Without times (or for a model with no clock) the plain scores rank.
    untimed = EvalTask(name="t", users=task.users, histories=histories, targets=task.targets, exclude=task.exclude)
    assert rank_task(ClockScores(table), untimed, 2).tolist() == [[0, 1], [0, 1]]
    assert rank_task(FixedScores(table), task, 2).tolist() == [[0, 1], [0, 1]]
    with pytest.raises(ValueError, match="times has 1 rows, expected 2"):
        EvalTask(name="t", users=task.users, histories=histories, targets=task.targets, exclude=task.exclude,
                 times=np.zeros(1))  # fmt: skip


def test_history_matrix_collapses_duplicates_to_binary() -> None:
    m = history_matrix([np.array([1, 1, 2]), np.array([], dtype=np.int32)], 4)
    assert isinstance(m, sp.csr_matrix)
    assert m.toarray().tolist() == [[0, 1, 1, 0], [0, 0, 0, 0]]
