"""Amazon review dumps of McAuley's group: the 2014, 2018 and 2023 releases, plus metadata.

* 2014 ``reviews_X_5.json``: strict JSON lines with ``reviewerID, asin, overall,
  unixReviewTime, reviewText, summary``; ``meta_X.json`` is *not* JSON but one Python literal
  dict per line (single quotes), read with :func:`ast.literal_eval`.
* 2018 ``X_5.json``: the same review fields plus ``vote, verified, style``; ``meta_X.json`` is JSON
  lines with ``title, brand, category`` (list), ``description`` (list), ``feature`` (list).
* 2023 ``X.jsonl``: ``rating, title, text, asin, parent_asin, user_id, timestamp`` (milliseconds);
  ``meta_X.jsonl`` keyed by ``parent_asin`` with ``title, main_category, categories,
  description`` (list), ``features`` (list), ``store``.

Every file may be gzipped. The release is recognised from the first review's fields.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np

from interestlm.core.errors import DataError, OnError, RowGuard
from interestlm.core.tables import Catalog, Dataset
from interestlm.data.build import assemble
from interestlm.data.readers._common import first_line, json_lines, new_report_guard, unique

Release = Literal["auto", "2014", "2018", "2023"]

#: Review fields per release: user, item, rating, time, review title, review body.
_FIELDS: dict[str, tuple[str, str, str, str, str, str]] = {
    "2014": ("reviewerID", "asin", "overall", "unixReviewTime", "summary", "reviewText"),
    "2018": ("reviewerID", "asin", "overall", "unixReviewTime", "summary", "reviewText"),
    "2023": ("user_id", "parent_asin", "rating", "timestamp", "title", "text"),
}


def read_amazon(
    path: Path | str,
    *,
    on_error: OnError = "raise",
    meta: Path | str | None = None,
    release: Release = "auto",
    name: str | None = None,
) -> Dataset:
    """Read an Amazon review file (and optionally its metadata file) of any release.

    Reviews become ``kind="review"`` rows with the star rating and the review text
    (summary/title, a newline, then the body) in ``Interactions.review``. 2023 times are
    converted from milliseconds to seconds; 2023 items are keyed by ``parent_asin`` (the key of its
    metadata). Items without metadata are appended to the catalog and counted.
    """
    reviews_path = Path(path)
    report, guard = new_report_guard(on_error)
    found: Release = release if release != "auto" else _detect_release(reviews_path)
    user_f, item_f, rating_f, time_f, title_f, text_f = _FIELDS[found]
    users: list[str] = []
    items: list[str] = []
    ratings: list[float] = []
    times: list[int] = []
    reviews: list[str] = []
    where = str(reviews_path)
    for line_no, obj in json_lines(reviews_path, guard):
        try:
            user = _string(obj, user_f)
            item = _string(obj, item_f)
            rating = _number(obj, rating_f, low=1.0, high=5.0)
            when = _integer(obj, time_f)
            title = _text(obj, title_f)
            body = _text(obj, text_f)
        except _FieldError as exc:
            guard.handle(DataError(where, line_no, exc.field, exc.message))
            continue
        users.append(user)
        items.append(item)
        ratings.append(rating)
        times.append(when // 1000 if found == "2023" else when)
        reviews.append("\n".join(part for part in (title, body) if part))
    report.accept(where, len(users))
    catalog = read_amazon_meta(meta, guard, release=found) if meta is not None else None
    return assemble(
        name=name or _dataset_name(reviews_path),
        user_ids=users,
        item_ids=items,
        catalog=catalog,
        timestamp=np.asarray(times, dtype=np.int64),
        rating=np.asarray(ratings, dtype=np.float32),
        kind="review",
        review=reviews,
        report=report,
    )


def read_amazon_meta(path: Path | str, guard: RowGuard, *, release: Release = "auto") -> Catalog:
    """Read an Amazon metadata file into a catalog (rows in file order, repeated ids rejected).

    Lines are parsed as JSON, falling back to a Python literal (the 2014 format) when that fails.
    """
    meta_path = Path(path)
    where = str(meta_path)
    seen: set[str] = set()
    ids: list[str] = []
    titles: list[str] = []
    descriptions: list[str] = []
    categories: list[tuple[str, ...]] = []
    brands: list[str] = []
    for line_no, obj in json_lines(meta_path, guard, _parse_meta_line):
        is_2023 = release == "2023" or (release == "auto" and "parent_asin" in obj)
        key = "parent_asin" if is_2023 else "asin"
        try:
            item = _string(obj, key)
            if item in seen:
                raise _FieldError(key, f"duplicate id {item!r}")
            extract = _meta_2023 if is_2023 else _meta_2014_2018
            title, description, cats, brand = extract(obj)
        except _FieldError as exc:
            guard.handle(DataError(where, line_no, exc.field, exc.message))
            continue
        seen.add(item)
        ids.append(item)
        titles.append(title)
        descriptions.append(description)
        categories.append(cats)
        brands.append(brand)
    guard.report.accept(where, len(ids))
    return Catalog.build(ids, titles=titles, descriptions=descriptions, categories=categories, brands=brands)


def _meta_2014_2018(obj: dict[str, Any]) -> tuple[str, str, tuple[str, ...], str]:
    """2014: ``categories`` is a list of category paths; 2018: ``category`` is one path."""
    title = _text(obj, "title")
    description = _joined(obj, "description")
    features = _joined(obj, "feature")
    cats: list[str] = []
    raw = obj.get("categories")
    if raw is not None:
        if not isinstance(raw, list) or not all(isinstance(p, list) for p in raw):
            raise _FieldError("categories", "expected a list of category lists")
        for path in raw:
            cats.extend(_strings(path, "categories"))
    cats.extend(_strings(obj.get("category", []), "category"))
    text = "\n".join(part for part in (description, features) if part)
    return title, text, unique([c.strip() for c in cats]), _text(obj, "brand")


def _meta_2023(obj: dict[str, Any]) -> tuple[str, str, tuple[str, ...], str]:
    title = _text(obj, "title")
    description = _joined(obj, "description")
    features = _joined(obj, "features")
    main = _text(obj, "main_category")
    cats = [main, *_strings(obj.get("categories", []), "categories")]
    brand = _text(obj, "store")
    details = obj.get("details")
    if not brand and isinstance(details, dict) and isinstance(details.get("Brand"), str):
        brand = details["Brand"]
    text = "\n".join(part for part in (description, features) if part)
    return title, text, unique([c.strip() for c in cats]), brand


def _parse_meta_line(line: str) -> Any:
    try:
        return json.loads(line)
    except json.JSONDecodeError:
        # The 2014 metadata is written with Python's repr (single quotes), not JSON.
        return ast.literal_eval(line)


def _detect_release(path: Path) -> Release:
    line = first_line(path)
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DataError(str(path), 1, "(json)", f"not a valid record: {exc}") from exc
    if isinstance(obj, dict):
        if "parent_asin" in obj or "user_id" in obj:
            return "2023"
        if any(k in obj for k in ("vote", "verified", "style")):
            return "2018"
        if "reviewerID" in obj:
            return "2014"
    raise DataError(str(path), 1, "(format)", "not an Amazon review file (no reviewerID/user_id in the first record)")


def _dataset_name(path: Path) -> str:
    stem = path.name
    for suffix in (".gz", ".jsonl", ".json"):
        stem = stem.removesuffix(suffix)
    return stem.removeprefix("reviews_").removesuffix("_5")


class _FieldError(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _string(obj: dict[str, Any], key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value.strip():
        raise _FieldError(key, "missing" if value is None else f"expected a non-empty string, found {value!r}")
    return value


def _text(obj: dict[str, Any], key: str) -> str:
    value = obj.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _FieldError(key, f"expected a string, found {type(value).__name__}")
    return value.strip()


def _joined(obj: dict[str, Any], key: str) -> str:
    """A text field that is a string (2014) or a list of strings (2018, 2023)."""
    value = obj.get(key)
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    return "\n".join(s.strip() for s in _strings(value, key) if s.strip())


def _strings(value: Any, key: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _FieldError(key, "expected a list of strings")
    return value


def _number(obj: dict[str, Any], key: str, *, low: float, high: float) -> float:
    return float(_checked(obj, key, float, low=low, high=high))


def _integer(obj: dict[str, Any], key: str) -> int:
    return int(_checked(obj, key, int, low=0, high=None))


def _checked(
    obj: dict[str, Any], key: str, kind: Callable[[Any], Any], *, low: float, high: float | None
) -> Any:
    value = obj.get(key)
    if value is None:
        raise _FieldError(key, "missing")
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _FieldError(key, f"expected a number, found {value!r}")
    try:
        number = kind(value)
    except (ValueError, OverflowError):
        raise _FieldError(key, f"{value!r} is not {'an integer' if kind is int else 'a number'}") from None
    if kind is int and isinstance(value, float) and value != number:
        raise _FieldError(key, f"{value!r} is not an integer")
    if not np.isfinite(number) or number < low or (high is not None and number > high):
        raise _FieldError(key, f"{value!r} is outside [{low}, {high}]")
    return number
