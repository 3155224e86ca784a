"""The embedded store: an append-only operation log in SQLite (WAL mode).

Every write the service accepts (feedback events, which also create new users; profile edits; items) is one
row of ``log``, committed before the reply: acknowledged means durable. The log is the source
of truth; on start-up the service replays it, in ``seq`` order, onto the freshly loaded
artifacts, which rebuilds every profile exactly as it was served. (A profile snapshot would
save replay time but would have to be kept consistent with added items and artifacts; replay
is measured in ``benchmarks/bench_serve.py`` and is fast enough at this scale.)

``meta`` records which artifacts the log belongs to, so a log is never replayed onto another
model. The view ``events`` shows the feedback rows as columns for people reading the file.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

#: Kinds of log row.
OPS: tuple[str, ...] = ("event", "edit", "items")

SCHEMA_VERSION = "1"

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    op TEXT NOT NULL CHECK (op IN ({", ".join(repr(o) for o in OPS)})),
    user_id TEXT,
    body TEXT NOT NULL,
    received_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS log_user ON log (user_id, seq);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TRIGGER IF NOT EXISTS log_no_update BEFORE UPDATE ON log
    BEGIN SELECT RAISE(ABORT, 'the log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS log_no_delete BEFORE DELETE ON log
    BEGIN SELECT RAISE(ABORT, 'the log is append-only'); END;
CREATE VIEW IF NOT EXISTS events AS
    SELECT seq, user_id,
           json_extract(body, '$.item_id') AS item_id,
           json_extract(body, '$.kind') AS kind,
           json_extract(body, '$.value') AS value,
           json_extract(body, '$.timestamp') AS timestamp,
           received_at
    FROM log WHERE op = 'event';
"""


@dataclass(frozen=True, kw_only=True)
class LogEntry:
    """One accepted write, as stored."""

    seq: int
    op: str
    user_id: str | None
    body: dict[str, Any]
    received_at: float


