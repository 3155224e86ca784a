"""Evaluation splits: leave-one-out by time and a global temporal cut, with analysis slices.

Both splits follow one pattern. Each stage (validation, test) holds items out; its history is
everything the user did before the held-out window, and its ``exclude`` is the set of items in
that history (seen items are removed from the ranking). The model is fitted on ``train`` only:
the validation window is never in ``train``, and it becomes part of the *history* at test time.

**Leave-one-out** (:func:`leave_one_out`): each user's rows in time order, ties in file order.
With ``n >= 3`` rows the last is the test target, the second-last the validation target and the
rest is training; ``n == 2`` gives one training and one test row; ``n == 1`` is training only.

**Temporal** (:func:`temporal_split`): a global cut at time ``at``. Rows before it are the past,
rows at or after it are the test window; a second cut ``valid_at`` inside the past leaves the
last ``valid_fraction`` of past rows as the validation window. ``train`` holds rows before
``valid_at`` — the temporal twin of leave-one-out, where the validation item is not trained on
either — so early stopping on ``valid`` never scores items the model was fitted on. The cost is
that the final model does not learn from the validation window (it still sees it as history).
Pass ``valid_fraction=0`` to train on every row before ``at`` with no validation stage.

Why one file over 400 lines: leave-one-out and temporal splits share the cold-start slicing.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from interestlm.core.protocol import EvalTask, TrainData
from interestlm.core.tables import Dataset, Interactions
from interestlm.core.types import IntArray, LongArray

#: History-length buckets of :meth:`Split.slices`: (name, smallest length, largest length + 1).
HISTORY_BUCKETS: tuple[tuple[str, int, float], ...] = (
    ("hist_0", 0, 1),
    ("hist_1-4", 1, 5),
    ("hist_5-9", 5, 10),
    ("hist_10-19", 10, 20),
    ("hist_20+", 20, math.inf),
)


@dataclass(frozen=True, kw_only=True, eq=False)
class Split:
    """A train set plus validation and test tasks built from one dataset.

    ``valid_rows`` and ``test_rows`` are the dataset rows (file positions) of each held-out
    window, for rating metrics and audits; ``notes`` counts what the split did (cut times,
    targets removed because the user had already seen them, users left without targets).
    """

    name: str
    train: TrainData
    valid: EvalTask | None
    test: EvalTask
    valid_rows: LongArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    test_rows: LongArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    notes: dict[str, int] = field(default_factory=dict)

    def slices(self) -> dict[str, EvalTask]:
        """Named subsets of the test task for cold-start and history-length analysis.

        ``cold_users``/``warm_users``: test users without/with training rows.
        ``cold_items``/``warm_items``: targets restricted to items without/with training rows
        (rows left without a target are dropped). ``cold_items_only``: the ``cold_items`` rows
        ranked among items without training rows only (every warm item excluded): the "new
        arrivals" shelf, where ID-only models can do no better than chance.
        ``hist_*``: rows by history length.
        Empty slices are kept (with zero rows) so every split reports the same names.
        """
        test = self.test
        train = self.train.interactions
        user_rows = np.bincount(train.user, minlength=max(train.n_users, int(test.users.max(initial=-1)) + 1))
        item_rows = np.bincount(train.item, minlength=self.train.n_items)
        cold_user = user_rows[test.users] == 0
        cold_item = item_rows == 0
        out = {
            "cold_users": test.subset(cold_user),
            "warm_users": test.subset(~cold_user),
            "cold_items": _restrict_targets(test, cold_item),
            "warm_items": _restrict_targets(test, ~cold_item),
        }
        out["cold_items_only"] = _exclude_items(out["cold_items"], ~cold_item)
        lengths = np.fromiter((len(h) for h in test.histories), dtype=np.int64, count=len(test))
        for name, low, high in HISTORY_BUCKETS:
            out[name] = test.subset((lengths >= low) & (lengths < high))
        return {name: replace(task, name=f"{test.name}/{name}") for name, task in out.items()}


def _pieces(values: npt.NDArray[np.int32], counts: npt.NDArray[np.integer]) -> list[IntArray]:
    """``values`` cut into consecutive pieces of the given lengths (views, no copies)."""
    # Plain slicing: np.split costs a few microseconds per piece, too slow for 10^5 users.
    bounds = np.concatenate([[0], np.cumsum(counts)]).tolist()
    return [values[a:b] for a, b in itertools.pairwise(bounds)]


def _exclude_items(task: EvalTask, drop_item: npt.NDArray[np.bool_]) -> EvalTask:
    """``task`` with the ``drop_item`` items also excluded from every row's ranking."""
    cols = np.flatnonzero(drop_item).astype(np.int32)
    n_rows, n_items = task.exclude.shape
    dropped = sp.csr_matrix(
        (np.ones(n_rows * len(cols), dtype=bool), np.tile(cols, n_rows), np.arange(n_rows + 1) * len(cols)),
        shape=(n_rows, n_items),
    )
    exclude = (task.exclude.astype(bool) + dropped).astype(bool).tocsr()
    return replace(task, exclude=exclude)


