"""k-core: the result satisfies the thresholds and is the maximal such subset of rows."""

from __future__ import annotations

from itertools import combinations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from interestlm.data import Catalog, Dataset, Interactions, kcore


def make(pairs: list[tuple[int, int]], n_users: int, n_items: int) -> Dataset:
    users = [p[0] for p in pairs]
    items = [p[1] for p in pairs]
    inter = Interactions.build(
        user=np.asarray(users, dtype=np.int32), item=np.asarray(items, dtype=np.int32),
        user_ids=[f"u{i}" for i in range(n_users)], timestamp=np.arange(len(pairs)),
    )
    return Dataset(name="t", catalog=Catalog.build([f"i{i}" for i in range(n_items)]), interactions=inter)


def satisfies(rows: list[tuple[int, int]], user_k: int, item_k: int) -> bool:
    users = np.bincount([r[0] for r in rows]) if rows else np.zeros(0)
    items = np.bincount([r[1] for r in rows]) if rows else np.zeros(0)
    return bool(np.all(users[users > 0] >= user_k) and np.all(items[items > 0] >= item_k))


def naive_kcore(pairs: list[tuple[int, int]], user_k: int, item_k: int) -> list[int]:
    """Peel one offending row at a time (the textbook definition), returning kept row indices."""
    alive = list(range(len(pairs)))
    changed = True
    while changed:
        changed = False
        for idx in alive:
            u, i = pairs[idx]
            if sum(pairs[j][0] == u for j in alive) < user_k or sum(pairs[j][1] == i for j in alive) < item_k:
                alive.remove(idx)
                changed = True
                break
    return alive


pairs_strategy = st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), max_size=40)


@settings(max_examples=150, deadline=None)
@given(pairs=pairs_strategy, user_k=st.integers(0, 4), item_k=st.integers(0, 4))
def test_kcore_matches_naive_reference(pairs: list[tuple[int, int]], user_k: int, item_k: int) -> None:
    ds = make(pairs, 6, 6)
    out = kcore(ds, user_k=user_k, item_k=item_k)
    kept_rows = out.interactions.timestamp.tolist()  # timestamps are the original row indices
    assert kept_rows == naive_kcore(pairs, user_k, item_k)
    assert satisfies([pairs[r] for r in kept_rows], user_k, item_k)
    assert out.n_items == 6 and out.n_users == 6  # indices unchanged
    assert out.report.notes.get(f"rows removed by {user_k}/{item_k}-core (users/items)", 0) == len(pairs) - len(
        kept_rows
    )


@settings(max_examples=60, deadline=None)
@given(pairs=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), max_size=9),
       user_k=st.integers(1, 3), item_k=st.integers(1, 3))
def test_kcore_is_the_maximal_valid_subset(pairs: list[tuple[int, int]], user_k: int, item_k: int) -> None:
    kept_rows = set(kcore(make(pairs, 4, 4), user_k=user_k, item_k=item_k).interactions.timestamp.tolist())
    # Every subset of rows that satisfies the thresholds lies inside the k-core.
    for size in range(len(pairs) + 1):
        for subset in combinations(range(len(pairs)), size):
            if satisfies([pairs[r] for r in subset], user_k, item_k):
                assert set(subset) <= kept_rows


def test_kcore_cascade_and_compact() -> None:
    # u2's single row goes (user_k=2); then item 2 has one row left and goes; then u1 has one left.
    pairs = [(0, 0), (0, 1), (1, 0), (1, 2), (2, 2), (3, 0), (3, 1)]
    ds = make(pairs, 4, 3)
    out = kcore(ds, user_k=2, item_k=2)
    assert out.interactions.timestamp.tolist() == [0, 1, 5, 6]
    assert out.report.notes["rows removed by 2/2-core (users/items)"] == 3
    assert ds.report.notes == {}  # the input's report is not modified
    small = kcore(ds, user_k=2, item_k=2, compact=True)
    assert small.n_items == 2 and small.n_users == 2
    assert small.catalog.item_ids.tolist() == ["i0", "i1"]
    assert small.interactions.user_ids.tolist() == ["u0", "u3"]
