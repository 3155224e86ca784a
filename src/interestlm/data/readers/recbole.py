"""RecBole atomic files (``.inter``, ``.item``) and the UniSRec benchmark files built on them.

Atomic files are tab-separated with a ``name:type`` header; types are ``token``, ``token_seq``
(space-separated tokens), ``float`` and ``float_seq``.

UniSRec (``<Name>.train/valid/test.inter`` with ``user_id:token  item_id_list:token_seq
item_id:token``) stores, per user, one row per prefix: test = last item with its history, valid =
the second-last, train = each earlier item (target index 1 .. n-3). Histories are cut to the
:data:`UNISREC_MAX_HISTORY` most recent items. :func:`read_unisrec` rebuilds every user's full
sequence and checks every row against it, so that a time-ordered leave-one-out split of the
result reproduces the official split exactly.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from interestlm.core.errors import DataError, OnError, RowGuard
from interestlm.core.tables import Catalog, Dataset
from interestlm.data.build import assemble
from interestlm.data.readers._common import Rows, kept, new_report_guard, split_rows, text_lines, unique
from interestlm.data.readers.generic import ColumnMap, ItemColumnMap, interactions_from_rows

#: Types a RecBole header may declare.
RECBOLE_TYPES = ("token", "token_seq", "float", "float_seq")

#: UniSRec keeps at most this many history items per row.
UNISREC_MAX_HISTORY = 50


@dataclass(frozen=True, kw_only=True)
class AtomicHeader:
    """Column names and declared types of a RecBole atomic file."""

    names: tuple[str, ...]
    types: tuple[str, ...]

    def type_of(self, name: str) -> str:
        """Declared type of column ``name``."""
        return self.types[self.names.index(name)]


def read_atomic(path: Path) -> tuple[AtomicHeader, Rows]:
    """Split an atomic file into string columns named by the header (types checked)."""
    lines = text_lines(path)
    if not lines:
        raise DataError(str(path), 1, "(header)", "empty file")
    names: list[str] = []
    types: list[str] = []
    for cell in lines[0].split("\t"):
        name, sep, kind = cell.strip().rpartition(":")
        if not sep or kind not in RECBOLE_TYPES:
            raise DataError(str(path), 1, "(header)", f"{cell!r} is not name:type with a type in {RECBOLE_TYPES}")
        names.append(name)
        types.append(kind)
    header = AtomicHeader(names=tuple(names), types=tuple(types))
    rows = split_rows(path, header.names, sep="\t", header=[c.strip() for c in lines[0].split("\t")])
    for name, kind in zip(names, types, strict=True):
        if kind == "float":
            rows.floats(name)
        elif kind == "float_seq":
            for row, value in enumerate(rows.strings(name)):
                try:
                    [float(v) for v in value.split()]
                except ValueError:
                    rows.reject(row, name, f"{value!r} is not a space-separated list of numbers")
    return header, rows


def read_recbole(
    path: Path | str,
    *,
    on_error: OnError = "raise",
    items: Path | str | None = None,
    columns: ColumnMap | None = None,
    item_columns: ItemColumnMap | None = None,
    name: str | None = None,
) -> Dataset:
    """Read a RecBole ``.inter`` file (and optionally its ``.item`` file).

    Without ``columns``, RecBole's standard names are used: ``user_id``, ``item_id`` and, when the
    header has them, ``timestamp`` and ``rating``. Without ``item_columns`` the item file's title
    is the first of ``title``, ``movie_title``, ``item_title`` present and its categories the
    first of ``categories``, ``class``, ``genre``. ``token_seq`` list columns split on spaces.
    """
    inter_path = Path(path)
    report, guard = new_report_guard(on_error)
    header, rows = read_atomic(inter_path)
    if columns is None:
        columns = ColumnMap(
            timestamp="timestamp" if "timestamp" in header.names else None,
            rating="rating" if "rating" in header.names else None,
        )
    for field in (columns.user, columns.item, columns.timestamp, columns.rating, columns.review, columns.kind,
                  columns.weight):
        if field is not None and field not in header.names:
            raise DataError(str(inter_path), 1, field, f"column missing; the header has {', '.join(header.names)}")
    item_path = Path(items) if items is not None else inter_path.with_suffix(".item")
    catalog = None
    if item_path.is_file():
        catalog = read_recbole_items(item_path, item_columns, guard)
    return interactions_from_rows(rows, columns, guard, report, catalog=catalog, name=name or inter_path.stem)


def read_recbole_items(path: Path, columns: ItemColumnMap | None, guard: RowGuard) -> Catalog:
    """Read a RecBole ``.item`` file into a catalog (repeated item ids are rejected)."""
    header, rows = read_atomic(path)
    if columns is None:
        columns = ItemColumnMap(
            title=_first(header, ("title", "movie_title", "item_title")),
            description=_first(header, ("description", "text")),
            categories=_first(header, ("categories", "class", "genre")),
            brand=_first(header, ("brand",)),
        )
    for field in (columns.item, columns.title, columns.description, columns.categories, columns.tags, columns.brand):
        if field is not None and field not in header.names:
            raise DataError(str(path), 1, field, f"column missing; the header has {', '.join(header.names)}")
    rows.nonempty(columns.item)
    rows.unique_ids(columns.item)
    keep = rows.finish(guard)

    def text(col: str | None) -> list[str] | None:
        return kept(rows.strings(col), keep) if col is not None else None

    def lists(col: str | None, sep: str) -> list[tuple[str, ...]] | None:
        if col is None:
            return None
        values = kept(rows.strings(col), keep)
        if header.type_of(col) == "token_seq":
            return [unique(v.split()) for v in values]
        return [unique([p.strip() for p in v.split(sep)]) for v in values]

    return Catalog.build(
        kept(rows.strings(columns.item), keep),
        titles=text(columns.title),
        descriptions=text(columns.description),
        categories=lists(columns.categories, columns.category_separator),
        tags=lists(columns.tags, columns.tag_separator),
        brands=text(columns.brand),
    )


def read_unisrec(
    path: Path | str, *, on_error: OnError = "raise", dataset: str | None = None, name: str | None = None
) -> Dataset:
    """Read a UniSRec benchmark folder (``<dataset>.train/valid/test.inter``, ``.item2index``, ``.text``).

    Item indices in the ``.inter`` files are rows of ``<dataset>.item2index`` (``asin \\t index``);
    the catalog is in index order with ``item_id`` = asin, ``title`` = the text's first sentence
    and ``description`` = the full text. Users are named by ``<dataset>.user2index`` when present.
    Rows get ``timestamp`` = position in the rebuilt sequence and ``has_time=False``. A user whose
    rows do not fit one sequence is rejected as a whole (every row of theirs is counted).
    """
    folder = Path(path)
    stem = dataset or _unisrec_stem(folder)
    report, guard = new_report_guard(on_error)

    index_rows = split_rows(folder / f"{stem}.item2index", ("item_id", "index"), sep="\t")
    index_rows.nonempty("item_id")
    index_rows.unique_ids("item_id")
    indices = index_rows.ints("index", low=0)
    keep = index_rows.finish(guard)
    asins = kept(index_rows.strings("item_id"), keep)
    order = indices[keep]
    if sorted(order.tolist()) != list(range(len(order))):
        raise DataError(index_rows.path, 1, "index", "item indices must be exactly 0 .. n-1")
    by_index = [""] * len(order)
    for asin, idx in zip(asins, order.tolist(), strict=True):
        by_index[idx] = asin

    text_of: dict[str, str] = {}
    text_path = folder / f"{stem}.text"
    if text_path.is_file():
        text_rows = split_rows(text_path, ("item_id", "text"), sep="\t", header=("item_id:token", "text:token_seq"))
        text_rows.nonempty("item_id")
        text_rows.unique_ids("item_id")
        keep = text_rows.finish(guard)
        text_of = dict(zip(kept(text_rows.strings("item_id"), keep), kept(text_rows.strings("text"), keep),
                           strict=True))
    texts = [text_of.get(a, "").strip() for a in by_index]
    catalog = Catalog.build(by_index, titles=[_first_sentence(t) for t in texts], descriptions=texts)
    report.note("items without text", sum(1 for t in texts if not t))

    user_names: dict[str, str] = {}
    user_path = folder / f"{stem}.user2index"
    if user_path.is_file():
        user_rows = split_rows(user_path, ("user", "index"), sep="\t")
        user_rows.ints("index", low=0)
        user_rows.unique_ids("index")
        keep = user_rows.finish(guard)
        user_names = dict(zip(kept(user_rows.strings("index"), keep), kept(user_rows.strings("user"), keep),
                              strict=True))

    per_user: dict[str, list[_Row]] = defaultdict(list)
    n_items = len(by_index)
    for part in ("train", "valid", "test"):
        part_rows = split_rows(
            folder / f"{stem}.{part}.inter", ("user", "history", "target"), sep="\t",
            header=("user_id:token", "item_id_list:token_seq", "item_id:token"),
        )
        part_rows.nonempty("user")
        targets = part_rows.ints("target", low=0, high=n_items - 1)
        histories: list[list[int]] = []
        for row, value in enumerate(part_rows.strings("history")):
            try:
                hist = [int(v) for v in value.split()]
            except ValueError:
                part_rows.reject(row, "history", f"{value!r} is not a space-separated list of item indices")
                hist = []
            if not hist and not part_rows.bad[row]:
                part_rows.reject(row, "history", "empty history")
            elif hist and not all(0 <= h < n_items for h in hist):
                part_rows.reject(row, "history", f"item index outside 0 .. {n_items - 1}")
            elif len(hist) > UNISREC_MAX_HISTORY:
                part_rows.reject(row, "history", f"{len(hist)} items, more than {UNISREC_MAX_HISTORY}")
            histories.append(hist)
        keep = part_rows.finish(guard)
        for row in np.flatnonzero(keep).tolist():
            per_user[part_rows.strings("user")[row]].append(
                _Row(part=part, line=part_rows.lines[row], path=part_rows.path, history=histories[row],
                     target=int(targets[row]))
            )

    users: list[str] = []
    items: list[int] = []
    stamps: list[int] = []
    for user, rows_of_user in per_user.items():
        try:
            sequence = _rebuild(rows_of_user)
        except DataError as exc:
            guard.handle(exc)
            # The whole user goes: move each of their rows from accepted to rejected.
            for r in rows_of_user:
                report.accepted[r.path] -= 1
                if (r.path, r.line) != (exc.path, exc.line):
                    report.rejected[r.path] = report.rejected.get(r.path, 0) + 1
            continue
        users.extend([user_names.get(user, user)] * len(sequence))
        items.extend(sequence)
        stamps.extend(range(len(sequence)))
    return assemble(
        name=name or stem,
        user_ids=users,
        item_ids=[by_index[i] for i in items],
        catalog=catalog,
        timestamp=np.asarray(stamps, dtype=np.int64),
        kind="interaction",
        has_time=False,
        report=report,
    )


@dataclass(frozen=True, kw_only=True)
class _Row:
    part: str
    line: int
    path: str
    history: list[int]
    target: int


def _rebuild(rows: list[_Row]) -> list[int]:
    """One user's full sequence from their rows, checked against every row.

    Rows with a full-length history cannot tell their position from their length; within train
    they are written in descending prefix order, so reversing file order puts them in time order.
    """
    by_part = {p: [r for r in rows if r.part == p] for p in ("train", "valid", "test")}
    first = rows[0]
    if len(by_part["valid"]) != 1 or len(by_part["test"]) != 1:
        n_valid, n_test = len(by_part["valid"]), len(by_part["test"])
        raise DataError(first.path, first.line, "user_id",
                        f"expected one valid and one test row, found {n_valid} and {n_test}")
    train = sorted(
        enumerate(by_part["train"]),
        key=lambda pair: (len(pair[1].history), -pair[0]),
    )
    ordered = [r for _, r in train] + by_part["valid"] + by_part["test"]
    sequence = [*ordered[0].history, *(r.target for r in ordered)]
    # Every row must be the prefix ending at its target, cut to the most recent items.
    start = len(ordered[0].history)
    for pos, r in enumerate(ordered, start=start):
        expected = sequence[max(0, pos - UNISREC_MAX_HISTORY):pos]
        if r.history != expected or sequence[pos] != r.target:
            raise DataError(r.path, r.line, "item_id_list",
                            f"history does not continue the user's sequence at position {pos}")
    return sequence


def _unisrec_stem(folder: Path) -> str:
    found = sorted(p.name.removesuffix(".train.inter") for p in folder.glob("*.train.inter"))
    if len(found) != 1:
        raise FileNotFoundError(f"expected one <Name>.train.inter in {folder}, found {found or 'none'}")
    return found[0]


def _first(header: AtomicHeader, candidates: tuple[str, ...]) -> str | None:
    return next((c for c in candidates if c in header.names), None)


def _first_sentence(text: str) -> str:
    head, sep, _ = text.partition(". ")
    return head if sep else text.rstrip(".").strip() or text
