"""Leave-one-out and temporal splits: planted cases, properties on generated logs, real data."""

from __future__ import annotations

import time
from collections import Counter, defaultdict

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interestlm.core.protocol import EvalTask
from interestlm.core.tables import Catalog, Dataset, Interactions
from interestlm.evaluate.split import (
    HISTORY_BUCKETS,
    Split,
    hold_out_items,
    hold_out_newest,
    leave_one_out,
    temporal_split,
)
from interestlm.testing import shared_data

Row = tuple[int, int, int]  # (user, item, timestamp)


def make_dataset(rows: list[Row], n_users: int, n_items: int, *, has_time: bool = True) -> Dataset:
    user = [r[0] for r in rows]
    item = [r[1] for r in rows]
    ts = [r[2] for r in rows]
    inter = Interactions.build(user=user, item=item, timestamp=ts, user_ids=[f"u{u}" for u in range(n_users)])
    catalog = Catalog.build([f"i{i}" for i in range(n_items)])
    return Dataset(name="gen", catalog=catalog, interactions=inter, has_time=has_time)


@st.composite
def logs(draw: st.DrawFn, max_rows: int = 30) -> tuple[list[Row], int, int]:
    n_users = draw(st.integers(1, 6))
    n_items = draw(st.integers(1, 7))
    # A narrow time range makes ties (within and across users) common.
    row = st.tuples(st.integers(0, n_users - 1), st.integers(0, n_items - 1), st.integers(0, 4))
    rows = draw(st.lists(row, max_size=max_rows))
    return rows, n_users, n_items


def time_sorted_rows(rows: list[Row]) -> dict[int, list[int]]:
    """Reference order: per user, row indices sorted by (timestamp, file position)."""
    per_user: dict[int, list[int]] = defaultdict(list)
    for idx in sorted(range(len(rows)), key=lambda r: (rows[r][2], r)):
        per_user[rows[idx][0]].append(idx)
    return per_user


def train_rows(split: Split) -> Counter[Row]:
    inter = split.train.interactions
    return Counter(zip(inter.user.tolist(), inter.item.tolist(), inter.timestamp.tolist(), strict=True))


def task_table(task: EvalTask) -> dict[int, tuple[list[int], list[int], set[int]]]:
    """user -> (history, sorted targets, excluded items)."""
    out = {}
    for j, u in enumerate(task.users.tolist()):
        excluded = set(task.exclude[j].indices.tolist())
        out[u] = (task.histories[j].tolist(), sorted(task.targets[j].tolist()), excluded)
    return out


def check_task_shape(task: EvalTask) -> None:
    assert task.users.dtype == np.int32
    assert np.all(np.diff(task.users) > 0), "rows must be ordered by user index, one per user"
    assert all(t.dtype == np.int32 and len(t) >= 1 for t in task.targets)
    assert all(h.dtype == np.int32 for h in task.histories)
    assert set(np.unique(task.exclude.data).tolist()) <= {1.0}


# --- leave-one-out ---------------------------------------------------------------------------


def test_loo_planted_ties_follow_file_order() -> None:
    # u0 has three rows tied at t=5 (file order a, b, c) after an earlier row d at t=1.
    rows = [(0, 0, 5), (1, 4, 1), (0, 1, 5), (0, 2, 5), (0, 3, 1), (1, 5, 2), (2, 6, 9)]
    split = leave_one_out(make_dataset(rows, 4, 7))
    assert split.name == "loo"
    assert split.valid is not None
    test, valid = task_table(split.test), task_table(split.valid)
    assert test[0] == ([3, 0, 1], [2], {3, 0, 1})
    assert valid[0] == ([3, 0], [1], {3, 0})
    assert test[1] == ([4], [5], {4})  # two rows: train + test, no validation row
    assert 1 not in valid
    assert 2 not in test and 2 not in valid  # one row: training only
    assert 3 not in test  # user without rows
    assert train_rows(split) == Counter([(0, 3, 1), (0, 0, 5), (1, 4, 1), (2, 6, 9)])
    assert split.test_rows.tolist() == [3, 5] and split.valid_rows.tolist() == [2]
    assert split.notes["users with 2 rows (no validation row)"] == 1
    assert split.notes["users with 1 row (train only)"] == 1


