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
from interestlm.evaluate.protocol import EvalTask, Model


def top_k(scores: npt.NDArray[np.floating], k: int) -> IntArray:
    """Indices of the ``k`` highest scores per row, best first; ties broken by lower index.

    Entries that are ``-inf`` are never returned as hits: their slots hold ``-1``.
    """
    n, n_items = scores.shape
    k_eff = min(k, n_items)
    # argpartition then a stable sort on (-score, index) keeps results exactly reproducible.
    part = np.argpartition(-scores, k_eff - 1, axis=1)[:, :k_eff] if k_eff < n_items else np.tile(
        np.arange(n_items), (n, 1)
    )
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -part_scores), axis=1)
    result = np.take_along_axis(part, order, axis=1).astype(np.int32)
    result_scores = np.take_along_axis(part_scores, order, axis=1)
    result[np.isneginf(result_scores)] = -1
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
    """Top-``k`` item indices for every row of ``task``, seen items removed."""
    out = np.empty((len(task), k), dtype=np.int32)
    starts = range(0, len(task), batch_size)
    for start in tqdm(starts, desc=f"rank {task.name}", disable=not progress, leave=False):
        stop = min(start + batch_size, len(task))
        scores = np.array(
            model.score(task.users[start:stop], task.histories[start:stop]), dtype=np.float32, copy=True
        )
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
