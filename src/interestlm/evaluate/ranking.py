"""Full-ranking evaluation: score every catalog item, remove seen items, take the top K.

Never sampled negatives. Users are processed in batches; each batch is one dense
``(batch, n_items)`` score matrix, masked with ``-inf`` where the task excludes items.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from tqdm.auto import tqdm

from interestlm.data.tables import IntArray
from interestlm.evaluate.metrics import ranking_metrics
from interestlm.evaluate.protocol import EvalTask, Model, TimedModel


def top_k(scores: npt.NDArray[np.floating], k: int) -> IntArray:
    """Indices of the ``k`` highest scores per row, best first; ties broken by lower index.

    ``-inf`` (masked) and NaN scores are never returned: their slots hold ``-1``.
    """
    scores = np.where(np.isnan(scores), -np.inf, scores)
    n, n_items = scores.shape
    k_eff = min(k, n_items)
    if k_eff == 0:
        return np.full((n, k), -1, dtype=np.int32)
    # Exact and linear: everything above the k-th largest value, then the lowest-index items
    # equal to it (argpartition alone resolves ties at the boundary arbitrarily).
    kth = np.partition(scores, n_items - k_eff, axis=1)[:, n_items - k_eff][:, None]
    above = scores > kth
    equal = scores == kth
    room = k_eff - above.sum(axis=1, keepdims=True)
    chosen = above | (equal & (np.cumsum(equal, axis=1) <= room))
    cols = np.nonzero(chosen)[1].reshape(n, k_eff)
    chosen_scores = np.take_along_axis(scores, cols, axis=1)
    order = np.lexsort((cols, -chosen_scores), axis=1)
    result = np.take_along_axis(cols, order, axis=1).astype(np.int32)
    result[np.isneginf(np.take_along_axis(chosen_scores, order, axis=1))] = -1
    if k_eff < k:
        result = np.pad(result, ((0, 0), (0, k - k_eff)), constant_values=-1)
    return result


def rank_task(
    model: Model,
    task: EvalTask,
    k: int,
    *,
    batch_size: int = 512,
    progress: bool = False,
) -> IntArray:
    """Top-``k`` item indices for every row of ``task``, seen items removed.

    A :class:`TimedModel` is scored at the task's ``times`` when the task has them.
    """
    out = np.empty((len(task), k), dtype=np.int32)
    starts = range(0, len(task), batch_size)
    timed = task.times is not None and isinstance(model, TimedModel)
    for start in tqdm(starts, desc=f"rank {task.name}", disable=not progress, leave=False):
        stop = min(start + batch_size, len(task))
        users, histories = task.users[start:stop], task.histories[start:stop]
        if timed:
            assert task.times is not None and isinstance(model, TimedModel)
            raw = model.score_at(users, histories, task.times[start:stop])
        else:
            raw = model.score(users, histories)
        scores = np.array(raw, dtype=np.float32, copy=True)
        excl = task.exclude[start:stop].tocoo()
        scores[excl.row, excl.col] = -np.inf
        out[start:stop] = top_k(scores, k)
    return out


def evaluate_task(
    model: Model,
    task: EvalTask,
    ks: Sequence[int] = (5, 10, 20),
    *,
    batch_size: int = 512,
    progress: bool = False,
) -> dict[str, float]:
    """Mean ranking metrics of ``model`` on ``task`` at every k in ``ks``."""
    topk = rank_task(model, task, max(ks), batch_size=batch_size, progress=progress)
    return ranking_metrics(topk, task.targets, ks)
