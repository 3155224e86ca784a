"""Inverted index from concepts to the items that carry them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import scipy.sparse as sp

from interestlm.core.names import normalise_name
from interestlm.core.schema import ItemConcepts
from interestlm.core.types import FloatArray, IntArray


class ConceptIndex:
    """Items by concept: ``search({concept: weight}, k)`` ranks items by ``sum_c weight_c * matrix[i, c]``.

    Only items sharing at least one queried concept with a positive total are returned, so a
    user's negative concept weights push items down but never pull unrelated items in.
    """

    def __init__(self, item_concepts: ItemConcepts) -> None:
        self.names = list(item_concepts.names)
        self.index_of_ = item_concepts.index_of()
        self.by_concept_: sp.csc_matrix = sp.csc_matrix(item_concepts.matrix, dtype=np.float32)

    @property
    def n_items(self) -> int:
        """Number of indexed items."""
        return int(self.by_concept_.shape[0])

    def __len__(self) -> int:
        return self.n_items

    def items_of(self, concept: int) -> IntArray:
        """Items carrying ``concept`` (ascending)."""
        self._check_concepts([concept])
        lo, hi = self.by_concept_.indptr[concept], self.by_concept_.indptr[concept + 1]
        return np.sort(self.by_concept_.indices[lo:hi]).astype(np.int32)

    def _check_concepts(self, concepts: Iterable[int]) -> None:
        bad = [c for c in concepts if not 0 <= c < len(self.names)]
        if bad:
            raise ValueError(f"concept indices {bad[:5]} are out of range [0, {len(self.names)})")

    def search(
        self, concept_weights: Mapping[int, float], k: int, *, exclude: Iterable[int] | None = None
    ) -> tuple[FloatArray, IntArray]:
        """Up to ``k`` ``(scores, items)``, best first (ties: lower index), ``exclude`` left out."""
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        concepts = [int(c) for c in concept_weights]
        self._check_concepts(concepts)
        if not concepts:
            return np.zeros(0, np.float32), np.zeros(0, np.int32)
        weights = np.fromiter((concept_weights[c] for c in concepts), dtype=np.float32, count=len(concepts))
        if not np.isfinite(weights).all():
            raise ValueError("concept weights must be finite")
        scores = np.asarray(self.by_concept_[:, concepts] @ weights, dtype=np.float32).ravel()
        if exclude is not None:
            excl = np.fromiter(exclude, dtype=np.int64)
            scores[excl[(excl >= 0) & (excl < len(scores))]] = 0.0
        hits = np.flatnonzero(scores > 0)
        order = np.lexsort((hits, -scores[hits]))[:k]
        items = hits[order].astype(np.int32)
        return scores[items], items

    def search_names(
        self, concept_weights: Mapping[str, float], k: int, *, exclude: Iterable[int] | None = None
    ) -> tuple[FloatArray, IntArray]:
        """:meth:`search` with concepts by name; names the catalogue does not use are ignored."""
        by_index: dict[int, float] = {}
        for name, weight in concept_weights.items():
            c = self.index_of_.get(normalise_name(name))
            if c is not None:
                by_index[c] = by_index.get(c, 0.0) + float(weight)
        if not by_index:
            return np.zeros(0, np.float32), np.zeros(0, np.int32)
        return self.search(by_index, k, exclude=exclude)

    def add(self, matrix: sp.spmatrix) -> IntArray:
        """Append the concept rows of new items (``(n_new, n_concepts)``); returns their indices."""
        rows = sp.csc_matrix(matrix, dtype=np.float32)
        if rows.shape[1] != len(self.names):
            raise ValueError(f"added concept rows have {rows.shape[1]} columns, expected {len(self.names)}")
        start = self.n_items
        self.by_concept_ = sp.vstack([self.by_concept_, rows], format="csc")
        return np.arange(start, start + rows.shape[0], dtype=np.int32)
