"""Concepts of items added after fitting, matched against the fitted vocabulary by name."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from interestlm.core.names import NameIndex, normalise_name
from interestlm.core.schema import ItemConcepts
from interestlm.core.tables import Catalog

#: Weight of a vocabulary concept found in a new item's title or description (fields weigh 1).
TEXT_MATCH_WEIGHT = 0.6


def concept_rows_for(item_concepts: ItemConcepts, catalog: Catalog, rows: Sequence[int]) -> tuple[sp.csr_matrix, int]:
    """Concept rows for catalogue ``rows`` from the fitted vocabulary, and how many field names it lacked.

    Categories, tags and brand match a concept in any spelling (:class:`NameIndex`); known concept
    names of more than three letters found as whole words in the title or description count at
    :data:`TEXT_MATCH_WEIGHT`. The vocabulary itself grows at the next ``fit``.
    """
    index = NameIndex(item_concepts.names)
    words_of = {name: c for c, name in enumerate(item_concepts.names) if len(name) > 3}
    data: list[float] = []
    cols: list[int] = []
    indptr = [0]
    unmatched = 0
    for i in rows:
        found: dict[int, float] = {}
        for name in (*catalog.categories[i], *catalog.tags[i], catalog.brands[i]):
            c = index.get(name) if name else None
            if c is None:
                unmatched += bool(name)
                continue
            found[c] = 1.0
        words = f" {normalise_name(catalog.titles[i] + ' ' + catalog.descriptions[i])} "
        for name, c in words_of.items():
            if c not in found and f" {name} " in words:
                found[c] = TEXT_MATCH_WEIGHT
        cols.extend(found)
        data.extend(found.values())
        indptr.append(len(cols))
    matrix = sp.csr_matrix(
        (np.asarray(data, np.float32), np.asarray(cols, np.int32), np.asarray(indptr, np.int64)),
        shape=(len(rows), item_concepts.n_concepts),
    )
    return matrix, unmatched
