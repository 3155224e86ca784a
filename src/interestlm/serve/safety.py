"""Store safety: the store's identity marker, start-up checks, online backup and verification.

A lost event store used to be silent: a missing or empty file started cleanly at ``log_seq 0``
and a copy taken without its ``-wal`` lost acknowledged events. Now every store carries an
identity (``meta.store_id``, a random UUID), and a marker file beside it records that identity
and the newest ``seq`` the service has seen committed. At start-up a store that is missing or
empty while a marker exists, one with another identity (foreign), or one whose log ends before
the marker's ``last_seq`` (truncated) is refused with a message saying what to do, unless the
operator passes ``--new-store`` (take the store as it is, and rewrite the marker).

The marker is rewritten (atomically: temporary file, then rename) at most once a second after
writes and at shutdown, so after a crash it may lag the log by up to a second: it is a floor, and
a store is refused only when it holds *less* than the marker. Losing the marker together with the
store (the whole directory) is not detectable here; back the store up with
``interestlm store backup`` (SQLite's online backup API, consistent with the WAL).

Files this module or the SQLite store create are readable by their owner only (0600).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sqlite3
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interestlm.serve.store import OPS, LogStore, private_file

#: Kinds of event a log row may hold (the wire schema's ``EventKind``).
EVENT_KINDS = frozenset({"view", "click", "like", "dislike", "rate", "review"})
#: Seconds between marker rewrites after writes.
MARKER_EVERY_S = 1.0


class StoreRefused(ValueError):
    """The store does not match its marker (missing, empty, foreign or truncated)."""


def marker_path_for(store_path: Path) -> Path:
    """The marker beside a SQLite store: ``STORE.marker.json``."""
    return store_path.with_name(store_path.name + ".marker.json")


@dataclass
class StoreMarker:
    """The store identity and newest committed ``seq`` recorded beside the store."""

    path: Path
    store_id: str | None = None
    last_seq: int = 0
    _written_at: float = field(default=0.0, repr=False)

    @classmethod
    def read(cls, path: Path) -> StoreMarker | None:
        """The marker at ``path``, None if there is none; a malformed marker is an error."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(path=path, store_id=str(data["store_id"]), last_seq=int(data["last_seq"]))
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError) as exc:
            raise StoreRefused(f"{path}: the store marker is unreadable ({type(exc).__name__}: {exc})") from None

    def write(self, store_id: str, last_seq: int) -> None:
        """Record ``store_id`` and ``last_seq`` (atomic replace; owner-only permissions)."""
        self.store_id, self.last_seq = store_id, last_seq
        payload = {
            "store_id": store_id,
            "last_seq": last_seq,
            "written_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "note": "written by interestlm serve: the identity and newest seq of the event store beside it",
        }
        # One temporary name per process: replicas on one host may share a marker (a lower bound
        # of the shared log's end, whichever of them wrote it last).
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(payload, out, indent=1)
        os.replace(tmp, self.path)
        self._written_at = time.monotonic()

    def advance(self, last_seq: int, *, force: bool = False) -> None:
        """Rewrite the marker with a newer ``last_seq`` if a second has passed (or ``force``)."""
        if self.store_id is None or last_seq <= self.last_seq:
            return
        if force or time.monotonic() - self._written_at >= MARKER_EVERY_S:
            self.write(self.store_id, last_seq)


def check_store(store: LogStore, marker_path: Path | None, *, new_store: bool) -> StoreMarker | None:
    """Check ``store`` against its marker, give it an identity if it has none, and (re)write the
    marker; raises :class:`StoreRefused` for a missing, empty, foreign or truncated store unless
    ``new_store``. Returns the marker to keep current (None without a marker path)."""
    store_id = store.get_meta("store_id")
    last = store.last_seq()
    marker = StoreMarker.read(marker_path) if marker_path is not None else None
    where = f"event store {store.path}"
    if marker is not None and not new_store:
        how = (
            "restore the store (or its backup from `interestlm store backup`), or start with --new-store "
            "to serve this store as it is (acknowledged writes missing from it are then lost)"
        )
        if store_id is None and last == 0:
            raise StoreRefused(
                f"{where} is missing or empty, but its marker {marker.path} records store {marker.store_id} "
                f"with log_seq {marker.last_seq}: {how}"
            )
        if store_id is not None and store_id != marker.store_id:
            raise StoreRefused(
                f"{where} is another store (id {store_id}) than the one its marker {marker.path} records "
                f"(id {marker.store_id}): {how}"
            )
        if last < marker.last_seq:
            raise StoreRefused(
                f"{where} ends at log_seq {last}, but its marker {marker.path} records log_seq {marker.last_seq} "
                f"(truncated, e.g. copied without its -wal file): {how}"
            )
    if store_id is None:
        # Claimed, not set: replicas starting at once on a new shared store agree on one identity.
        store_id = store.claim_meta("store_id", uuid.uuid4().hex)
    if marker_path is None:
        return None
    marker = marker or StoreMarker(path=marker_path)
    marker.write(store_id, last)
    return marker


