"""Most-popular baseline: every user gets the catalog ordered by training interaction count."""

from __future__ import annotations

from typing import Self

import numpy as np

from interestlm.core.protocol import EvalTask, TrainData
from interestlm.core.types import FloatArray, IntArray


class MostPopular:
    """Scores each item by how many training interactions it has (the same list for everyone).

    Equal counts get equal scores, so the evaluator's tie rule (lower index first) decides.
    Histories are ignored on purpose: this is the non-personalised reference point.
    """

    def fit(self, train: TrainData, *, valid: EvalTask | None = None) -> Self:
        """Count training interactions per catalog item (``valid`` is not used)."""
        counts = np.bincount(train.interactions.item, minlength=train.n_items)
        self.counts_: FloatArray = counts.astype(np.float32)
        return self

    def score(self, users: IntArray, histories: list[IntArray]) -> FloatArray:
        """The count vector repeated for each of ``users``: shape ``(len(users), n_items)``."""
        if not hasattr(self, "counts_"):
            raise RuntimeError("MostPopular.score called before fit")
        return np.tile(self.counts_, (len(users), 1))