def test_rows_are_asked_for_at_their_held_out_events_time() -> None:
    rows = [(0, 0, 5), (1, 4, 1), (0, 1, 7), (0, 2, 9), (0, 3, 1), (1, 5, 2), (2, 6, 9)]
    split = leave_one_out(make_dataset(rows, 4, 7))
    assert split.valid is not None
    # Under leave-one-out: the time of the row's own target (user 0: valid at 7, test at 9).
    assert split.test.times is not None and split.test.times.tolist() == [9.0, 2.0]
    assert split.valid.times is not None and split.valid.times.tolist() == [7.0]
    # Slices keep their rows' times.
    assert split.slices()["cold_items"].times.tolist() == [9.0, 2.0]  # type: ignore[union-attr]
    # Sequence positions are no clock: no times.
    assert leave_one_out(make_dataset(rows, 4, 7, has_time=False)).test.times is None
    # Under a temporal cut every row is asked for at its window's start.
    temporal = temporal_split(make_dataset(rows, 4, 7), at=7, valid_fraction=0.0)
    assert temporal.test.times is not None and set(temporal.test.times.tolist()) == {7.0}


def test_loo_counts_unreachable_repeat_targets() -> None:
    rows = [(0, 1, 1), (0, 2, 2), (0, 1, 3)]  # the test item was already consumed
    split = leave_one_out(make_dataset(rows, 1, 3))
    assert split.notes["test targets already in history (unreachable)"] == 1
    assert split.notes["valid targets already in history (unreachable)"] == 0


def test_loo_works_on_positions_without_time() -> None:
    rows = [(0, 0, 0), (0, 1, 1), (0, 2, 2)]
    split = leave_one_out(make_dataset(rows, 1, 3, has_time=False))
    assert split.test.targets[0].tolist() == [2]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(logs())
def test_loo_properties(log: tuple[list[Row], int, int]) -> None:
    rows, n_users, n_items = log
    split = leave_one_out(make_dataset(rows, n_users, n_items))
    valid_rows, test_rows = split.valid_rows.tolist(), split.test_rows.tolist()
    # Disjoint row sets whose union is the input, as a multiset of rows.
    assert not set(valid_rows) & set(test_rows)
    rest = [rows[r] for r in range(len(rows)) if r not in set(valid_rows) | set(test_rows)]
    assert train_rows(split) == Counter(rest)
    assert train_rows(split) + Counter(rows[r] for r in valid_rows) + Counter(rows[r] for r in test_rows) == Counter(
        rows
    )
    check_task_shape(split.test)
    test = task_table(split.test)
    valid = task_table(split.valid) if split.valid is not None else {}
    if split.valid is not None:
        check_task_shape(split.valid)
    ordered = time_sorted_rows(rows)
    for u in range(n_users):
        seq = ordered.get(u, [])
        items = [rows[r][1] for r in seq]
        times = [rows[r][2] for r in seq]
        if len(seq) >= 2:
            assert test[u] == (items[:-1], [items[-1]], set(items[:-1]))
            assert seq[-1] in test_rows
            assert times[-1] >= max(times[:-1])
        else:
            assert u not in test
        if len(seq) >= 3:
            assert valid[u] == (items[:-2], [items[-2]], set(items[:-2]))
            assert seq[-2] in valid_rows
            assert times[-1] >= times[-2] >= max(times[:-2])
        else:
            assert u not in valid


# --- temporal ----------------------------------------------------------------------------------


