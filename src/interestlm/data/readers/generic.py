"""Generic interaction and item tables in CSV/TSV, Parquet or JSON lines, with a column mapping.

The mapping says which source column holds each canonical field. Timestamps may be integers
(seconds, or milliseconds with ``timestamp_unit="ms"``) or date-time strings (ISO 8601 and the
other formats pandas parses); without a timestamp column, rows get their position in the user's
history and ``has_time=False``. Errors name the file, the 1-based line (CSV, JSONL) or the
1-based row (Parquet), and the column.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from interestlm.core.errors import DataError, LoadReport, OnError, RowGuard
from interestlm.core.tables import KINDS, Catalog, Dataset
from interestlm.data.build import assemble
from interestlm.data.readers._common import Rows, first_line, kept, new_report_guard, read_text, split_rows, unique

Format = Literal["auto", "csv", "tsv", "parquet", "jsonl"]


@dataclass(frozen=True, kw_only=True)
class ColumnMap:
    """Source column names of the interaction fields (``None``: the source has no such column)."""

    user: str = "user_id"
    item: str = "item_id"
    timestamp: str | None = None
    rating: str | None = None
    review: str | None = None
    kind: str | None = None
    weight: str | None = None
    #: Unit of numeric timestamps; string timestamps are parsed as dates (UTC when naive).
    timestamp_unit: Literal["s", "ms"] = "s"
    #: Kind of every row when there is no ``kind`` column.
    default_kind: str = "interaction"

    def __post_init__(self) -> None:
        if self.default_kind not in KINDS:
            raise ValueError(f"default_kind must be one of {KINDS}, not {self.default_kind!r}")


@dataclass(frozen=True, kw_only=True)
class ItemColumnMap:
    """Source column names of the catalog fields; list fields are split on their separator."""

    item: str = "item_id"
    title: str | None = None
    description: str | None = None
    categories: str | None = None
    category_separator: str = "|"
    tags: str | None = None
    tag_separator: str = "|"
    brand: str | None = None


def read_table(
    path: Path | str,
    columns: ColumnMap,
    *,
    on_error: OnError = "raise",
    items: Path | str | None = None,
    item_columns: ItemColumnMap | None = None,
    file_format: Format = "auto",
    name: str | None = None,
) -> Dataset:
    """Read an interaction table (and optionally an item table) through column mappings."""
    inter_path = Path(path)
    report, guard = new_report_guard(on_error)
    rows = load_rows(inter_path, file_format, _wanted(columns))
    dataset_name = name or inter_path.stem
    catalog = None
    if items is not None:
        catalog = read_item_table(Path(items), item_columns or ItemColumnMap(), guard, file_format=file_format)
    return interactions_from_rows(rows, columns, guard, report, catalog=catalog, name=dataset_name)


def interactions_from_rows(
    rows: Rows, columns: ColumnMap, guard: RowGuard, report: LoadReport, *, catalog: Catalog | None, name: str
) -> Dataset:
    """Validate mapped interaction columns of ``rows`` and assemble the dataset."""
    rows.nonempty(columns.user)
    rows.nonempty(columns.item)
    timestamp = None
    if columns.timestamp is not None:
        timestamp = parse_times(rows, columns.timestamp, columns.timestamp_unit)
    rating = rows.floats(columns.rating) if columns.rating is not None else None
    weight = rows.floats(columns.weight, low=0.0) if columns.weight is not None else None
    kinds: list[str] | str = columns.default_kind
    if columns.kind is not None:
        kinds = rows.strings(columns.kind)
        for row, value in enumerate(kinds):
            if value not in KINDS:
                rows.reject(row, columns.kind, f"{value!r} is not one of {', '.join(KINDS)}")
    keep = rows.finish(guard)
    users = kept(rows.strings(columns.user), keep)
    has_time = timestamp is not None
    stamps = timestamp[keep] if timestamp is not None else positions(users)
    return assemble(
        name=name,
        user_ids=users,
        item_ids=kept(rows.strings(columns.item), keep),
        catalog=catalog,
        timestamp=stamps,
        rating=rating[keep] if rating is not None else None,
        weight=weight[keep] if weight is not None else None,
        kind=kinds if isinstance(kinds, str) else kept(kinds, keep),
        review=kept(rows.strings(columns.review), keep) if columns.review is not None else None,
        has_time=has_time,
        report=report,
    )


def read_item_table(path: Path, columns: ItemColumnMap, guard: RowGuard, *, file_format: Format = "auto") -> Catalog:
    """Read an item table into a catalog; repeated item ids are rejected."""
    wanted = [c for c in (columns.item, columns.title, columns.description, columns.categories, columns.tags,
                          columns.brand) if c is not None]
    rows = load_rows(path, file_format, wanted)
    rows.nonempty(columns.item)
    rows.unique_ids(columns.item)
    keep = rows.finish(guard)

    def text(col: str | None) -> list[str] | None:
        return kept(rows.strings(col), keep) if col is not None else None

    def lists(col: str | None, sep: str) -> list[tuple[str, ...]] | None:
        if col is None:
            return None
        return [unique([p.strip() for p in value.split(sep)]) for value in kept(rows.strings(col), keep)]

    return Catalog.build(
        kept(rows.strings(columns.item), keep),
        titles=text(columns.title),
        descriptions=text(columns.description),
        categories=lists(columns.categories, columns.category_separator),
        tags=lists(columns.tags, columns.tag_separator),
        brands=text(columns.brand),
    )


def load_rows(path: Path, file_format: Format, wanted: Sequence[str]) -> Rows:
    """Read the ``wanted`` columns of a CSV/TSV, Parquet or JSONL file as strings with row numbers.

    List values in JSONL or Parquet cells are joined with ``|`` (the default separator of
    :class:`ItemColumnMap`), so one code path handles every format.
    """
    fmt = _format(path) if file_format == "auto" else file_format
    if fmt in ("csv", "tsv"):
        sep = "\t" if fmt == "tsv" else ","
        names = next(csv.reader([first_line(path)], delimiter=sep), [])
        _require(path, names, wanted, 1)
        rows = split_rows(path, names, sep=sep, quoted=True, header=names)
        return _narrow(rows, wanted)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        _require(path, table.column_names, wanted, 1)
        frame = table.select(list(wanted)).to_pandas()
        cols = [[_cell(v) for v in frame[c].tolist()] for c in wanted]
        # Parquet has no lines: errors name the 1-based row.
        return Rows(path, wanted, cols, list(range(1, len(frame) + 1)))
    return _jsonl_rows(path, wanted)


def parse_times(rows: Rows, name: str, unit: Literal["s", "ms"]) -> npt.NDArray[np.int64]:
    """Seconds since the epoch from integer seconds/milliseconds or date-time strings."""
    values = rows.strings(name)
    numeric = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(dtype=np.float64)
    is_number = np.isfinite(numeric)
    out = np.zeros(len(values), dtype=np.int64)
    scale = 1000 if unit == "ms" else 1
    out[is_number] = (numeric[is_number] // scale).astype(np.int64)
    for row in np.flatnonzero(is_number & (numeric < 0)).tolist():
        rows.reject(row, name, f"{values[row]!r} is a negative time")
    text_rows = np.flatnonzero(~is_number)
    if len(text_rows):
        parsed = pd.to_datetime(pd.Series([values[r] for r in text_rows], dtype=object), errors="coerce", utc=True,
                                format="mixed")
        for row, stamp in zip(text_rows.tolist(), parsed.tolist(), strict=True):
            if pd.isna(stamp):
                rows.reject(row, name, f"{values[row]!r} is not a time (seconds or a date)")
            else:
                out[row] = int(stamp.timestamp())
    return out


def positions(users: Sequence[str]) -> npt.NDArray[np.int64]:
    """Each row's position among its user's rows (file order): the stand-in for missing times."""
    codes = pd.factorize(np.asarray(users, dtype=object))[0]
    return np.asarray(pd.Series(codes).groupby(codes).cumcount().to_numpy(), dtype=np.int64)


def _wanted(columns: ColumnMap) -> list[str]:
    cols = [columns.user, columns.item, columns.timestamp, columns.rating, columns.review, columns.kind,
            columns.weight]
    return list(dict.fromkeys(c for c in cols if c is not None))


def _format(path: Path) -> Format:
    name = path.name.lower().removesuffix(".gz")
    for suffix, fmt in ((".parquet", "parquet"), (".pq", "parquet"), (".jsonl", "jsonl"), (".ndjson", "jsonl"),
                        (".json", "jsonl"), (".tsv", "tsv"), (".tab", "tsv"), (".csv", "csv")):
        if name.endswith(suffix):
            return fmt  # type: ignore[return-value]
    raise ValueError(f"{path}: cannot tell the format from the name; pass file_format=csv|tsv|parquet|jsonl")


def _require(path: Path, names: Sequence[str], wanted: Sequence[str], line: int) -> None:
    missing = [c for c in wanted if c not in names]
    if missing:
        raise DataError(str(path), line, missing[0], f"column missing; the file has {', '.join(names)}")


def _narrow(rows: Rows, wanted: Sequence[str]) -> Rows:
    narrowed = Rows(Path(rows.path), wanted, [rows.columns[c] for c in wanted], rows.lines)
    narrowed.bad = rows.bad
    narrowed.errors = rows.errors
    return narrowed


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, list | tuple | np.ndarray):
        return "|".join(_cell(v) for v in value)
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _jsonl_rows(path: Path, wanted: Sequence[str]) -> Rows:
    cols: list[list[str]] = [[] for _ in wanted]
    lines: list[int] = []
    problems: list[tuple[int, str, str]] = []
    for line_no, line in enumerate(read_text(path).split("\n"), start=1):
        if not line.strip():
            continue
        lines.append(line_no)
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append((len(lines) - 1, "(json)", f"not valid JSON: {exc.msg}"))
            obj = {}
        if not isinstance(obj, dict):
            problems.append((len(lines) - 1, "(json)", "expected an object"))
            obj = {}
        # An absent key reads as empty, which the field checks then reject (ids, numbers, times).
        for col, key in zip(cols, wanted, strict=True):
            col.append(_cell(obj.get(key)))
    rows = Rows(path, wanted, cols, lines)
    for row, field, message in problems:
        rows.reject(row, field, message)
    return rows