def _restrict_targets(task: EvalTask, keep_item: npt.NDArray[np.bool_]) -> EvalTask:
    """``task`` with each row's targets cut to items where ``keep_item``; empty rows dropped."""
    lengths = np.fromiter((len(t) for t in task.targets), dtype=np.int64, count=len(task))
    flat = np.concatenate(task.targets) if len(task) else np.zeros(0, dtype=np.int32)
    keep = keep_item[flat]
    kept_counts = np.bincount(np.repeat(np.arange(len(task)), lengths)[keep], minlength=len(task))
    rows = np.flatnonzero(kept_counts > 0)
    pieces = _pieces(flat[keep].astype(np.int32), kept_counts[rows])
    return replace(task.subset(rows), targets=pieces)


def _task(
    name: str,
    *,
    seq_user: IntArray,
    seq_item: IntArray,
    history: npt.NDArray[np.bool_],
    target_user: npt.NDArray[np.int64],
    target_item: npt.NDArray[np.int64],
    n_users: int,
    n_items: int,
    target_time: npt.NDArray[np.integer] | None = None,
) -> EvalTask:
    """Build an EvalTask from rows in (user, time) order.

    ``history`` selects the rows that form each user's history; ``target_user``/``target_item``
    are (user, item) pairs sorted by user. Rows of the task are the distinct target users in
    increasing index order. ``target_time`` (real timestamps only; aligned with the targets)
    gives each row its request time ``times``: the earliest of its targets'.
    """
    users, target_counts = np.unique(target_user, return_counts=True)
    is_task_user = np.zeros(n_users, dtype=bool)
    is_task_user[users] = True
    hist_rows = history & is_task_user[seq_user]
    hist_items = seq_item[hist_rows].astype(np.int32)
    hist_counts = np.bincount(seq_user[hist_rows], minlength=n_users)[users]
    histories = _pieces(hist_items, hist_counts)
    targets = _pieces(target_item.astype(np.int32), target_counts)
    indptr = np.concatenate([[0], np.cumsum(hist_counts)]).astype(np.int64)
    # copy=True: sum_duplicates sorts the index array in place, and it must not be the histories'.
    exclude = sp.csr_matrix(
        (np.ones(len(hist_items), dtype=np.float32), hist_items, indptr), shape=(len(users), n_items), copy=True
    )
    exclude.sum_duplicates()
    exclude.data[:] = 1.0
    times: npt.NDArray[np.float64] | None = None
    if target_time is not None:
        # Targets are sorted by user: each row's targets are one consecutive piece.
        times = np.minimum.reduceat(np.asarray(target_time, dtype=np.float64), np.cumsum(target_counts) - target_counts)
    return EvalTask(
        name=name,
        users=users.astype(np.int32),
        histories=histories,
        targets=targets,
        exclude=exclude,
        times=times,
    )


def _train_data(dataset: Dataset, rows: npt.NDArray[np.integer]) -> TrainData:
    # File order is kept so that later stable sorts still break time ties by file position.
    return TrainData(interactions=dataset.interactions.select(np.sort(rows)), catalog=dataset.catalog)


def _pair_keys(user: npt.NDArray[np.integer], item: npt.NDArray[np.integer], n_items: int) -> LongArray:
    return np.asarray(user, dtype=np.int64) * n_items + np.asarray(item, dtype=np.int64)


def _n_excluded_targets(task: EvalTask) -> int:
    """How many one-item targets are also in their row's ``exclude`` (masked, so never hit)."""
    if len(task) == 0:
        return 0
    # Leave-one-out rows have exactly one target each.
    items = np.concatenate(task.targets)
    return int(np.asarray(task.exclude[np.arange(len(task)), items]).sum())