def test_temporal_planted() -> None:
    rows = [
        (0, 0, 1), (0, 1, 2), (0, 2, 6), (0, 0, 7),  # u0: item 0 again after the cut -> removed
        (1, 3, 3), (1, 4, 5),                        # u1: validation window row at t=5
        (2, 5, 8), (2, 5, 9),                        # u2: new user, repeated item -> one target
        (3, 1, 1),                                   # u3: only past rows, not a test user
        (4, 0, 6),                                   # u4: new user, item known from u0
    ]  # fmt: skip
    split = temporal_split(make_dataset(rows, 5, 7), at=6, valid_fraction=0.2)
    # 5 rows before t=6; the validation cut leaves round(0.2 * 5) = 1 row (t=5) at/after it.
    assert split.notes["cut at"] == 6 and split.notes["valid cut at"] == 5
    assert train_rows(split) == Counter([(0, 0, 1), (0, 1, 2), (1, 3, 3), (3, 1, 1)])
    test = task_table(split.test)
    # u0's history includes nothing from u1's validation window; u1 has no rows after the cut.
    assert test == {0: ([0, 1], [2], {0, 1}), 2: ([], [5], set()), 4: ([], [0], set())}
    assert split.notes["test targets removed (already in history)"] == 1
    assert split.notes["test targets (distinct user-item pairs)"] == 3
    assert split.notes["test window rows"] == 5
    assert split.valid is not None
    assert task_table(split.valid) == {1: ([3], [4], {3})}
    slices = split.slices()
    assert slices["cold_users"].users.tolist() == [2, 4]
    assert slices["warm_users"].users.tolist() == [0]
    # Items 2 and 5 have no training rows; item 0 has.
    assert task_table(slices["cold_items"]) == {0: ([0, 1], [2], {0, 1}), 2: ([], [5], set())}
    assert task_table(slices["warm_items"]) == {4: ([], [0], set())}
    # The new-arrivals shelf: the same rows, with every warm item (0, 1, 3) also excluded.
    assert task_table(slices["cold_items_only"]) == {0: ([0, 1], [2], {0, 1, 3}), 2: ([], [5], {0, 1, 3})}
    assert slices["hist_0"].users.tolist() == [2, 4]
    assert slices["hist_1-4"].users.tolist() == [0]
    assert all(task.name.startswith("test/") for task in slices.values())


def test_temporal_default_cut_is_the_test_quantile() -> None:
    rows = [(u % 3, u % 5, t) for u, t in enumerate([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])]
    split = temporal_split(make_dataset(rows, 3, 5), test_fraction=0.3, valid_fraction=0.0)
    assert split.notes["cut at"] == 7
    assert split.valid is None
    assert sorted(split.test_rows.tolist()) == [7, 8, 9]
    assert len(split.train.interactions) == 7  # valid_fraction=0: every row before the cut


def test_temporal_refuses_sequences_without_time() -> None:
    with pytest.raises(ValueError, match="no timestamps"):
        temporal_split(make_dataset([(0, 0, 0), (0, 1, 1)], 1, 2, has_time=False))


def test_temporal_refuses_empty_periods() -> None:
    ds = make_dataset([(0, 0, 3), (0, 1, 3), (1, 1, 4)], 2, 2)
    with pytest.raises(ValueError, match="empty train"):
        temporal_split(ds, at=3)
    with pytest.raises(ValueError, match="empty test"):
        temporal_split(ds, at=5)
    with pytest.raises(ValueError, match="test_fraction"):
        temporal_split(ds, test_fraction=1.0)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(logs(), st.integers(0, 5), st.sampled_from([0.0, 0.1, 0.3, 0.5]))
