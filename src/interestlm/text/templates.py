"""Items and histories as text: pure template functions over the catalog's fields.

The item template is what the encoders embed and what a language model reads, so it is plain
and readable, one field per line, empty fields left out::

    Toy Story (1995)
    Categories: Adventure, Animation, Children
    Tags: pixar, fun
    Brand: Pixar
    <description, truncated>
    Reviews: <snippet> | <snippet>

``Attributes: ...`` appears only for an item with nothing else to say (S3-Rec sets carry bare
attribute ids, which mean little to a language model but still separate items).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from interestlm.core.tables import Catalog, Interactions

_ELLIPSIS = "..."
# A description squeezed into fewer characters than this says nothing useful.
_MIN_FIELD_CHARS = 20


def _squash(text: str) -> str:
    return " ".join(text.split())


def clip(text: str, max_chars: int) -> str:
    """``text`` cut to at most ``max_chars`` characters at a word boundary, marked with ``...``."""
    if max_chars < 0:
        raise ValueError(f"max_chars must be >= 0, got {max_chars}")
    if len(text) <= max_chars:
        return text
    if max_chars <= len(_ELLIPSIS):
        return text[:max_chars]
    room = max_chars - len(_ELLIPSIS)
    cut = text[:room]
    space = cut.rfind(" ")
    # Cutting at a word boundary is only worth it if it keeps most of the room.
    if space >= room // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-") + _ELLIPSIS


def _unique(values: Sequence[str], limit: int | None = None) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for value in values:
        v = _squash(value)
        key = v.lower()
        if v and key not in seen:
            seen.add(key)
            out.append(v)
            if limit is not None and len(out) == limit:
                break
    return out


def _check_item(catalog: Catalog, i: int) -> int:
    if not 0 <= int(i) < len(catalog):
        raise ValueError(f"item index {i} is outside the catalog (0..{len(catalog) - 1})")
    return int(i)


def item_text(
    catalog: Catalog,
    i: int,
    *,
    reviews: Sequence[str] = (),
    max_reviews: int = 3,
    max_chars: int = 1000,
    max_tags: int = 10,
    category_label: str = "Categories",
) -> str:
    """Readable text of item ``i``: title, categories, tags, brand, description, review snippets.

    A description that starts with the title (common in Amazon data) replaces the title line
    instead of repeating it. The whole text stays within ``max_chars``: the short fields come
    first, the description and then the reviews share what is left. An item with no text at
    all gives ``""``.
    """
    i = _check_item(catalog, i)
    if max_reviews < 0 or max_tags < 0:
        raise ValueError("max_reviews and max_tags must be >= 0")
    title = _squash(catalog.titles[i])
    description = _squash(catalog.descriptions[i])
    if title and description.lower().startswith(title.lower()):
        title = ""
    lines: list[str] = [title] if title else []
    categories = _unique(catalog.categories[i])
    if categories:
        lines.append(f"{category_label}: {', '.join(categories)}")
    tags = _unique(catalog.tags[i], max_tags)
    if tags:
        lines.append(f"Tags: {', '.join(tags)}")
    brand = _squash(catalog.brands[i])
    if brand:
        lines.append(f"Brand: {brand}")
    snippets = _unique(reviews, max_reviews)
    if not lines and not description and not snippets:
        attributes = _unique(catalog.attributes[i])
        if attributes:
            lines.append(f"Attributes: {', '.join(attributes)}")

    def room() -> int:
        return max_chars - sum(len(line) + 1 for line in lines)

    if description and room() >= _MIN_FIELD_CHARS:
        lines.append(clip(description, room()))
    if snippets and room() >= _MIN_FIELD_CHARS:
        lines.append(clip("Reviews: " + " | ".join(snippets), room()))
    return clip("\n".join(lines), max_chars)


def item_texts(
    catalog: Catalog,
    *,
    reviews: Sequence[Sequence[str]] | None = None,
    max_reviews: int = 3,
    max_chars: int = 1000,
    max_tags: int = 10,
    category_label: str = "Categories",
) -> list[str]:
    """:func:`item_text` of every catalog row; ``reviews[i]`` (optional) are item ``i``'s snippets."""
    if reviews is not None and len(reviews) != len(catalog):
        raise ValueError(f"reviews has {len(reviews)} rows, the catalog has {len(catalog)} items")
    return [
        item_text(
            catalog,
            i,
            reviews=reviews[i] if reviews is not None else (),
            max_reviews=max_reviews,
            max_chars=max_chars,
            max_tags=max_tags,
            category_label=category_label,
        )
        for i in range(len(catalog))
    ]


