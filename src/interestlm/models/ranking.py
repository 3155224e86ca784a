"""Full-ranking evaluation: score every catalog item, remove seen items, take the top K.

Never sampled negatives. Users are processed in batches; each batch is one dense
``(batch, n_items)`` score matrix, masked with ``-inf`` where the task excludes items.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from interestlm.core.metrics import ranking_metrics
from interestlm.core.progress import bar
from interestlm.core.protocol import EvalTask, Model, TimedModel
from interestlm.core.topk import top_k
from interestlm.core.types import IntArray


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
    for start in bar(starts, desc=f"rank {task.name}", unit="batch", asked=progress):
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
