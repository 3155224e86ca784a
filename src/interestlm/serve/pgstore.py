"""The operation log in PostgreSQL: the same interface and guarantees as the SQLite :class:`Store`.

For deployments that already run PostgreSQL (backups, replicas, one place for data). An append is
one transaction, committed before it returns (``synchronous_commit`` is the server's; leave it on
for acknowledged = durable). The table takes an exclusive lock per append so that ``seq`` order is
commit order even if several processes append: a reader paging by ``seq`` never skips a row that
commits late. Bodies are stored as the exact JSON text; the view ``interestlm_events`` reads them as
``jsonb`` columns for people querying the database.

Several service replicas may share one database. Every append also takes the advisory lock
:data:`APPEND_LOCK` and sends ``NOTIFY interestlm_log`` (payload: its last seq) in its transaction,
so a replica that holds the lock with :meth:`PostgresStore.exclusive` knows no other row can be
committed until it lets go, and the others' followers (``serve/follow.py``) wake at the commit.
Needs ``psycopg`` (``pip install 'psycopg[binary]'``); imported only when a PostgreSQL URL is used.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from interestlm.serve.store import OPS, LogEntry, check_schema_version, log_rows, page_query, paged_entries

if TYPE_CHECKING:
    import psycopg

_OPS_SQL = ", ".join(f"'{o}'" for o in OPS)

#: The advisory lock key every append holds (and a replica across its catch-up and write).
APPEND_LOCK = 7312
#: The NOTIFY channel an append signals on commit.
CHANNEL = "interestlm_log"

_SCHEMA = [
    f"""CREATE TABLE IF NOT EXISTS interestlm_log (
        seq BIGSERIAL PRIMARY KEY,
        op TEXT NOT NULL CHECK (op IN ({_OPS_SQL})),
        user_id TEXT,
        body TEXT NOT NULL,
        received_at DOUBLE PRECISION NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS interestlm_log_user ON interestlm_log (user_id, seq)",
    "CREATE TABLE IF NOT EXISTS interestlm_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE OR REPLACE FUNCTION interestlm_log_append_only() RETURNS trigger AS $$
        BEGIN RAISE EXCEPTION 'the log is append-only'; END; $$ LANGUAGE plpgsql""",
    "DROP TRIGGER IF EXISTS interestlm_log_no_change ON interestlm_log",
    """CREATE TRIGGER interestlm_log_no_change BEFORE UPDATE OR DELETE ON interestlm_log
        FOR EACH ROW EXECUTE FUNCTION interestlm_log_append_only()""",
    """CREATE OR REPLACE VIEW interestlm_events AS
        SELECT seq, user_id, body::jsonb ->> 'item_id' AS item_id, body::jsonb ->> 'kind' AS kind,
               (body::jsonb ->> 'value')::double precision AS value,
               (body::jsonb ->> 'timestamp')::bigint AS timestamp, received_at
        FROM interestlm_log WHERE op = 'event'""",
]


def is_postgres_url(location: str) -> bool:
    """Whether ``location`` names a PostgreSQL database rather than a SQLite file."""
    return location.startswith(("postgresql://", "postgres://"))


def redact(url: str) -> str:
    """``url`` without its password (for logs and error messages)."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


class PostgresStore:
    """PostgreSQL store of the operation log; safe to share between threads (one connection, a lock).

    The connection is in autocommit mode: every read is its own statement, every write an explicit
    transaction (``BEGIN ... COMMIT``), so no snapshot is ever held between calls.
    """

    def __init__(self, url: str) -> None:
        try:
            import psycopg
        except ImportError:
            raise ImportError("a PostgreSQL event store needs psycopg: pip install 'psycopg[binary]'") from None
        self.url = url
        self.path = redact(url)
        self._lock = threading.Lock()
        try:
            self._conn: psycopg.Connection[Any] = psycopg.connect(url, autocommit=True, connect_timeout=10)
        except psycopg.OperationalError as exc:
            raise ValueError(f"{self.path}: cannot connect to the PostgreSQL event store: {exc}".strip()) from None
        with self._conn.transaction():
            # Serialise schema creation between processes starting at once.
            self._conn.execute("SELECT pg_advisory_xact_lock(7311)")
            for statement in _SCHEMA:
                self._conn.execute(statement)
        check_schema_version(self)

    def append(self, op: str, user_id: str | None, bodies: Sequence[dict[str, Any]]) -> list[int]:
        """Append rows in one transaction, committed before returning their ``seq``."""
        rows = log_rows(op, user_id, bodies)
        with self._lock, self._conn.transaction():
            # The advisory lock first: a replica holding it (``exclusive``) has applied every row
            # before its own, so no append may slip in between (re-entrant in that replica's session).
            self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (APPEND_LOCK,))
            self._conn.execute("LOCK TABLE interestlm_log IN EXCLUSIVE MODE")
            seqs = []
            for row in rows:
                cur = self._conn.execute(
                    "INSERT INTO interestlm_log (op, user_id, body, received_at) VALUES (%s, %s, %s, %s) RETURNING seq",
                    row,
                )
                fetched = cur.fetchone()
                assert fetched is not None  # RETURNING always gives the row
                seqs.append(int(fetched[0]))
            # Delivered to every listener when (and only if) the transaction commits.
            self._conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, str(seqs[-1])))
        return seqs

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the append lock for the block (a session advisory lock): no other process commits a
        row meanwhile, so rows read inside the block are every row before this process's next append.

        A process killed while holding it loses its session, and the server releases the lock.
        """
        with self._lock:
            self._conn.execute("SELECT pg_advisory_lock(%s)", (APPEND_LOCK,))
        try:
            yield
        finally:
            # A broken connection already lost the lock with its session.
            with self._lock, contextlib.suppress(Exception):
                self._conn.execute("SELECT pg_advisory_unlock(%s)", (APPEND_LOCK,))

    def entries(self, *, after: int = 0, user_id: str | None = None) -> Iterator[LogEntry]:
        """Rows with ``seq > after`` in order (optionally of one user), read in pages."""

        sql = page_query("interestlm_log", "%s", by_user=user_id is not None)

        def page(last: int) -> list[tuple[Any, ...]]:
            with self._lock:
                return self._conn.execute(sql, (last,) if user_id is None else (user_id, last)).fetchall()

        return paged_entries(page, after, where=f"event store {self.path}")

    def _scalar(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        with self._lock:
            row = self._conn.execute(sql, params).fetchone()
        return None if row is None else row[0]

    def count(self, op: str | None = None) -> int:
        """Number of log rows (of one op)."""
        if op is None:
            return int(self._scalar("SELECT COUNT(*) FROM interestlm_log"))
        return int(self._scalar("SELECT COUNT(*) FROM interestlm_log WHERE op = %s", (op,)))

    def last_seq(self) -> int:
        """The newest ``seq`` (0 for an empty log)."""
        return int(self._scalar("SELECT COALESCE(MAX(seq), 0) FROM interestlm_log"))

    def get_meta(self, key: str) -> str | None:
        """A value of the ``meta`` table, or None."""
        value = self._scalar("SELECT value FROM interestlm_meta WHERE key = %s", (key,))
        return None if value is None else str(value)

    def set_meta(self, key: str, value: str) -> None:
        """Set a ``meta`` value (committed)."""
        with self._lock, self._conn.transaction():
            self._conn.execute(
                "INSERT INTO interestlm_meta (key, value) VALUES (%s, %s) "
                "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                (key, value),
            )

    def claim_meta(self, key: str, value: str) -> str:
        """Set a ``meta`` value unless one is set (replicas starting at once agree); returns the value stored."""
        with self._lock, self._conn.transaction():
            self._conn.execute(
                "INSERT INTO interestlm_meta (key, value) VALUES (%s, %s) ON CONFLICT (key) DO NOTHING", (key, value)
            )
            row = self._conn.execute("SELECT value FROM interestlm_meta WHERE key = %s", (key,)).fetchone()
        assert row is not None  # inserted, or there already
        return str(row[0])

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()
