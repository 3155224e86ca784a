"""Catalogue growth after fitting: new items appended, known ids updated in place."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from interestlm.core.errors import BadInputError
from interestlm.core.tables import Catalog


@dataclass(frozen=True, kw_only=True)
class Growth:
    """The grown catalogue; ``rows`` are the given items' rows, ``changed`` every new or updated row."""

    catalog: Catalog
    rows: list[int]
    changed: list[int]


def _strings(raw: Mapping[str, Any], key: str, where: str) -> tuple[str, ...] | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise BadInputError(f"{where}: {key} must be a list of strings, got {value!r}")
    return tuple(str(v) for v in value)


def grow_catalog(catalog: Catalog, items: Sequence[Mapping[str, Any]]) -> Growth:
    """Add or update items (``item_id``, ``title``, ``text``, ``categories``, ``tags``, ``brand``).

    Unknown ids are appended in the order given (a repeated new id is added once, its last
    version kept); known ids have the given fields replaced. Nothing changes when any item is
    invalid (the error names its position and field).
    """
    index = catalog.index_of()
    fresh: dict[str, Mapping[str, Any]] = {}
    updates: dict[int, Mapping[str, Any]] = {}
    ids: list[str] = []
    for n, raw in enumerate(items):
        where = f"item {n}"
        item_id = str(raw.get("item_id", "")).strip()
        if not item_id:
            raise BadInputError(f"{where}: every added item needs a non-empty item_id")
        _strings(raw, "categories", where)
        _strings(raw, "tags", where)
        ids.append(item_id)
        if item_id in index:
            updates[index[item_id]] = raw
        else:
            fresh[item_id] = raw
    new = list(fresh.values())
    added = Catalog.build(
        list(fresh),
        titles=[str(r.get("title") or "") for r in new],
        descriptions=[str(r.get("text") or "") for r in new],
        categories=[_strings(r, "categories", "item") or () for r in new],
        tags=[_strings(r, "tags", "item") or () for r in new],
        brands=[str(r.get("brand") or "") for r in new],
        images=[str(r.get("image") or "") for r in new],
    )
    merged = _concat(catalog, added)
    if updates:
        merged = _replace_rows(merged, updates)
    rows_by_id = merged.index_of()
    n_old = len(catalog)
    changed = sorted(set(updates) | set(range(n_old, len(merged))))
    return Growth(catalog=merged, rows=[rows_by_id[i] for i in ids], changed=changed)


def _concat(a: Catalog, b: Catalog) -> Catalog:
    return Catalog(
        item_ids=np.concatenate([a.item_ids, b.item_ids]),
        titles=[*a.titles, *b.titles],
        descriptions=[*a.descriptions, *b.descriptions],
        categories=[*a.categories, *b.categories],
        tags=[*a.tags, *b.tags],
        brands=[*a.brands, *b.brands],
        attributes=[*a.attributes, *b.attributes],
        released=np.concatenate([a.released, b.released]),
        images=[*a.images, *b.images],
    )


def _replace_rows(catalog: Catalog, rows: Mapping[int, Mapping[str, Any]]) -> Catalog:
    titles, descriptions = list(catalog.titles), list(catalog.descriptions)
    categories, tags, brands = list(catalog.categories), list(catalog.tags), list(catalog.brands)
    images = list(catalog.images)
    for i, raw in rows.items():
        titles[i] = str(raw.get("title") or titles[i])
        descriptions[i] = str(raw.get("text") or descriptions[i])
        categories[i] = _strings(raw, "categories", f"item {i}") or categories[i]
        tags[i] = _strings(raw, "tags", f"item {i}") or tags[i]
        brands[i] = str(raw.get("brand") or brands[i])
        images[i] = str(raw.get("image") or images[i])
    return replace(
        catalog,
        titles=titles,
        descriptions=descriptions,
        categories=categories,
        tags=tags,
        brands=brands,
        images=images,
    )
