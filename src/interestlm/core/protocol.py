"""The contract between splits, models and the full-ranking evaluator.

A split yields :class:`TrainData` (what a model may learn from) and :class:`EvalTask` s (who is
evaluated, on what history, against which held-out items, with which items removed from the
ranking). A model is anything with ``fit(train)`` and ``score(users, histories)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, Self, runtime_checkable

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from interestlm.core.tables import Catalog, Interactions
from interestlm.core.types import FloatArray, IntArray


def history_matrix(histories: Sequence[npt.NDArray[np.integer]], n_items: int) -> sp.csr_matrix:
    """Binary CSR matrix with one row per history (duplicates collapse to 1)."""
    lengths = np.fromiter((len(h) for h in histories), dtype=np.int64, count=len(histories))
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    indices = (
        np.concatenate([np.asarray(h, dtype=np.int32) for h in histories]) if len(histories) else np.zeros(0, np.int32)
    )
    data = np.ones(len(indices), dtype=np.float32)
    m = sp.csr_matrix((data, indices, indptr), shape=(len(histories), n_items))
    m.sum_duplicates()
    m.data[:] = 1.0
    return m


@dataclass(frozen=True, kw_only=True, eq=False)
class TrainData:
    """Training rows plus the index spaces they live in (the full catalog, all user ids)."""

    interactions: Interactions
    catalog: Catalog

    @property
    def n_items(self) -> int:
        """Catalog size: models score every catalog item."""
        return len(self.catalog)

    @property
    def n_users(self) -> int:
        """Number of user ids (rows of ``matrix``)."""
        return self.interactions.n_users

    def sequences(self) -> list[IntArray]:
        """Each user's training items in time order."""
        return self.interactions.sequences()

    def matrix(self) -> sp.csr_matrix:
        """Binary user x item CSR matrix of training interactions."""
        return history_matrix(self.sequences(), self.n_items)


@dataclass(frozen=True, kw_only=True, eq=False)
class EvalTask:
    """One evaluation stage (validation or test) of a split.

    For row ``j``: user ``users[j]`` is given ``histories[j]`` (time-ordered item indices the
    model may condition on), must rank ``targets[j]`` (held-out items), and ``exclude[j]``
    (already-seen items) is removed from the ranking before top-K. ``times[j]`` (None when the
    data has no real timestamps) is when row ``j`` asks for its ranking, in seconds since the
    epoch: the time of its (earliest) held-out event under leave-one-out, as a live system ranks
    at the moment of the request; the window's start under a temporal cut. Models that read the
    clock (:class:`TimedModel`) are scored at it; none sees the targets' times otherwise.
    """

    name: str
    users: IntArray
    histories: list[IntArray]
    targets: list[IntArray]
    exclude: sp.csr_matrix
    times: npt.NDArray[np.float64] | None = None

    def __post_init__(self) -> None:
        n = len(self.users)
        if len(self.histories) != n or len(self.targets) != n or self.exclude.shape[0] != n:
            raise ValueError(f"EvalTask {self.name!r}: users, histories, targets and exclude must align")
        if self.times is not None and len(self.times) != n:
            raise ValueError(f"EvalTask {self.name!r}: times has {len(self.times)} rows, expected {n}")

    def __len__(self) -> int:
        return len(self.users)

    def subset(self, rows: npt.NDArray[np.integer] | npt.NDArray[np.bool_]) -> EvalTask:
        """The task restricted to some rows (for slices such as cold items or history length)."""
        idx = np.arange(len(self))[rows]
        return EvalTask(
            name=self.name,
            users=self.users[idx],
            histories=[self.histories[i] for i in idx],
            targets=[self.targets[i] for i in idx],
            exclude=self.exclude[idx],
            times=None if self.times is None else self.times[idx],
        )


@runtime_checkable
class Model(Protocol):
    """A recommender that can be evaluated by full ranking."""

    def fit(self, train: TrainData, *, valid: EvalTask | None = None) -> Self:
        """Learn from ``train``; ``valid`` may be used for model selection only (early stopping, calibration)."""
        ...

    def score(self, users: IntArray, histories: list[IntArray]) -> FloatArray:
        """Scores for every catalog item, shape ``(len(users), n_items)``; higher is better."""
        ...


@runtime_checkable
class TimedModel(Model, Protocol):
    """A :class:`Model` whose scores depend on when they are asked for (e.g. how old each item is)."""

    def score_at(self, users: IntArray, histories: list[IntArray], times: npt.NDArray[np.float64]) -> FloatArray:
        """:meth:`score` as of ``times[j]`` (seconds since the epoch; NaN: the model's own default)."""
        ...