def check_schema_version(store: LogStore) -> None:
    """Stamp a new store with :data:`SCHEMA_VERSION`; close and refuse a store of another version."""
    version = store.claim_meta("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        store.close()
        raise ValueError(f"{store.path}: store schema version {version}, this release reads {SCHEMA_VERSION}")


def log_rows(op: str, user_id: str | None, bodies: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """``(op, user_id, body JSON, received_at)`` rows for an append; unknown ops are refused."""
    if op not in OPS:
        raise ValueError(f"log op {op!r} is not one of {OPS}")
    now = time.time()
    return [(op, user_id, json.dumps(b, ensure_ascii=False, separators=(",", ":")), now) for b in bodies]


#: Log rows read per query while replaying or listing.
PAGE_ROWS = 5000


def page_query(table: str, mark: str, *, by_user: bool) -> str:
    """The SELECT of one page of log rows after a ``seq`` (of one user when ``by_user``, whose id
    comes first in the parameters); ``mark`` is the driver's placeholder (``?`` or ``%s``)."""
    where = f"user_id = {mark} AND seq > {mark}" if by_user else f"seq > {mark}"
    return f"SELECT seq, op, user_id, body, received_at FROM {table} WHERE {where} ORDER BY seq LIMIT {PAGE_ROWS}"


class CorruptRow(ValueError):
    """A log row that cannot be read; the message names the store, the row's ``seq`` and the field."""


def paged_entries(
    page: Callable[[int], Sequence[tuple[Any, ...]]], after: int, *, where: str = "the event log"
) -> Iterator[LogEntry]:
    """Log entries from ``page(last_seq)`` (rows ``(seq, op, user_id, body, received_at)`` after
    ``last_seq``, in order), page after page until one comes back empty. A row whose body is not a
    JSON object raises :class:`CorruptRow` naming ``where``, its seq and the field."""
    last = after
    while True:
        rows = page(last)
        if not rows:
            return
        for seq, op, uid, body, received in rows:
            try:
                parsed = json.loads(body)
            except (TypeError, ValueError) as exc:
                raise CorruptRow(f"{where}, log row {seq}, field body: not valid JSON ({exc})") from None
            if not isinstance(parsed, dict):
                raise CorruptRow(f"{where}, log row {seq}, field body: not a JSON object")
            yield LogEntry(seq=int(seq), op=str(op), user_id=uid, body=parsed, received_at=float(received))
        last = int(rows[-1][0])


def private_file(path: Path) -> None:
    """Create ``path`` (empty) readable and writable by its owner only, if it does not exist: an
    event log holds people's likes and dislikes. SQLite gives its -wal and -shm files the
    database file's permissions."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


class LogStore(Protocol):
    """What the service needs of an operation log (SQLite :class:`Store`, or ``PostgresStore``)."""

    path: Any

    def append(self, op: str, user_id: str | None, bodies: Sequence[dict[str, Any]]) -> list[int]:
        """Append rows in one transaction, durable before returning their ``seq``."""
        ...

    def entries(self, *, after: int = 0, user_id: str | None = None) -> Iterator[LogEntry]:
        """Rows with ``seq > after`` in order."""
        ...

    def count(self, op: str | None = None) -> int:
        """Number of log rows (of one op)."""
        ...

    def last_seq(self) -> int:
        """The newest ``seq`` (0 for an empty log)."""
        ...

    def get_meta(self, key: str) -> str | None:
        """A value of the meta table, or None."""
        ...

    def set_meta(self, key: str, value: str) -> None:
        """Set a meta value (committed)."""
        ...

    def claim_meta(self, key: str, value: str) -> str:
        """Set a meta value unless one is set (atomically: processes starting at once agree);
        returns the value stored."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...


@runtime_checkable
class SharedLogStore(LogStore, Protocol):
    """A log several processes append to (PostgreSQL): a replica holds ``exclusive()`` from
    before it reads the rows it has not applied until its own append is committed."""

    url: str

    def exclusive(self) -> AbstractContextManager[None]:
        """Hold the append lock for the block: no other process commits a row meanwhile."""
        ...


class Store:
    """SQLite store of the operation log; safe to share between threads (one connection, a lock)."""

    def __init__(self, path: Path | str, *, synchronous: str = "FULL") -> None:
        self.path = Path(path)
        private_file(self.path)
        self._lock = threading.Lock()
        # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE ... COMMIT) below.
        self._conn = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=30)
        try:
            mode = self._conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise ValueError(f"{self.path}: SQLite could not switch to WAL mode (got {mode!r})")
            self._conn.execute(f"PRAGMA synchronous={synchronous}")
            self._conn.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise ValueError(f"{self.path}: not a usable SQLite store: {exc}") from None
        check_schema_version(self)

    def append(self, op: str, user_id: str | None, bodies: Sequence[dict[str, Any]]) -> list[int]:
        """Append rows in one transaction, committed (and synced) before returning their ``seq``."""
        rows = log_rows(op, user_id, bodies)
        with self._lock:
            cur = self._conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                seqs = []
                for row in rows:
                    cur.execute("INSERT INTO log (op, user_id, body, received_at) VALUES (?, ?, ?, ?)", row)
                    seqs.append(int(cur.lastrowid or 0))
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
        return seqs

    def entries(self, *, after: int = 0, user_id: str | None = None) -> Iterator[LogEntry]:
        """Rows with ``seq > after`` in order (optionally of one user), read in pages."""

        sql = page_query("log", "?", by_user=user_id is not None)

        def page(last: int) -> list[tuple[Any, ...]]:
            with self._lock:
                return self._conn.execute(sql, (last,) if user_id is None else (user_id, last)).fetchall()

        return paged_entries(page, after, where=f"event store {self.path}")

    def count(self, op: str | None = None) -> int:
        """Number of log rows (of one op)."""
        with self._lock:
            if op is None:
                row = self._conn.execute("SELECT COUNT(*) FROM log").fetchone()
            else:
                row = self._conn.execute("SELECT COUNT(*) FROM log WHERE op = ?", (op,)).fetchone()
        return int(row[0])

    def last_seq(self) -> int:
        """The newest ``seq`` (0 for an empty log)."""
        with self._lock:
            row = self._conn.execute("SELECT COALESCE(MAX(seq), 0) FROM log").fetchone()
        return int(row[0])

    def get_meta(self, key: str) -> str | None:
        """A value of the ``meta`` table, or None."""
        with self._lock:
            row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Set a ``meta`` value (committed)."""
        with self._lock:
            self._conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def claim_meta(self, key: str, value: str) -> str:
        """Set a ``meta`` value unless one is set; returns the value stored."""
        with self._lock:
            self._conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", (key, value))
            row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0])

    def close(self) -> None:
        """Checkpoint the WAL and close the connection."""
        with self._lock:
            # A checkpoint is an optimisation; the next open replays the WAL anyway.
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._conn.close()
