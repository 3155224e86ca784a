"""The follower: one thread per replica that applies the rows other replicas write to a shared
PostgreSQL log.

It sleeps on ``LISTEN interestlm_log`` (every append sends ``NOTIFY`` with its last seq, delivered
at commit) and wakes at least every ``interval`` seconds anyway, so a lost notification or a
broken listening connection only delays a row, never loses it: each wake compares the log's
newest seq with the one applied and, if behind, calls :meth:`Service.catch_up`, which reads every
row after the applied seq. Its own replica's notifications come back too; they carry a seq already
applied and cost nothing.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from interestlm.serve.pgstore import CHANNEL

if TYPE_CHECKING:
    import psycopg

    from interestlm.serve.service import Service

log = logging.getLogger("interestlm.serve")

#: Seconds between attempts to open the listening connection again after it failed.
RECONNECT_S = 5.0


class Follower:
    """Keeps ``service`` up to date with a shared log: start it after the replay, stop it before
    the store closes."""

    def __init__(self, service: Service, url: str, *, interval: float, listen: bool = True) -> None:
        if interval <= 0:
            raise ValueError(f"the follow interval must be > 0 seconds, got {interval}")
        self.service = service
        self.url = url
        self.interval = interval
        self.listen = listen
        self.wakes = 0
        self.notified = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="interestlm-follow", daemon=True)
        self._conn: psycopg.Connection[Any] | None = None
        self._next_connect = 0.0

    def start(self) -> Follower:
        """Start the thread (and the LISTEN connection, in it)."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread; returns once it has (it wakes within ``interval``)."""
        self._stop.set()
        self._thread.join(timeout=self.interval + 10)

    def _run(self) -> None:
        head: int | None = None
        try:
            # Rows committed between the replay and the LISTEN are caught by the first pass.
            self._listening()
            while not self._stop.is_set():
                try:
                    self._follow(head)
                except Exception as exc:  # the next wake retries from the same applied seq
                    log.error("follow: catching up with the shared log failed: %s", type(exc).__name__)
                    self._stop.wait(self.interval)
                head = self._wait()
                self.wakes += 1
        finally:
            self._close()

    def _follow(self, head: int | None) -> None:
        """Catch up if the log's newest seq (``head`` from a notification, else queried) is ahead."""
        service = self.service
        if head is None:
            head = service.store.last_seq()
        service.log_head = max(service.log_head, head)
        if head > service.log_seq:
            service.catch_up()

    def _wait(self) -> int | None:
        """Sleep until a notification (returns the newest seq it names) or ``interval`` seconds
        (returns None: the caller asks the store)."""
        conn = self._listening()
        if conn is None:
            self._stop.wait(self.interval)
            return None
        head: int | None = None
        try:
            for note in conn.notifies(timeout=self.interval, stop_after=1):
                self.notified += 1
                head = _seq(note.payload)
            if head is not None:
                # Notifications already queued (a burst of appends): one catch-up reads them all.
                for note in conn.notifies(timeout=0.0):
                    self.notified += 1
                    head = max(head, _seq(note.payload) or 0)
        except Exception as exc:
            log.warning("follow: the LISTEN connection failed (%s); polling every %g s", type(exc).__name__,
                        self.interval)  # fmt: skip
            self._close()
            return None
        return head

    def _listening(self) -> psycopg.Connection[Any] | None:
        """The LISTEN connection, opened (again) when needed; None when polling only or it cannot open."""
        if not self.listen:
            return None
        if self._conn is not None:
            return self._conn
        if time.monotonic() < self._next_connect:
            return None
        import psycopg

        try:
            conn = psycopg.connect(self.url, autocommit=True, connect_timeout=10)
            conn.execute(f"LISTEN {CHANNEL}")
        except psycopg.Error as exc:
            self._next_connect = time.monotonic() + RECONNECT_S
            log.warning("follow: cannot LISTEN on the shared log (%s); polling every %g s", type(exc).__name__,
                        self.interval)  # fmt: skip
            return None
        self._conn = conn
        return conn

    def _close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None


def _seq(payload: str) -> int | None:
    """The seq a notification names (None for a payload that is not one)."""
    try:
        return int(payload)
    except ValueError:
        return None