def _snippet(review: str, max_chars: int) -> str:
    # Amazon reviews arrive as "summary\nbody": keep both, as one sentence run.
    parts = [_squash(p) for p in review.splitlines()]
    parts = [p for p in parts if p]
    text = ""
    for part in parts:
        if text:
            text += " " if text[-1] in ".!?" else ". "
        text += part
    return clip(text, max_chars)


def review_snippets(
    interactions: Interactions, n_items: int, *, max_per_item: int = 3, max_chars: int = 300
) -> list[list[str]]:
    """Up to ``max_per_item`` review snippets per item, taken only from the rows given.

    Pass training rows only, so held-out reviews never leak into item text. Newest reviews come
    first (ties: later file row first); repeated texts are kept once; each snippet is cut to
    ``max_chars``.
    """
    if max_per_item < 0:
        raise ValueError(f"max_per_item must be >= 0, got {max_per_item}")
    items = interactions.item
    if len(items) and (int(items.min()) < 0 or int(items.max()) >= n_items):
        raise ValueError(f"interactions refer to item indices outside 0..{n_items - 1}")
    out: list[list[str]] = [[] for _ in range(n_items)]
    if max_per_item == 0:
        return out
    has_text = np.fromiter((bool(r) and not r.isspace() for r in interactions.review), dtype=bool, count=len(items))
    rows = np.flatnonzero(has_text)
    # Newest first; among equal times, the later file row first.
    order = rows[np.lexsort((-rows, -interactions.timestamp[rows]))]
    seen: list[set[str]] = [set() for _ in range(n_items)]
    for r in order.tolist():
        i = int(items[r])
        if len(out[i]) >= max_per_item:
            continue
        snippet = _snippet(str(interactions.review[r]), max_chars)
        if snippet and snippet not in seen[i]:
            seen[i].add(snippet)
            out[i].append(snippet)
    return out


def item_name(catalog: Catalog, i: int, *, max_chars: int = 80) -> str:
    """A short human name for item ``i``: its title, else the start of its description, else its id."""
    i = _check_item(catalog, i)
    for text in (catalog.titles[i], catalog.descriptions[i]):
        squashed = _squash(text)
        if squashed:
            return clip(squashed, max_chars)
    return f"item {catalog.item_ids[i]}"


def history_text(
    catalog: Catalog,
    items: Sequence[int] | npt.NDArray[np.integer],
    *,
    ratings: Sequence[float] | npt.NDArray[np.floating] | None = None,
    max_items: int = 20,
    max_rating: float = 5.0,
) -> str:
    """A user's history (given in time order) as one line: ``"Toy Story (1995) [5/5]; Heat (1995) [2/5]"``.

    Only the last ``max_items`` entries are kept, oldest first; a missing (NaN) rating shows no
    brackets.
    """
    if max_items < 0:
        raise ValueError(f"max_items must be >= 0, got {max_items}")
    item_list = [int(x) for x in items]
    rating_list = [float(r) for r in ratings] if ratings is not None else [math.nan] * len(item_list)
    if len(rating_list) != len(item_list):
        raise ValueError(f"ratings has {len(rating_list)} entries, items has {len(item_list)}")
    start = max(0, len(item_list) - max_items)
    parts: list[str] = []
    for i, rating in zip(item_list[start:], rating_list[start:], strict=True):
        name = item_name(catalog, i)
        parts.append(name if math.isnan(rating) else f"{name} [{rating:g}/{max_rating:g}]")
    return "; ".join(parts)
