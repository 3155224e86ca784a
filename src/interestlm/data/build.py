"""Assemble a :class:`Dataset` from string-keyed columns, the common last step of every reader."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from interestlm.core.errors import LoadReport
from interestlm.core.tables import KIND_CODE, Catalog, Dataset, Interactions


def assemble(
    *,
    name: str,
    user_ids: Sequence[str],
    item_ids: Sequence[str],
    catalog: Catalog | None = None,
    timestamp: npt.ArrayLike | None = None,
    rating: npt.ArrayLike | None = None,
    weight: npt.ArrayLike | None = None,
    kind: str | Sequence[str] = "interaction",
    review: Sequence[str] | None = None,
    has_time: bool = True,
    report: LoadReport | None = None,
) -> Dataset:
    """Index string user/item ids (in order of first appearance) and build the dataset.

    Items that occur in interactions but not in ``catalog`` are appended with empty text and
    counted in the report as ``items without metadata``.
    """
    report = report if report is not None else LoadReport()
    if catalog is None:
        catalog = Catalog.build([])
    # pandas hashes in C: these two lookups dominate the load time of large logs otherwise.
    items = pd.Index(catalog.item_ids, dtype=object).get_indexer(pd.Index(list(item_ids), dtype=object))
    item_col = np.asarray(items, dtype=np.int32)
    missing = item_col < 0
    if missing.any():
        codes, extra = pd.factorize(np.asarray(list(item_ids), dtype=object)[missing])
        item_col[missing] = len(catalog) + codes.astype(np.int32)
        report.note("items without metadata", len(extra))
        catalog = _append_items(catalog, [str(i) for i in extra])
    user_codes, user_uniques = pd.factorize(np.asarray(list(user_ids), dtype=object))
    user_col = user_codes.astype(np.int32)
    user_index = [str(u) for u in user_uniques]
    if isinstance(kind, str):
        kind_col = np.full(len(user_col), KIND_CODE[kind], dtype=np.int8)
    else:
        kind_col = np.asarray([KIND_CODE[k] for k in kind], dtype=np.int8)
    inter = Interactions.build(
        user=user_col,
        item=item_col,
        user_ids=list(user_index),
        timestamp=timestamp,
        rating=rating,
        weight=weight,
        kind=kind_col,
        review=review,
    )
    return Dataset(name=name, catalog=catalog, interactions=inter, has_time=has_time, report=report)


def _append_items(catalog: Catalog, new_ids: list[str]) -> Catalog:
    n = len(new_ids)
    return Catalog(
        item_ids=np.concatenate([catalog.item_ids, np.asarray(new_ids, dtype=object)]),
        titles=catalog.titles + [""] * n,
        descriptions=catalog.descriptions + [""] * n,
        categories=catalog.categories + [()] * n,
        tags=catalog.tags + [()] * n,
        brands=catalog.brands + [""] * n,
        attributes=catalog.attributes + [()] * n,
        released=np.concatenate([catalog.released, np.full(n, np.nan)]),
        images=catalog.images + [""] * n,
    )
