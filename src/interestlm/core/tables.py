"""Canonical tables: the item catalog and the interaction log, as numpy-backed containers.

Every reader produces a :class:`Dataset`; every later stage consumes one. Rows are kept in the
order they were read (file order), so a stable sort on time breaks ties by original order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from interestlm.core.errors import LoadReport
from interestlm.core.types import FloatArray, IntArray, LongArray

#: Interaction kinds; the ``kind`` column stores an index into this tuple.
KINDS: tuple[str, ...] = (
    "interaction",
    "view",
    "click",
    "purchase",
    "rating",
    "review",
    "like",
    "dislike",
    "play",
)
KIND_CODE: dict[str, int] = {name: code for code, name in enumerate(KINDS)}

StrArray = npt.NDArray[np.object_]


def _str_array(values: Sequence[str] | npt.NDArray[np.object_]) -> StrArray:
    out = np.empty(len(values), dtype=object)
    out[:] = [str(v) for v in values]
    return out


@dataclass(frozen=True, kw_only=True, eq=False)
class Catalog:
    """The item table: one row per item, position = item index used everywhere else.

    ``released``: when each item became available (release date, date added to the catalogue),
    in seconds since the epoch, NaN where unknown (the default for every item); models that read
    item age (see ``SeqRecConfig.freshness``) use it. ``images``: each item's picture (a file
    path), "" where it has none (the default; missing pictures are the normal case).
    """

    item_ids: StrArray
    titles: list[str]
    descriptions: list[str]
    categories: list[tuple[str, ...]]
    tags: list[tuple[str, ...]]
    brands: list[str]
    attributes: list[tuple[str, ...]]
    released: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    images: list[str] = field(default_factory=list)
    display_titles: list[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        n = len(self.item_ids)
        if len(self.released) == 0 and n:
            object.__setattr__(self, "released", np.full(n, np.nan))
        object.__setattr__(self, "released", np.asarray(self.released, dtype=np.float64))
        if len(self.released) != n:
            raise ValueError(f"Catalog.released has {len(self.released)} rows, expected {n}")
        if not self.images and n:
            object.__setattr__(self, "images", [""] * n)
        # What a sentence calls each item: its title, else its id (a log without an item table).
        display = [t if t.strip() else f"item {i}" for t, i in zip(self.titles, self.item_ids.tolist(), strict=True)]
        object.__setattr__(self, "display_titles", display)
        for name in ("titles", "descriptions", "categories", "tags", "brands", "attributes", "images"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"Catalog.{name} has {len(getattr(self, name))} rows, expected {n}")
        if len(set(self.item_ids.tolist())) != n:
            raise ValueError("Catalog.item_ids must be unique")

    @classmethod
    def build(
        cls,
        item_ids: Sequence[str],
        *,
        titles: Sequence[str] | None = None,
        descriptions: Sequence[str] | None = None,
        categories: Sequence[Sequence[str]] | None = None,
        tags: Sequence[Sequence[str]] | None = None,
        brands: Sequence[str] | None = None,
        attributes: Sequence[Sequence[str]] | None = None,
        released: Sequence[float] | npt.NDArray[np.floating] | None = None,
        images: Sequence[str] | None = None,
    ) -> Catalog:
        """Build a catalog, filling any missing column with empty values (``released``: NaN)."""
        n = len(item_ids)
        return cls(
            item_ids=_str_array(item_ids),
            titles=list(titles) if titles is not None else [""] * n,
            descriptions=list(descriptions) if descriptions is not None else [""] * n,
            categories=[tuple(c) for c in categories] if categories is not None else [()] * n,
            tags=[tuple(t) for t in tags] if tags is not None else [()] * n,
            brands=list(brands) if brands is not None else [""] * n,
            attributes=[tuple(a) for a in attributes] if attributes is not None else [()] * n,
            released=np.asarray(released, dtype=np.float64) if released is not None else np.full(n, np.nan),
            images=list(images) if images is not None else [""] * n,
        )

    def __len__(self) -> int:
        return len(self.item_ids)

    def index_of(self) -> dict[str, int]:
        """Map item id -> row index."""
        return {item_id: i for i, item_id in enumerate(self.item_ids.tolist())}

    def take(self, rows: npt.NDArray[np.integer]) -> Catalog:
        """Rows ``rows`` (in that order) as a new catalog."""
        idx = [int(r) for r in rows]
        return Catalog(
            item_ids=self.item_ids[np.asarray(idx, dtype=np.int64)],
            titles=[self.titles[i] for i in idx],
            descriptions=[self.descriptions[i] for i in idx],
            categories=[self.categories[i] for i in idx],
            tags=[self.tags[i] for i in idx],
            brands=[self.brands[i] for i in idx],
            attributes=[self.attributes[i] for i in idx],
            released=self.released[np.asarray(idx, dtype=np.int64)],
            images=[self.images[i] for i in idx],
        )


@dataclass(frozen=True, kw_only=True, eq=False)
class Interactions:
    """The interaction log in file order.

    ``user`` indexes ``user_ids``; ``item`` indexes the dataset's :class:`Catalog`.
    ``timestamp`` is seconds since the epoch, or the position in the user's sequence when the
    source has no times (``Dataset.has_time`` is then false). ``rating`` is NaN where absent;
    ``weight`` is a count or strength (1 by default, play count for Last.fm).
    """

    user: IntArray
    item: IntArray
    timestamp: LongArray
    rating: FloatArray
    weight: FloatArray
    kind: npt.NDArray[np.int8]
    review: StrArray
    user_ids: StrArray

    def __post_init__(self) -> None:
        n = len(self.user)
        for name in ("item", "timestamp", "rating", "weight", "kind", "review"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"Interactions.{name} has {len(getattr(self, name))} rows, expected {n}")

    @classmethod
    def build(
        cls,
        *,
        user: npt.ArrayLike,
        item: npt.ArrayLike,
        user_ids: Sequence[str] | StrArray,
        timestamp: npt.ArrayLike | None = None,
        rating: npt.ArrayLike | None = None,
        weight: npt.ArrayLike | None = None,
        kind: npt.ArrayLike | None = None,
        review: Sequence[str] | None = None,
    ) -> Interactions:
        """Build from index columns; absent columns get neutral values."""
        u = np.asarray(user, dtype=np.int32)
        n = len(u)
        return cls(
            user=u,
            item=np.asarray(item, dtype=np.int32),
            timestamp=np.asarray(timestamp if timestamp is not None else np.zeros(n), dtype=np.int64),
            rating=np.asarray(rating if rating is not None else np.full(n, np.nan), dtype=np.float32),
            weight=np.asarray(weight if weight is not None else np.ones(n), dtype=np.float32),
            kind=np.asarray(kind if kind is not None else np.zeros(n), dtype=np.int8),
            review=_str_array(review) if review is not None else _str_array([""] * n),
            user_ids=_str_array(user_ids),
        )

    def __len__(self) -> int:
        return len(self.user)

    @property
    def n_users(self) -> int:
        """Number of user ids known (including users with no rows after filtering)."""
        return len(self.user_ids)

    def select(self, mask_or_rows: npt.NDArray[np.bool_] | npt.NDArray[np.integer]) -> Interactions:
        """Rows by boolean mask or index array; user ids and item indices are kept as they are."""
        s = mask_or_rows
        return replace(
            self,
            user=self.user[s],
            item=self.item[s],
            timestamp=self.timestamp[s],
            rating=self.rating[s],
            weight=self.weight[s],
            kind=self.kind[s],
            review=self.review[s],
        )

    def concat(self, other: Interactions) -> Interactions:
        """Rows of ``self`` followed by rows of ``other`` (same user/item index spaces)."""
        if other.user_ids is not self.user_ids and not np.array_equal(other.user_ids, self.user_ids):
            raise ValueError("cannot concatenate interactions with different user id spaces")
        return replace(
            self,
            user=np.concatenate([self.user, other.user]),
            item=np.concatenate([self.item, other.item]),
            timestamp=np.concatenate([self.timestamp, other.timestamp]),
            rating=np.concatenate([self.rating, other.rating]),
            weight=np.concatenate([self.weight, other.weight]),
            kind=np.concatenate([self.kind, other.kind]),
            review=np.concatenate([self.review, other.review]),
        )

    def time_order(self) -> LongArray:
        """Row order sorted by (user, timestamp), ties kept in file order (stable)."""
        by_time = np.argsort(self.timestamp, kind="stable")
        by_user = np.argsort(self.user[by_time], kind="stable")
        return by_time[by_user].astype(np.int64)

    def sequences(self) -> list[IntArray]:
        """Each user's items in time order (index = user index; empty for users without rows)."""
        return [a.astype(np.int32) for a in self.per_user(self.item)]

    def per_user(self, column: npt.NDArray[Any]) -> list[npt.NDArray[Any]]:
        """``column`` (one value per row, e.g. ``rating``) split by user index, each in time order."""
        order = self.time_order()
        counts = np.bincount(self.user[order], minlength=self.n_users)
        return np.split(np.asarray(column)[order], np.cumsum(counts)[:-1])