def test_temporal_properties(log: tuple[list[Row], int, int], at: int, valid_fraction: float) -> None:
    rows, n_users, n_items = log
    ds = make_dataset(rows, n_users, n_items)
    times = sorted(r[2] for r in rows)
    past_times = [t for t in times if t < at]
    valid_at = at
    if valid_fraction > 0 and past_times:
        valid_at = past_times[len(past_times) - max(1, round(valid_fraction * len(past_times)))]
    if not past_times or len(past_times) == len(rows) or not any(t < valid_at for t in times):
        with pytest.raises(ValueError):
            temporal_split(ds, at=at, valid_fraction=valid_fraction)
        return
    split = temporal_split(ds, at=at, valid_fraction=valid_fraction)
    assert split.name == "temporal"
    train = train_rows(split)
    assert all(t < valid_at for _, _, t in train)
    assert all(rows[r][2] >= at for r in split.test_rows.tolist())
    assert all(valid_at <= rows[r][2] < at for r in split.valid_rows.tolist())
    # train + validation window + test window are the input rows, each once.
    everything = train + Counter(rows[r] for r in split.valid_rows) + Counter(rows[r] for r in split.test_rows)
    assert everything == Counter(rows)

    ordered = time_sorted_rows(rows)
    expected: dict[int, tuple[list[int], list[int], set[int]]] = {}
    removed = 0
    for u in range(n_users):
        before = [rows[r][1] for r in ordered.get(u, []) if rows[r][2] < at]
        after = {rows[r][1] for r in ordered.get(u, []) if rows[r][2] >= at}
        removed += len(after & set(before))
        if after - set(before):
            expected[u] = (before, sorted(after - set(before)), set(before))
    check_task_shape(split.test)
    assert task_table(split.test) == expected
    assert split.notes["test targets removed (already in history)"] == removed

    train_users = {u for u, _, _ in train}
    train_items = {i for _, i, _ in train}
    slices = split.slices()
    assert set(slices["cold_users"].users.tolist()) == set(expected) - train_users
    assert set(slices["warm_users"].users.tolist()) == set(expected) & train_users
    cold_items = task_table(slices["cold_items"])
    warm_items = task_table(slices["warm_items"])
    for u, (history, targets, _) in expected.items():
        cold = [i for i in targets if i not in train_items]
        warm = [i for i in targets if i in train_items]
        assert cold_items.get(u, (history, [], None))[1] == cold
        assert warm_items.get(u, (history, [], None))[1] == warm
    bucketed = sorted(u for name, _, _ in HISTORY_BUCKETS for u in slices[name].users.tolist())
    assert bucketed == sorted(expected)


@settings(max_examples=60, deadline=None)
@given(logs())
def test_loo_slices_partition_the_test_task(log: tuple[list[Row], int, int]) -> None:
    rows, n_users, n_items = log
    split = leave_one_out(make_dataset(rows, n_users, n_items))
    slices = split.slices()
    trained = set(split.train.interactions.item.tolist())
    assert len(slices["cold_users"]) == 0  # every leave-one-out test user has training rows
    assert len(slices["warm_users"]) == len(split.test)
    for j, u in enumerate(split.test.users.tolist()):
        target = int(split.test.targets[j][0])
        name = "warm_items" if target in trained else "cold_items"
        assert u in slices[name].users.tolist()
        other = "cold_items" if name == "warm_items" else "warm_items"
        assert u not in slices[other].users.tolist()
    assert sum(len(slices[name]) for name, _, _ in HISTORY_BUCKETS) == len(split.test)


def test_newest_items_leave_training_and_stay_as_targets() -> None:
    # Item 3 first appears last (t=9), item 2 next (t=7); items 0 and 1 are old.
    rows = [(0, 0, 1), (0, 1, 2), (0, 2, 7), (0, 3, 9), (1, 1, 1), (1, 0, 3), (1, 2, 8), (1, 3, 10)]
    data = make_dataset(rows, 2, 4)
    loo = leave_one_out(data)
    split = hold_out_newest(loo, data.interactions, 0.25)
    # Item 3 is only ever a test target, so holding it out leaves the training rows as they were.
    assert 3 not in split.train.interactions.item.tolist()
    assert sorted(split.train.interactions.item.tolist()) == sorted(loo.train.interactions.item.tolist())
    assert split.notes["held-out items"] == 1 and split.notes["first seen at or after (unix time)"] == 9
    assert split.test is loo.test and split.valid is loo.valid
    two = hold_out_newest(loo, data.interactions, 0.5)
    assert set(two.train.interactions.item.tolist()) == {0, 1}
    with pytest.raises(ValueError, match="real timestamps"):
        hold_out_newest(loo, make_dataset([(0, 0, 1), (0, 1, 1)], 1, 2).interactions, 0.5)


