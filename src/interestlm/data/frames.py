"""pandas DataFrames in: the interaction log (and an optional item table) as a user already holds it.

The frames go through the generic table reader's machinery (:mod:`interestlm.data.readers.generic`):
the same column guessing, the same field checks and the same raise / skip contract; only the
source of the string columns differs. An error names the frame, the row's index label and the
field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from interestlm.core.errors import BadInputError, DataError, OnError
from interestlm.core.tables import Dataset
from interestlm.data.readers._common import Rows, new_report_guard
from interestlm.data.readers.generic import (
    catalog_from_rows,
    cell_text,
    guess_columns,
    guess_item_columns,
    interactions_from_rows,
    item_wanted,
    used_columns,
)

#: How to name columns when they cannot be guessed from a frame.
FRAME_HINT = 'Name them: from_pandas(df, columns={"user": ..., "item": ..., "time": ..., "rating": ...})'


class FrameRowError(DataError):
    """A malformed DataFrame row: names the frame, the row's index label and the field.

    ``line`` is the 1-based position of the row (what file readers call the line); ``index`` is
    its label in the frame's index, which is what the message shows.
    """

    def __init__(self, frame: str, position: int, index: Any, field_name: str, message: str) -> None:
        super().__init__(frame, position + 1, field_name, message)
        self.index = index
        self.args = (f"{frame}: row index {index!r}: field {field_name!r}: {message}",)

    def __str__(self) -> str:
        return str(self.args[0])


class FrameRows(Rows):
    """:class:`Rows` read from a DataFrame; rejections name the row's index label."""

    def __init__(self, frame: str, names: Sequence[str], columns: list[list[str]], labels: list[Any]) -> None:
        super().__init__(Path(frame), names, columns, list(range(1, len(labels) + 1)))
        self.path = frame
        self.labels = labels

    def reject(self, row: int, field: str, message: str) -> None:
        """Mark ``row`` bad (if it is not already) with a message naming its index label."""
        if not self.bad[row]:
            self.bad[row] = True
            self.errors[row] = FrameRowError(self.path, row, self.labels[row], field, message)


def from_pandas(
    interactions: pd.DataFrame,
    items: pd.DataFrame | None = None,
    *,
    columns: Mapping[str, str | None] | None = None,
    name: str = "dataframe",
    on_error: OnError = "raise",
) -> Dataset:
    """A :class:`~interestlm.core.tables.Dataset` from an interaction DataFrame (and an item table).

    Columns are guessed from common names (``user_id``/``userId``/``user``, ``item_id``/
    ``itemId``/``movieId``/``item``, ``timestamp``/``time``/``ts``, ``rating``/``score``, ...);
    ``columns={"user": ..., "item": ..., "time": ..., "rating": ...}`` names them instead (``None``:
    the frame has no such column; ``review``, ``kind`` and ``weight`` may be named too). The columns
    used are in ``dataset.report.columns``. Times may be integers (seconds since the epoch),
    pandas date-times (UTC when naive) or date strings; without a time column a row's position in
    its user's rows stands for it.

    ``items`` holds an item-id column (the interactions' item column name, or a guessed one) and
    any text columns: ``title``, ``description``, ``genres``/``categories`` and ``tags`` (lists, or
    strings split on ``|``), ``brand`` (or name them with the same ``columns`` keys). Items
    without a row there, or without text, are fine: their text is empty.

    Bad rows raise a :class:`~interestlm.core.errors.DataError` naming the row's index label and
    the field; ``on_error="skip"`` drops and counts them in ``dataset.report``.
    """
    frame = _frame(interactions, "interactions")
    report, guard = new_report_guard(on_error)
    col_map = guess_columns(_names(frame), columns, source="the interactions DataFrame", hint=FRAME_HINT)
    catalog = None
    item_map = None
    if items is not None:
        item_frame = _frame(items, "items")
        item_map = guess_item_columns(
            _names(item_frame), columns, item=col_map.item, source="the items DataFrame", hint=FRAME_HINT
        )
        catalog = catalog_from_rows(frame_rows(item_frame, item_wanted(item_map), "items DataFrame"), item_map, guard)
    wanted = list(dict.fromkeys(used_columns(col_map).values()))
    rows = frame_rows(frame, wanted, "interactions DataFrame")
    dataset = interactions_from_rows(rows, col_map, guard, report, catalog=catalog, name=name)
    dataset.report.columns.update(used_columns(col_map))
    if item_map is not None:
        dataset.report.columns.update({f"items.{k}": v for k, v in used_columns(item_map).items()})
    return dataset


def frame_rows(frame: pd.DataFrame, wanted: Sequence[str], label: str) -> FrameRows:
    """The ``wanted`` columns of ``frame`` as the reader's strings (date-times as epoch seconds)."""
    by_name = {str(c): c for c in frame.columns}
    return FrameRows(label, wanted, [_strings(frame[by_name[w]]) for w in wanted], frame.index.tolist())


def _strings(series: pd.Series) -> list[str]:
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    if pd.api.types.is_datetime64_dtype(series.dtype):
        # Whole seconds straight from the datetime64 values: no string round trip per row.
        stamps = series.to_numpy(dtype="datetime64[s]")
        missing = np.isnat(stamps)
        seconds = stamps.astype(np.int64).tolist()
        return ["" if m else str(s) for s, m in zip(seconds, missing.tolist(), strict=True)]
    # Whole columns at once for the common dtypes (a cell at a time costs seconds per million rows);
    # the result is what cell_text gives each cell.
    if isinstance(series.dtype, np.dtype) and series.dtype.kind in "iub":
        return [str(v) for v in series.tolist()]
    if isinstance(series.dtype, np.dtype) and series.dtype.kind == "f":
        values = series.to_numpy(np.float64)
        finite = np.isfinite(values)
        whole = finite & (values == np.floor(values)) & (np.abs(values) < 2.0**63)
        text = values.astype(str).astype(object)
        text[whole] = values[whole].astype(np.int64).astype(str)
        text[np.isnan(values)] = ""
        return [str(v) for v in text.tolist()]
    if pd.api.types.infer_dtype(series, skipna=False) == "string" and not series.isna().any():
        return [str(v) for v in series.tolist()]
    return [cell_text(v) for v in series.tolist()]


def _frame(value: Any, what: str) -> pd.DataFrame:
    if not isinstance(value, pd.DataFrame):
        raise BadInputError(f"from_pandas: {what} must be a pandas DataFrame, not {type(value).__name__}")
    if value.columns.has_duplicates:
        repeated = sorted({str(c) for c in value.columns[value.columns.duplicated()]})
        raise BadInputError(f"from_pandas: the {what} DataFrame repeats column(s) {', '.join(repeated)}")
    return value


def _names(frame: pd.DataFrame) -> list[str]:
    return [str(c) for c in frame.columns]