def leave_one_out(dataset: Dataset) -> Split:
    """Per user in time order (ties by file order): last row test, second-last validation.

    Users with two rows get no validation row; users with one row are training only. Works on
    sequence positions too (``has_time`` false), since only each user's own order matters.
    """
    inter = dataset.interactions
    n_users, n_items = inter.n_users, dataset.n_items
    order = inter.time_order()
    seq_user = inter.user[order]
    seq_item = inter.item[order]
    seq_time = inter.timestamp[order] if dataset.has_time else None
    counts = np.bincount(seq_user, minlength=n_users)
    starts = np.cumsum(counts) - counts
    length = counts[seq_user]
    position = np.arange(len(order)) - starts[seq_user]
    is_test = (length >= 2) & (position == length - 1)
    is_valid = (length >= 3) & (position == length - 2)
    is_train = ~(is_test | is_valid)
    valid = _task(
        "valid",
        seq_user=seq_user,
        seq_item=seq_item,
        history=is_train,
        target_user=seq_user[is_valid].astype(np.int64),
        target_item=seq_item[is_valid].astype(np.int64),
        n_users=n_users,
        n_items=n_items,
        target_time=None if seq_time is None else seq_time[is_valid],
    )
    test = _task(
        "test",
        seq_user=seq_user,
        seq_item=seq_item,
        history=is_train | is_valid,
        target_user=seq_user[is_test].astype(np.int64),
        target_item=seq_item[is_test].astype(np.int64),
        n_users=n_users,
        n_items=n_items,
        target_time=None if seq_time is None else seq_time[is_test],
    )
    notes = {
        "users with 1 row (train only)": int((counts == 1).sum()),
        "users with 2 rows (no validation row)": int((counts == 2).sum()),
        "test targets already in history (unreachable)": _n_excluded_targets(test),
        "valid targets already in history (unreachable)": _n_excluded_targets(valid),
    }
    return Split(
        name="loo",
        train=_train_data(dataset, order[is_train]),
        valid=valid if len(valid) else None,
        test=test,
        valid_rows=np.sort(order[is_valid]),
        test_rows=np.sort(order[is_test]),
        notes=notes,
    )


def _cut_time(timestamps: LongArray, fraction: float) -> int:
    """Time ``t`` of the row at the ``1 - fraction`` quantile: at least that share is at/after ``t``."""
    ordered = np.sort(timestamps)
    n_after = max(1, round(fraction * len(ordered)))
    return int(ordered[len(ordered) - n_after])


