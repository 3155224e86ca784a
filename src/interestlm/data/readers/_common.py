"""Shared reading machinery: open files (gzip transparently), split rows, validate columns.

Readers parse a whole column at once with numpy and only walk single values to *locate* the bad
ones when the vectorised conversion fails, so a clean file costs one pass of C code per column
while a broken one still gets an error naming file, 1-based line and field.
"""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from interestlm.core.errors import DataError, LoadReport, OnError, RowGuard

BoolArray = npt.NDArray[np.bool_]


def read_text(path: Path, encoding: str = "utf-8") -> str:
    """Whole file as text; ``.gz`` files are decompressed. Undecodable bytes raise a DataError."""
    raw = path.read_bytes()
    if path.suffix == ".gz" or raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if raw.startswith(b"\xef\xbb\xbf") and encoding.replace("-", "").lower() == "utf8":
        raw = raw[3:]  # a UTF-8 byte-order mark would otherwise stick to the first column name
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(str(path), line, "(encoding)", f"not valid {encoding}: {exc.reason}") from exc


def first_line(path: Path, encoding: str = "utf-8") -> str:
    """The first non-blank line of a (possibly gzipped) file, without reading the rest."""
    with path.open("rb") as raw:
        magic = raw.read(2)
        raw.seek(0)
        stream: Iterable[bytes] = gzip.GzipFile(fileobj=raw) if magic == b"\x1f\x8b" else raw
        for line in stream:
            text = line.decode(encoding, errors="replace").removeprefix("\ufeff").strip()
            if text:
                return text
    return ""


def text_lines(path: Path, encoding: str = "utf-8") -> list[str]:
    """Lines without their ``\\n`` / ``\\r\\n`` ending; list index + 1 is the line number.

    ``str.splitlines`` is avoided on purpose: it also splits on characters such as ``\\x85``
    (NEL) and ``\\x1c`` that appear inside Latin-1 titles.
    """
    text = read_text(path, encoding)
    if "\r\n" in text:
        text = text.replace("\r\n", "\n")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def find_file(folder: Path, *names: str) -> Path:
    """The first of ``names`` (also tried with ``.gz``) that exists in ``folder``."""
    for name in names:
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    raise FileNotFoundError(f"none of {', '.join(names)} found in {folder}")


class Rows:
    """String columns of one file, the line number of each row, and the rows rejected so far.

    Each check records at most one error per row (the first field found bad); :meth:`finish`
    raises the error of the earliest line (policy ``raise``) or counts every rejected row
    (policy ``skip``) and returns the mask of rows kept.
    """

    def __init__(self, path: Path, names: Sequence[str], columns: list[list[str]], lines: list[int]) -> None:
        self.path = str(path)
        self.names = tuple(names)
        self.columns = dict(zip(self.names, columns, strict=True))
        self.lines = lines
        self.bad = np.zeros(len(lines), dtype=bool)
        self.errors: dict[int, DataError] = {}

    def __len__(self) -> int:
        return len(self.lines)

    def reject(self, row: int, field: str, message: str) -> None:
        """Mark ``row`` bad (if it is not already) with a message about ``field``."""
        if not self.bad[row]:
            self.bad[row] = True
            self.errors[row] = DataError(self.path, self.lines[row], field, message)

    def strings(self, name: str) -> list[str]:
        """The raw values of column ``name``."""
        return self.columns[name]

    def nonempty(self, name: str) -> None:
        """Reject rows whose ``name`` is empty (ids must be present)."""
        for row, value in enumerate(self.columns[name]):
            if not value.strip():
                self.reject(row, name, "empty value")

    def unique_ids(self, name: str) -> None:
        """Reject rows repeating an earlier row's ``name`` (catalog ids must be unique)."""
        seen: set[str] = set()
        for row, value in enumerate(self.columns[name]):
            if self.bad[row]:
                continue
            if value in seen:
                self.reject(row, name, f"duplicate id {value!r}")
            seen.add(value)

    def ints(self, name: str, *, low: int | None = None, high: int | None = None) -> npt.NDArray[np.int64]:
        """Column ``name`` as int64; unparsable or out-of-range rows are rejected (value 0)."""
        out: npt.NDArray[np.int64] = self._numbers(name, np.int64, int, low, high)
        return out

    def floats(self, name: str, *, low: float | None = None, high: float | None = None) -> npt.NDArray[np.float64]:
        """Column ``name`` as float64; unparsable, non-finite or out-of-range rows are rejected."""
        out: npt.NDArray[np.float64] = self._numbers(name, np.float64, float, low, high)
        return out

    def _numbers(
        self,
        name: str,
        dtype: type[np.int64] | type[np.float64],
        convert: Callable[[str], Any],
        low: float | None,
        high: float | None,
    ) -> Any:
        values = self.columns[name]
        kind = "an integer" if dtype is np.int64 else "a number"
        try:
            out = np.fromiter(map(convert, values), dtype=dtype, count=len(values))
        except (ValueError, OverflowError):
            out = np.zeros(len(values), dtype=dtype)
            for row, value in enumerate(values):
                try:
                    out[row] = convert(value)
                except (ValueError, OverflowError):
                    self.reject(row, name, f"{value!r} is not {kind}")
        check_range(self, name, out, low, high)
        return out

    def finish(self, guard: RowGuard) -> BoolArray:
        """Apply the error policy; return the mask of rows kept and count them as accepted."""
        if self.errors:
            rows = sorted(self.errors)
            if guard.on_error == "raise":
                guard.handle(self.errors[rows[0]])
            for row in rows:
                guard.handle(self.errors[row])
        keep = ~self.bad
        guard.report.accept(self.path, int(keep.sum()))
        return keep


