"""k-core filtering: the largest subset of rows in which every user and every item is frequent."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from interestlm.core.errors import LoadReport
from interestlm.core.tables import Dataset


def kcore(dataset: Dataset, *, user_k: int, item_k: int, compact: bool = False) -> Dataset:
    """Keep the maximal set of rows where each user has >= ``user_k`` rows and each item >= ``item_k``.

    Counts are rows (a repeated user-item pair counts each time). Removing rows can push others
    below the threshold, so the filter repeats until nothing changes; the fixed point is the
    unique maximal subset. Removed rows are counted in the report's notes. Item indices and the
    catalog stay as they are unless ``compact`` is true (then users and items without rows are
    dropped and both are re-indexed, see :meth:`Dataset.compact`).
    """
    if user_k < 0 or item_k < 0:
        raise ValueError(f"user_k and item_k must be >= 0, got {user_k} and {item_k}")
    inter = dataset.interactions
    user, item = inter.user, inter.item
    keep = np.ones(len(inter), dtype=bool)
    while True:
        user_count = np.bincount(user[keep], minlength=dataset.n_users)
        item_count = np.bincount(item[keep], minlength=dataset.n_items)
        ok = keep & (user_count[user] >= user_k) & (item_count[item] >= item_k)
        if np.array_equal(ok, keep):
            break
        keep = ok
    removed = int(len(keep) - keep.sum())
    report = LoadReport()
    report.merge(dataset.report)
    report.note(f"rows removed by {user_k}/{item_k}-core (users/items)", removed)
    out = replace(dataset, interactions=inter.select(keep), report=report)
    return out.compact() if compact else out
