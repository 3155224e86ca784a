"""Summary statistics of a dataset, as a frozen record and as a readable block of text."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from interestlm.core.tables import KINDS, Dataset

#: Time span text for datasets whose timestamps are positions, not times.
NO_TIMESTAMPS = "no timestamps (positions)"


@dataclass(frozen=True, kw_only=True)
class DatasetStats:
    """What a dataset holds: sizes, density, time span, ratings, kinds, history lengths, text, rejects."""

    name: str
    users: int
    catalog_items: int
    items_with_interactions: int
    interactions: int
    density: float
    time_span: str
    rating_range: tuple[float, float] | None
    kinds: dict[str, int]
    mean_history: float
    median_history: float
    items_with_text_share: float
    rejected: dict[str, int]
    notes: dict[str, int]
    #: Items whose picture is readable (0 when no picture folder was attached).
    items_with_images: int = 0

    def format(self) -> str:
        """A multi-line, aligned summary for people."""
        rating = (
            f"{self.rating_range[0]:g} .. {self.rating_range[1]:g}" if self.rating_range is not None else "none"
        )
        lines = [
            f"dataset                 {self.name}",
            f"users                   {self.users:,}",
            f"items (catalog)         {self.catalog_items:,}",
            f"items (interacted)      {self.items_with_interactions:,}",
            f"interactions            {self.interactions:,}",
            f"density                 {self.density:.4%}",
            f"time span               {self.time_span}",
            f"ratings                 {rating}",
            "kinds                   " + (", ".join(f"{k} {n:,}" for k, n in self.kinds.items()) or "none"),
            f"history length          mean {self.mean_history:.1f}, median {self.median_history:g}",
            f"items with text         {self.items_with_text_share:.1%}",
        ]
        if self.items_with_images:
            lines.append(f"items with images: {self.items_with_images:,} of {self.catalog_items:,}")
        total = sum(self.rejected.values())
        lines.append(f"rejected rows           {total:,}")
        lines.extend(f"  {path}: {n:,}" for path, n in self.rejected.items())
        if self.notes:
            lines.append("notes")
            lines.extend(f"  {what}: {n:,}" for what, n in self.notes.items())
        return "\n".join(lines)


def describe(dataset: Dataset) -> DatasetStats:
    """Compute :class:`DatasetStats` for ``dataset`` (users and items counted only with rows)."""
    inter = dataset.interactions
    n = len(inter)
    per_user = np.bincount(inter.user, minlength=dataset.n_users) if n else np.zeros(0, dtype=np.int64)
    lengths = per_user[per_user > 0]
    users = len(lengths)
    items = int(np.count_nonzero(np.bincount(inter.item, minlength=dataset.n_items))) if n else 0
    if not dataset.has_time:
        span = NO_TIMESTAMPS
    elif n:
        first, last = (datetime.fromtimestamp(int(t), tz=UTC).date().isoformat()
                       for t in (inter.timestamp.min(), inter.timestamp.max()))
        span = f"{first} .. {last}"
    else:
        span = "empty"
    rated = inter.rating[~np.isnan(inter.rating)]
    rating_range = (float(rated.min()), float(rated.max())) if len(rated) else None
    codes, counts = np.unique(inter.kind, return_counts=True)
    catalog = dataset.catalog
    with_text = sum(
        1
        for title, desc, cats, tags in zip(catalog.titles, catalog.descriptions, catalog.categories, catalog.tags,
                                           strict=True)
        if title.strip() or desc.strip() or cats or tags
    )
    return DatasetStats(
        name=dataset.name,
        users=users,
        catalog_items=dataset.n_items,
        items_with_interactions=items,
        interactions=n,
        density=n / (users * items) if users and items else 0.0,
        time_span=span,
        rating_range=rating_range,
        kinds={KINDS[int(c)]: int(k) for c, k in zip(codes, counts, strict=True)},
        mean_history=float(lengths.mean()) if users else 0.0,
        median_history=float(np.median(lengths)) if users else 0.0,
        items_with_text_share=with_text / dataset.n_items if dataset.n_items else 0.0,
        rejected=dict(dataset.report.rejected),
        notes=dict(dataset.report.notes),
        items_with_images=sum(1 for p in dataset.catalog.images if p),
    )