def _window_task(
    name: str,
    *,
    seq_user: IntArray,
    seq_item: IntArray,
    known: npt.NDArray[np.bool_],
    window: npt.NDArray[np.bool_],
    n_users: int,
    n_items: int,
    notes: dict[str, int],
    at: int,
) -> EvalTask:
    """Targets: each user's distinct items in ``window`` that are not among their ``known`` rows;
    every row is asked for at ``at``, the window's start (the whole window is predicted from there)."""
    window_keys = np.unique(_pair_keys(seq_user[window], seq_item[window], n_items))
    known_keys = np.unique(_pair_keys(seq_user[known], seq_item[known], n_items))
    seen = np.isin(window_keys, known_keys, assume_unique=True)
    keys = window_keys[~seen]
    window_users = np.unique(window_keys // n_items)
    task = _task(
        name,
        seq_user=seq_user,
        seq_item=seq_item,
        history=known,
        target_user=keys // n_items,
        target_item=keys % n_items,
        n_users=n_users,
        n_items=n_items,
        target_time=np.full(len(keys), at, dtype=np.int64),
    )
    notes[f"{name} window rows"] = int(window.sum())
    notes[f"{name} targets (distinct user-item pairs)"] = len(keys)
    notes[f"{name} targets removed (already in history)"] = int(seen.sum())
    notes[f"{name} users without evaluable targets (dropped)"] = len(window_users) - len(task)
    return task


def temporal_split(
    dataset: Dataset,
    *,
    at: int | None = None,
    test_fraction: float = 0.2,
    valid_fraction: float = 0.1,
) -> Split:
    """Global time cut: test = rows at/after ``at``, validation = the last part before it.

    ``at`` defaults to the time that leaves ``test_fraction`` of all rows at or after it (more
    when rows tie at the cut). The validation cut leaves ``valid_fraction`` of the rows before
    ``at`` at or after it; ``train`` is the rows before the validation cut (see the module
    docstring for why), or every row before ``at`` when ``valid_fraction`` is 0.

    A test (or validation) target is a distinct item the user met in the window and had not met
    before it; the removed ones are counted in ``notes``. Histories are the user's rows before
    the window (empty for users new in the window: cold users).
    """
    if not dataset.has_time:
        raise ValueError(
            f"dataset {dataset.name!r} has no timestamps (only per-user positions, which are not "
            "comparable across users): a global temporal split is meaningless; use leave_one_out"
        )
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), not {test_fraction}")
    if not 0.0 <= valid_fraction < 1.0:
        raise ValueError(f"valid_fraction must be in [0, 1), not {valid_fraction}")
    inter = dataset.interactions
    if len(inter) == 0:
        raise ValueError(f"dataset {dataset.name!r} has no interactions to split")
    n_users, n_items = inter.n_users, dataset.n_items
    cut = _cut_time(inter.timestamp, test_fraction) if at is None else int(at)
    order = inter.time_order()
    seq_user = inter.user[order]
    seq_item = inter.item[order]
    seq_time = inter.timestamp[order]
    past = seq_time < cut
    if not past.any() or past.all():
        lo, hi = int(inter.timestamp.min()), int(inter.timestamp.max())
        raise ValueError(
            f"cut at={cut} leaves an empty {'train' if not past.any() else 'test'} period "
            f"(timestamps span {lo}..{hi}, all rows tied at the cut count as test)"
        )
    notes: dict[str, int] = {"cut at": cut}
    valid: EvalTask | None = None
    train_rows = past
    valid_window = np.zeros(len(order), dtype=bool)
    if valid_fraction > 0:
        valid_cut = _cut_time(seq_time[past], valid_fraction)
        train_rows = seq_time < valid_cut
        if not train_rows.any():
            raise ValueError(
                f"validation cut at={valid_cut} leaves no training rows (too many rows tie at the "
                "earliest time); lower valid_fraction or pass valid_fraction=0"
            )
        valid_window = past & ~train_rows
        notes["valid cut at"] = valid_cut
        valid = _window_task(
            "valid",
            seq_user=seq_user,
            seq_item=seq_item,
            known=train_rows,
            window=valid_window,
            n_users=n_users,
            n_items=n_items,
            notes=notes,
            at=valid_cut,
        )
    test = _window_task(
        "test",
        seq_user=seq_user,
        seq_item=seq_item,
        known=past,
        window=~past,
        n_users=n_users,
        n_items=n_items,
        notes=notes,
        at=cut,
    )
    return Split(
        name="temporal",
        train=_train_data(dataset, order[train_rows]),
        valid=valid if valid is not None and len(valid) else None,
        test=test,
        valid_rows=np.sort(order[valid_window]),
        test_rows=np.sort(order[~past]),
        notes=notes,
    )


def without_items(split: Split, items: npt.NDArray[np.integer], notes: dict[str, int] | None = None) -> Split:
    """``split`` with every training row of ``items`` removed; they stay in the catalog (with their
    text) and in validation and test, so some targets are items a model never saw in training."""
    inter = split.train.interactions
    train = TrainData(interactions=inter.select(~np.isin(inter.item, items)), catalog=split.train.catalog)
    return replace(split, train=train, notes={**split.notes, "held-out items": len(items), **(notes or {})})


def _share_count(share: float, n_items: int) -> int:
    """How many of ``n_items`` a hold-out ``share`` takes; the share must lie in (0, 1)."""
    if not 0.0 < share < 1.0:
        raise ValueError(f"share must be in (0, 1), not {share}")
    return round(share * n_items)


def hold_out_items(split: Split, share: float, seed: int) -> Split:
    """``split`` without the training rows of a random ``share`` of the catalog (item cold start)."""
    n_items = split.train.n_items
    held = np.random.default_rng(seed).choice(n_items, _share_count(share, n_items), replace=False)
    return without_items(split, held)


def hold_out_newest(split: Split, interactions: Interactions, share: float) -> Split:
    """``split`` without the training rows of the ``share`` of items whose first interaction in
    ``interactions`` (the whole dataset's) is latest: a temporal cut on items, users' earlier
    histories kept (a global cut leaves many test users with no history to read)."""
    n_items = split.train.n_items
    n_held = _share_count(share, n_items)
    if len(np.unique(interactions.timestamp)) < 2:
        raise ValueError("holding out the newest items needs real timestamps; these interactions have one")
    first = np.full(n_items, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, interactions.item, interactions.timestamp.astype(np.int64))
    order = np.argsort(-first, kind="stable")  # items never interacted with sort first: they are new too
    held = order[:n_held]
    return without_items(split, held, {"first seen at or after (unix time)": int(first[held].min())})


__all__ = [
    "HISTORY_BUCKETS",
    "Split",
    "hold_out_items",
    "hold_out_newest",
    "leave_one_out",
    "temporal_split",
    "without_items",
]