# ---------------------------------------------------------------------------- backup and verify
def backup_sqlite(source: Path, dest: Path) -> dict[str, Any]:
    """Copy the SQLite store ``source`` to ``dest`` with SQLite's online backup API: a consistent
    copy including whatever is still only in the WAL, safe while the server runs. ``dest`` must
    not exist; it is created 0600. Returns what was copied."""
    if not source.exists():
        raise FileNotFoundError(f"event store {source} does not exist")
    if dest.exists():
        raise ValueError(f"{dest} exists: a backup never overwrites a file")
    private_file(dest)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    out = sqlite3.connect(str(dest))
    try:
        src.backup(out)
        last_seq = int(out.execute("SELECT COALESCE(MAX(seq), 0) FROM log").fetchone()[0])
        rows = int(out.execute("SELECT COUNT(*) FROM log").fetchone()[0])
        found = out.execute("SELECT value FROM meta WHERE key = 'store_id'").fetchone()
    finally:
        out.close()
        src.close()
    return {
        "source": str(source),
        "dest": str(dest),
        "rows": rows,
        "last_seq": last_seq,
        "store_id": found and found[0],
    }


@dataclass
class VerifyReport:
    """What ``interestlm store verify`` found: counts, and every problem with its row and field."""

    path: str
    rows: int = 0
    last_seq: int = 0
    store_id: str | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No problem found."""
        return not self.problems


def event_problem(body: dict[str, Any]) -> str | None:
    """The first field of an event row's body that is missing or invalid, or None."""
    return _check_event(body)


def _check_event(body: dict[str, Any]) -> str | None:
    if not isinstance(body.get("item_id"), str) or not body["item_id"]:
        return "item_id"
    if body.get("kind") not in EVENT_KINDS:
        return "kind"
    ts = body.get("timestamp")
    if isinstance(ts, bool) or not isinstance(ts, int) or not 0 <= ts <= 4_102_444_800:
        return "timestamp"
    value = body.get("value")
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)
    ):
        return "value"
    if body.get("text") is not None and not isinstance(body["text"], str):
        return "text"
    return None


def check_row(seq: int, op: str, user_id: Any, body_text: Any) -> str | None:
    """The problem with one log row (naming its seq and field), or None."""
    if op not in OPS:
        return f"log row {seq}: field op: unknown op {op!r}"
    try:
        body = json.loads(body_text)
    except (TypeError, ValueError) as exc:
        return f"log row {seq}: field body: not valid JSON ({exc})"
    if not isinstance(body, dict):
        return f"log row {seq}: field body: not a JSON object"
    if op in ("event", "edit") and not user_id:
        return f"log row {seq}: field user_id: missing on an {op} row"
    if op == "event":
        bad = _check_event(body)
        if bad is not None:
            return f"log row {seq}: field body.{bad}: missing or invalid ({body.get(bad)!r:.60})"
    if op == "items" and not (isinstance(body.get("items"), list) and body["items"]):
        return f"log row {seq}: field body.items: missing or empty"
    return None


def verify_sqlite(path: Path, marker_path: Path | None = None) -> VerifyReport:
    """Check a SQLite store read-only: SQLite's integrity check, every row's JSON and fields,
    ``seq`` gaps, and agreement with its marker."""
    if not path.exists():
        raise FileNotFoundError(f"event store {path} does not exist")
    report = VerifyReport(path=str(path))
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        for (line,) in conn.execute("PRAGMA integrity_check").fetchall():
            if line != "ok":
                report.problems.append(f"integrity_check: {line}")
        found = conn.execute("SELECT value FROM meta WHERE key = 'store_id'").fetchone()
        report.store_id = None if found is None else str(found[0])
        previous = 0
        for seq, op, user_id, body in conn.execute("SELECT seq, op, user_id, body FROM log ORDER BY seq"):
            report.rows += 1
            problem = check_row(int(seq), str(op), user_id, body)
            if problem is not None:
                report.problems.append(problem)
            if previous and seq != previous + 1:
                report.problems.append(f"log rows {previous + 1} to {seq - 1} are missing (a gap in seq)")
            previous = int(seq)
        report.last_seq = previous
    except sqlite3.DatabaseError as exc:
        report.problems.append(f"not a readable SQLite store: {exc}")
    finally:
        conn.close()
    marker = StoreMarker.read(marker_path or marker_path_for(path))
    if marker is not None:
        if report.store_id != marker.store_id:
            report.problems.append(f"store id {report.store_id} differs from the marker's {marker.store_id}")
        if report.last_seq < marker.last_seq:
            report.problems.append(f"log ends at seq {report.last_seq}, the marker records {marker.last_seq}")
    return report
