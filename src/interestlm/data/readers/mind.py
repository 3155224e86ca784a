"""MIND (Microsoft News Dataset): ``news.tsv`` and ``behaviors.tsv``.

``news.tsv``: ``id, category, subcategory, title, abstract, url, title entities, abstract
entities`` (entity cells are JSON lists of objects with a ``Label``). Categories become
``(category, subcategory)``, entity labels become tags.

``behaviors.tsv``: ``impression id, user, time, history, impressions``. Impression entries
``N123-1`` become ``kind="click"`` rows and ``N123-0`` ``kind="view"`` rows at the impression time.
History entries are clicks without times: each user's history is emitted once, as ``click`` rows
placed just before the user's earliest impression, one second apart and in history order
(``t0 - n, ..., t0 - 1`` for ``n`` history items), so a time sort keeps the history before every
impression and in its own order. MIND repeats a user's history in each of their impressions:
entries already emitted for that user are counted in the report notes, not duplicated; entries a
later impression adds are appended to the history.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from interestlm.core.errors import OnError, RowGuard
from interestlm.core.tables import Catalog, Dataset
from interestlm.data.build import assemble
from interestlm.data.readers._common import find_file, kept, new_report_guard, split_rows, unique

#: Format of the behaviors' time column, e.g. ``11/12/2019 2:14:46 PM``.
MIND_TIME_FORMAT = "%m/%d/%Y %I:%M:%S %p"

_NEWS_COLUMNS = (
    "news id", "category", "subcategory", "title", "abstract", "url", "title entities", "abstract entities",
)
_BEHAVIOR_COLUMNS = ("impression id", "user", "time", "history", "impressions")
_IMPRESSION = re.compile(r"(\S+)-([01])\Z")


def read_mind(path: Path | str, *, on_error: OnError = "raise", name: str | None = None) -> Dataset:
    """Read a MIND folder (``news.tsv`` and ``behaviors.tsv``) into clicks and views."""
    folder = Path(path)
    report, guard = new_report_guard(on_error)
    catalog = read_mind_news(find_file(folder, "news.tsv"), guard)

    rows = split_rows(find_file(folder, "behaviors.tsv"), _BEHAVIOR_COLUMNS, sep="\t")
    rows.ints("impression id", low=0)
    rows.nonempty("user")
    times = pd.to_datetime(pd.Series(rows.strings("time"), dtype=object), format=MIND_TIME_FORMAT, errors="coerce")
    stamps = np.zeros(len(rows), dtype=np.int64)
    valid_time = times.notna().to_numpy()
    stamps[valid_time] = times[valid_time].to_numpy(dtype="datetime64[s]").astype(np.int64)
    for row in np.flatnonzero(~valid_time).tolist():
        rows.reject(row, "time", f"{rows.strings('time')[row]!r} is not a time like 11/12/2019 2:14:46 PM")
    impressions: list[list[tuple[str, bool]]] = []
    for row, cell in enumerate(rows.strings("impressions")):
        entries: list[tuple[str, bool]] = []
        for token in cell.split():
            match = _IMPRESSION.match(token)
            if match is None:
                rows.reject(row, "impressions", f"{token!r} is not NEWSID-0 or NEWSID-1")
                break
            entries.append((match.group(1), match.group(2) == "1"))
        if not entries and not rows.bad[row]:
            rows.reject(row, "impressions", "no impression entries")
        impressions.append(entries)
    keep = rows.finish(guard)
    kept_rows = np.flatnonzero(keep).tolist()

    user_col = rows.strings("user")
    histories = rows.strings("history")
    first_time: dict[str, int] = {}
    history_of: dict[str, list[str]] = {}
    repeated = 0
    for row in kept_rows:
        user = user_col[row]
        first_time[user] = min(first_time.get(user, int(stamps[row])), int(stamps[row]))
        items = histories[row].split()
        if user not in history_of:
            history_of[user] = items
            continue
        # Entries already in this user's history are MIND's repetition; the rest are new clicks.
        remaining = Counter(history_of[user])
        for item in items:
            if remaining[item] > 0:
                remaining[item] -= 1
                repeated += 1
            else:
                history_of[user].append(item)
    report.note("history clicks repeated across a user's impressions (deduplicated)", repeated)

    users: list[str] = []
    items_out: list[str] = []
    times_out: list[int] = []
    kinds: list[str] = []
    emitted: set[str] = set()
    n_history = 0
    for row in kept_rows:
        user = user_col[row]
        if user not in emitted:
            emitted.add(user)
            hist = history_of[user]
            t0 = first_time[user]
            users.extend([user] * len(hist))
            items_out.extend(hist)
            times_out.extend(range(t0 - len(hist), t0))
            kinds.extend(["click"] * len(hist))
            n_history += len(hist)
        when = int(stamps[row])
        for item, clicked in impressions[row]:
            users.append(user)
            items_out.append(item)
            times_out.append(when)
            kinds.append("click" if clicked else "view")
    report.note("history clicks (timed just before the user's first impression)", n_history)
    return assemble(
        name=name or folder.name,
        user_ids=users,
        item_ids=items_out,
        catalog=catalog,
        timestamp=np.asarray(times_out, dtype=np.int64),
        kind=kinds,
        report=report,
    )


def read_mind_news(path: Path, guard: RowGuard) -> Catalog:
    """Read ``news.tsv`` into a catalog: title, abstract, (category, subcategory), entity labels."""
    rows = split_rows(path, _NEWS_COLUMNS, sep="\t")
    rows.nonempty("news id")
    rows.unique_ids("news id")
    labels: list[list[str]] = [[] for _ in range(len(rows))]
    for column in ("title entities", "abstract entities"):
        for row, cell in enumerate(rows.strings(column)):
            if not cell.strip() or rows.bad[row]:
                continue
            try:
                entities = json.loads(cell)
            except json.JSONDecodeError as exc:
                rows.reject(row, column, f"not valid JSON: {exc.msg}")
                continue
            if not isinstance(entities, list) or not all(
                isinstance(e, dict) and isinstance(e.get("Label"), str) for e in entities
            ):
                rows.reject(row, column, "expected a JSON list of objects with a string Label")
                continue
            labels[row].extend(e["Label"] for e in entities)
    keep = rows.finish(guard)
    return Catalog.build(
        kept(rows.strings("news id"), keep),
        titles=kept(rows.strings("title"), keep),
        descriptions=kept(rows.strings("abstract"), keep),
        categories=[
            unique([c, s])
            for c, s in zip(kept(rows.strings("category"), keep), kept(rows.strings("subcategory"), keep), strict=True)
        ],
        tags=[unique(lab) for lab, k in zip(labels, keep.tolist(), strict=True) if k],
    )