def test_random_items_are_held_out_of_training_only() -> None:
    # Each user's sequence is a rotation of the catalog, so every item is somebody's training item.
    rows = [(u, (u + t) % 10, t) for u in range(6) for t in range(10)]
    loo = leave_one_out(make_dataset(rows, 6, 10))
    assert set(loo.train.interactions.item.tolist()) == set(range(10))
    split = hold_out_items(loo, 0.3, seed=1)
    kept = set(split.train.interactions.item.tolist())
    assert split.notes["held-out items"] == 3 and len(kept) == 7
    assert split.test is loo.test and split.train.catalog is loo.train.catalog
    assert split.train.interactions.item.tolist() == [i for i in loo.train.interactions.item.tolist() if i in kept]
    with pytest.raises(ValueError, match="share"):
        hold_out_items(loo, 1.0, seed=0)


# --- real data ---------------------------------------------------------------------------------


@pytest.mark.integration
def test_loo_on_beauty_is_fast_and_matches_the_files_convention() -> None:
    path = shared_data("amazon-s3rec") / "Beauty.txt"
    users: list[int] = []
    items: list[int] = []
    positions: list[int] = []
    last: list[int] = []
    second_last: list[int] = []
    with path.open(encoding="utf-8") as fh:
        for u, line in enumerate(fh):
            seq = [int(x) - 1 for x in line.split()[1:]]
            users += [u] * len(seq)
            items += seq
            positions += range(len(seq))
            last.append(seq[-1])
            second_last.append(seq[-2])
    n_users, n_items = len(last), max(items) + 1
    inter = Interactions.build(user=users, item=items, timestamp=positions, user_ids=[str(u) for u in range(n_users)])
    catalog = Catalog.build([str(i) for i in range(n_items)])
    ds = Dataset(name="Beauty", catalog=catalog, interactions=inter, has_time=False)
    start = time.perf_counter()
    split = leave_one_out(ds)
    seconds = time.perf_counter() - start
    assert seconds < 2.0, f"leave_one_out took {seconds:.2f} s on Beauty"
    assert (n_users, len(items)) == (22_363, 198_502)
    assert len(split.test) == n_users and split.valid is not None and len(split.valid) == n_users
    assert len(split.train.interactions) == 198_502 - 2 * n_users
    assert np.concatenate(split.test.targets).tolist() == last
    assert np.concatenate(split.valid.targets).tolist() == second_last
    slices = split.slices()
    assert len(slices["warm_users"]) == n_users
    assert len(slices["cold_items"]) + len(slices["warm_items"]) == n_users


@pytest.mark.integration
def test_temporal_on_movielens_small() -> None:
    path = shared_data("ml-latest-small") / "ratings.csv"
    data = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64)
    user_codes, user = np.unique(data[:, 0].astype(np.int64), return_inverse=True)
    item_codes, item = np.unique(data[:, 1].astype(np.int64), return_inverse=True)
    inter = Interactions.build(
        user=user, item=item, timestamp=data[:, 3].astype(np.int64), user_ids=[str(u) for u in user_codes]
    )
    ds = Dataset(name="ml-latest-small", catalog=Catalog.build([str(i) for i in item_codes]), interactions=inter)
    start = time.perf_counter()
    split = temporal_split(ds)
    seconds = time.perf_counter() - start
    assert seconds < 2.0
    at = split.notes["cut at"]
    assert (inter.timestamp[split.test_rows] >= at).all()
    assert (split.train.interactions.timestamp < split.notes["valid cut at"]).all()
    share = len(split.test_rows) / len(inter)
    assert abs(share - 0.2) < 0.01
    assert len(split.train.interactions) + len(split.valid_rows) + len(split.test_rows) == len(inter)
    slices = split.slices()
    assert len(slices["cold_users"]) + len(slices["warm_users"]) == len(split.test)
    assert len(slices["cold_users"]) > 0  # MovieLens keeps gaining users over time
