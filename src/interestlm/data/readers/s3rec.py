"""S3-Rec sequence files: ``<Name>.txt`` (``user item item ...``) and ``<Name>_item2attributes.json``.

These files (Amazon Beauty / Toys_and_Games, Yelp, LastFM) carry no times, ratings or text: each
line is one user's items in time order. Rows get ``timestamp`` = position in the user's sequence
and the dataset ``has_time=False``, so a time-ordered leave-one-out split takes exactly the last
item as test and the second-last as validation, as the published tables do.
"""

from __future__ import annotations

import json
import re
from itertools import chain
from pathlib import Path

import numpy as np

from interestlm.core.errors import DataError, OnError, RowGuard
from interestlm.core.tables import Catalog, Dataset
from interestlm.data.build import assemble
from interestlm.data.readers._common import new_report_guard, read_text, text_lines


def read_s3rec(
    path: Path | str, *, on_error: OnError = "raise", attributes: Path | str | None = None, name: str | None = None
) -> Dataset:
    """Read ``<Name>.txt`` and, if present beside it, ``<Name>_item2attributes.json``.

    Item ids are the files' integer ids as strings; the catalog lists every item of the sequences
    and of the attribute file in increasing id order, with the attribute ids (as strings) in
    ``Catalog.attributes``. A line whose ids are not positive integers, or that has a user but no
    item, is malformed.
    """
    seq_path = Path(path)
    report, guard = new_report_guard(on_error)
    users: list[str] = []
    items: list[str] = []
    positions: list[int] = []
    accepted = 0
    length: dict[str, int] = {}
    for line_no, line in enumerate(text_lines(seq_path), start=1):
        if _VALID_LINE.match(line) is None:
            parts = line.split()
            if not parts:
                continue
            error = _check_ids(parts) or ("item 1", "a user id with no items")
            guard.handle(DataError(str(seq_path), line_no, *error))
            continue
        parts = line.split()
        user = parts[0]
        start = length.get(user, 0)
        n = len(parts) - 1
        length[user] = start + n
        users.extend([user] * n)
        items.extend(parts[1:])
        positions.extend(range(start, start + n))
        accepted += 1
    report.accept(str(seq_path), accepted)
    repeated_users = accepted - len(length)
    report.note("users on more than one line (sequences concatenated)", repeated_users)

    default_attr = seq_path.with_name(f"{seq_path.stem}_item2attributes.json")
    attr_path = Path(attributes) if attributes is not None else default_attr
    item_attributes: dict[str, tuple[str, ...]] = {}
    if attr_path.is_file():
        item_attributes = read_item_attributes(attr_path, guard)
    all_ids = sorted(set(items) | set(item_attributes), key=int)
    catalog = Catalog.build(all_ids, attributes=[item_attributes.get(i, ()) for i in all_ids])
    return assemble(
        name=name or seq_path.stem,
        user_ids=users,
        item_ids=items,
        catalog=catalog,
        timestamp=np.asarray(positions, dtype=np.int64),
        kind="interaction",
        has_time=False,
        report=report,
    )


def read_item_attributes(path: Path, guard: RowGuard) -> dict[str, tuple[str, ...]]:
    """``{"item": [attribute, ...]}`` as item id -> attribute ids (strings, repeats removed).

    The file is one JSON object, usually on one line, so errors name the item id as the field.
    """
    text = read_text(path)
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(str(path), exc.lineno, "(json)", exc.msg) from exc
    if not isinstance(raw, dict):
        raise DataError(str(path), 1, "(json)", "expected an object mapping item id to a list of attribute ids")
    values = list(raw.values())
    clean = all(type(v) is list for v in values) and set(map(type, chain.from_iterable(values))) <= {int}
    out: dict[str, tuple[str, ...]] = {}
    for item, attrs in raw.items():
        if not (item.isascii() and item.isdigit() and item[0] != "0"):
            guard.handle(DataError(str(path), 1, item, "item ids must be positive integers"))
            continue
        # Type checks per item only when the bulk check above found a problem somewhere.
        if not clean and (
            not isinstance(attrs, list) or not all(isinstance(a, int) and not isinstance(a, bool) for a in attrs)
        ):
            guard.handle(DataError(str(path), 1, item, "attributes must be a list of integers"))
            continue
        out[item] = tuple(dict.fromkeys(map(str, attrs)))
    guard.report.accept(str(path), len(out))
    return out


#: A well-formed line: a user id and at least one item id, all positive integers without leading 0.
_VALID_LINE = re.compile(r"\s*[1-9][0-9]*(?:[ \t]+[1-9][0-9]*)+\s*\Z", re.ASCII)


def _check_ids(parts: list[str]) -> tuple[str, str] | None:
    for pos, value in enumerate(parts):
        if not (value.isascii() and value.isdigit() and value[0] != "0"):
            field = "user" if pos == 0 else f"item {pos}"
            return field, f"{value!r} is not a positive integer id"
    return None