def check_range(rows: Rows, name: str, values: npt.NDArray[Any], low: float | None, high: float | None) -> None:
    """Reject rows of ``values`` outside ``[low, high]`` or not finite (rows already bad are left)."""
    bad = np.zeros(len(values), dtype=bool)
    if values.dtype.kind == "f":
        bad |= ~np.isfinite(values)
    if low is not None:
        bad |= values < low
    if high is not None:
        bad |= values > high
    bad &= ~rows.bad
    for row in np.flatnonzero(bad).tolist():
        value = values[row].item()
        if np.isfinite(value):
            rows.reject(row, name, f"{value!r} is outside [{low}, {high}]")
        else:
            rows.reject(row, name, f"{value!r} is not a finite number")


def split_rows(
    path: Path,
    names: Sequence[str],
    *,
    sep: str,
    encoding: str = "utf-8",
    header: Sequence[str] | None = None,
    quoted: bool = False,
    min_fields: int | None = None,
) -> Rows:
    """Split a delimited file into string columns with line numbers.

    ``header``, when given, is the expected first line (checked). ``quoted`` uses the csv module
    (for MovieLens CSV titles with commas); otherwise fields are split on ``sep`` literally.
    Rows with the wrong number of fields are rejected (``min_fields`` allows trailing optional
    fields, which are then filled with empty strings). Blank lines carry no row and are skipped.
    """
    lines = text_lines(path, encoding)
    start = 0
    if header is not None:
        first = next(_records([lines[0]], sep, quoted))[1] if lines else []
        if [f.strip() for f in first] != list(header):
            expected, found = sep.join(header), sep.join(first)
            raise DataError(str(path), 1, "(header)", f"expected header {expected!r}, found {found!r}")
        start = 1
    body = lines[start:]
    records: list[list[str]]
    if quoted:
        try:
            records = list(csv.reader(body, delimiter=sep, strict=True))
        except csv.Error:
            records = []
        if len(records) != len(body):
            # A quoted field spans lines: fall back to tracking where each record starts.
            numbered = list(_records(body, sep, quoted))
            line_of = [start + i for i, _ in numbered]
            records = [fields for _, fields in numbered]
        else:
            line_of = list(range(start + 1, start + 1 + len(body)))
    else:
        records = [line.split(sep) for line in body]
        line_of = list(range(start + 1, start + 1 + len(body)))
    n = len(names)
    counts = np.fromiter(map(len, records), dtype=np.int64, count=len(records))
    blank = counts == 0
    for row in np.flatnonzero(counts == 1).tolist():
        blank[row] = not records[row][0].strip()
    if blank.any():
        records = [r for r, b in zip(records, blank.tolist(), strict=True) if not b]
        line_of = [ln for ln, b in zip(line_of, blank.tolist(), strict=True) if not b]
        counts = counts[~blank]
    wrong = np.flatnonzero(counts != n).tolist()
    for row in wrong:
        records[row] = (list(records[row]) + [""] * n)[:n]
    columns = [list(col) for col in zip(*records, strict=True)] if records else [[] for _ in names]
    rows = Rows(path, names, columns, line_of)
    least = n if min_fields is None else min_fields
    for row in wrong:
        count = int(counts[row])
        if least <= count <= n:
            continue
        field = names[count] if count < n else "(row)"
        rows.reject(row, field, f"expected {n} fields separated by {sep!r}, found {count}")
    return rows


def _records(lines: list[str], sep: str, quoted: bool) -> Iterator[tuple[int, list[str]]]:
    """(1-based line number within ``lines`` where the record starts, fields)."""
    if not quoted:
        for i, line in enumerate(lines):
            yield i + 1, line.split(sep)
        return
    reader = csv.reader(lines, delimiter=sep, strict=True)
    start = 1
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error:
            # An unbalanced quote: report the line as one empty field so it is rejected for its
            # field count rather than swallowing the rest of the file.
            yield start, ["\x00"]
            start = reader.line_num + 1
            continue
        yield start, fields
        start = reader.line_num + 1


def json_lines(
    path: Path,
    guard: RowGuard,
    parse: Callable[[str], Any] = json.loads,
    *,
    encoding: str = "utf-8",
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each line that parses to a JSON object; others go to ``guard``."""
    for i, line in enumerate(text_lines(path, encoding), start=1):
        if not line.strip():
            continue
        try:
            obj = parse(line)
        except (ValueError, SyntaxError, MemoryError, RecursionError) as exc:
            guard.handle(DataError(str(path), i, "(json)", f"not a valid record: {exc}"))
            continue
        if not isinstance(obj, dict):
            guard.handle(DataError(str(path), i, "(json)", f"expected an object, found {type(obj).__name__}"))
            continue
        yield i, obj


def new_report_guard(on_error: OnError) -> tuple[LoadReport, RowGuard]:
    """A fresh report and the guard that fills it."""
    report = LoadReport()
    return report, RowGuard(report, on_error)


def normalise_tag(tag: str) -> str:
    """Lower-case and collapse whitespace, so ``"Will  Ferrell"`` and ``"will ferrell"`` merge."""
    return " ".join(tag.lower().split())


def unique(values: Sequence[str]) -> tuple[str, ...]:
    """Values without empties and repeats, first occurrence first."""
    return tuple(dict.fromkeys(v for v in values if v))


def kept(values: list[str], keep: BoolArray) -> list[str]:
    """The entries of ``values`` where ``keep`` is true."""
    if keep.all():
        return values
    return [v for v, k in zip(values, keep.tolist(), strict=True) if k]