@dataclass(frozen=True, kw_only=True, eq=False)
class Dataset:
    """A catalog plus an interaction log, with the provenance of both."""

    name: str
    catalog: Catalog
    interactions: Interactions
    has_time: bool = True
    report: LoadReport = field(default_factory=LoadReport)

    @property
    def n_items(self) -> int:
        """Number of items in the catalog."""
        return len(self.catalog)

    @property
    def n_users(self) -> int:
        """Number of user ids."""
        return self.interactions.n_users

    def with_interactions(self, interactions: Interactions) -> Dataset:
        """Same catalog, other rows."""
        return replace(self, interactions=interactions)

    def compact(self) -> Dataset:
        """Drop users and items that have no interactions, re-indexing both densely."""
        inter = self.interactions
        used_items = np.unique(inter.item)
        used_users = np.unique(inter.user)
        item_map = np.full(self.n_items, -1, dtype=np.int32)
        item_map[used_items] = np.arange(len(used_items), dtype=np.int32)
        user_map = np.full(self.n_users, -1, dtype=np.int32)
        user_map[used_users] = np.arange(len(used_users), dtype=np.int32)
        new_inter = replace(
            inter,
            user=user_map[inter.user],
            item=item_map[inter.item],
            user_ids=inter.user_ids[used_users],
        )
        return replace(self, catalog=self.catalog.take(used_items), interactions=new_inter)
