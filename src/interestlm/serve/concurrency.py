"""Concurrency pieces of the service: the readers-writer lock, the admission of computed lists
(bounded workers and queue, 503 beyond), and the byte-bounded recommendation cache."""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager


class Overloaded(RuntimeError):
    """Every compute slot is busy and the queue is full (or the wait ran out): 503, retry later."""

    def __init__(self, detail: str, retry_after: int = 1) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class Admission:
    """At most ``workers`` computed lists at a time, at most ``queue`` waiting, each for at most
    ``max_wait`` seconds; anything beyond is refused at once (:class:`Overloaded`).

    Uncached lists cost tens of milliseconds of CPU each; an unbounded backlog makes every client
    time out while the server keeps computing lists nobody will read. Refusing early keeps the
    admitted requests fast and lets a load balancer or client retry. Used from the event loop
    only (one thread), so plain counters need no lock; a waiter cancelled because its client
    went away leaves the queue without ever computing.
    """

    def __init__(self, workers: int, queue: int, max_wait: float) -> None:
        if workers < 1 or queue < 0 or max_wait < 0:
            raise ValueError(f"Admission needs workers >= 1, queue >= 0, max_wait >= 0: {workers}, {queue}, {max_wait}")
        self.workers, self.queue, self.max_wait = workers, queue, max_wait
        self.running = 0
        self.waiting = 0
        self.refused = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one compute slot for the block; raises :class:`Overloaded` instead of queueing long."""
        if self.running < self.workers:
            self.running += 1
        else:
            if self.waiting >= self.queue:
                self.refused += 1
                raise Overloaded("the server is at capacity: every compute slot is busy and the queue is full")
            handed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(handed)
            self.waiting += 1
            try:
                # On release a slot is handed over (``running`` unchanged) by completing the future.
                await asyncio.wait_for(handed, self.max_wait)
            except TimeoutError:
                self.refused += 1
                raise Overloaded("the server is at capacity: no compute slot freed up in time") from None
            except BaseException:
                if handed.done() and not handed.cancelled():
                    self._release()  # handed a slot in the same instant the client went away
                raise
            finally:
                self.waiting -= 1
        try:
            yield
        finally:
            self._release()

    def full(self) -> bool:
        """Whether a new computed list would be refused at once (every slot busy, queue full)."""
        return self.running >= self.workers and self.waiting >= self.queue

    def _release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.running -= 1


class RWLock:
    """Many readers or one writer; a waiting writer blocks new readers (no writer starvation)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._waiting_writers = 0

    @contextmanager
    def read(self) -> Iterator[None]:
        """Hold a shared lock."""
        with self._cond:
            while self._writer or self._waiting_writers:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        """Hold the exclusive lock."""
        with self._cond:
            self._waiting_writers += 1
            try:
                while self._writer or self._readers:
                    self._cond.wait()
            finally:
                self._waiting_writers -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


#: (user id, k, diversity, explain): the arguments a cached recommendation list depends on.
CacheKey = tuple[str, int, float | None, bool]

#: ``diversity`` is rounded to this step before ranking, so the cache holds at most 101 lists per
#: (user, k, explain) whatever floats clients send (and the list served is the list cached).
DIVERSITY_STEP = 0.01


def quantise_diversity(diversity: float | None) -> float | None:
    """``diversity`` on the :data:`DIVERSITY_STEP` grid (None stays None: the configured default)."""
    if diversity is None:
        return None
    return round(round(diversity / DIVERSITY_STEP) * DIVERSITY_STEP, 6)


def _entry_bytes(key: CacheKey, payload: bytes) -> int:
    # The payload dominates; the key and the dict slot are a fixed few hundred bytes.
    return len(payload) + len(key[0]) + 200


class RecommendationCache:
    """Per-user top-K lists, valid until that user's profile or the catalogue changes.

    Ranking one user costs tens of milliseconds (every item scored by every signal, then the
    explanations), far above the latency a page view can wait for, while a user's list only
    changes when their profile does (events, edits) or items are added. Every entry remembers the
    generations it was computed at; a write bumps the user's (or the catalogue's) generation, so a
    stale entry is never served: the next read recomputes it. Bounded both in entries and in
    bytes (payload plus key), least recently used out.
    """

    def __init__(self, max_entries: int = 50_000, max_bytes: int = 256 * 2**20) -> None:
        if max_entries < 0:
            raise ValueError(f"max_entries must be >= 0, got {max_entries}")
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: OrderedDict[CacheKey, tuple[int, int, bytes]] = OrderedDict()
        self._user_gen: dict[str, int] = {}
        self._catalog_gen = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: CacheKey) -> bytes | None:
        """The cached payload for ``key`` if it is still current, else ``None``."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] != self._catalog_gen or entry[1] != self._user_gen.get(key[0], 0):
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry[2]

    def generations(self, user_id: str) -> tuple[int, int]:
        """The (catalogue, user) generations to store a payload computed now under."""
        with self._lock:
            return self._catalog_gen, self._user_gen.get(user_id, 0)

    def put(self, key: CacheKey, generations: tuple[int, int], payload: bytes) -> None:
        """Keep ``payload`` for ``key`` unless a write happened since ``generations`` were read."""
        size = _entry_bytes(key, payload)
        if not self.max_entries or size > self.max_bytes:
            return
        with self._lock:
            if generations != (self._catalog_gen, self._user_gen.get(key[0], 0)):
                return
            old = self._entries.pop(key, None)
            if old is not None:
                self.bytes -= _entry_bytes(key, old[2])
            self._entries[key] = (generations[0], generations[1], payload)
            self.bytes += size
            while len(self._entries) > self.max_entries or self.bytes > self.max_bytes:
                gone_key, gone = self._entries.popitem(last=False)
                self.bytes -= _entry_bytes(gone_key, gone[2])

    def user_changed(self, user_id: str) -> None:
        """Invalidate every list of ``user_id``."""
        with self._lock:
            self._user_gen[user_id] = self._user_gen.get(user_id, 0) + 1

    def recent_keys(self, limit: int) -> list[CacheKey]:
        """Up to ``limit`` current keys, most recently used first (what is worth recomputing)."""
        with self._lock:
            out: list[CacheKey] = []
            for key in reversed(self._entries):
                if len(out) >= limit:
                    break
                entry = self._entries[key]
                if entry[0] == self._catalog_gen and entry[1] == self._user_gen.get(key[0], 0):
                    out.append(key)
            return out

    def catalog_replaced(self, fresh: Mapping[CacheKey, bytes]) -> None:
        """Invalidate every list, keeping ``fresh`` ones computed on the new catalogue (the caller
        holds the writer's lock, so no user changed since they were computed)."""
        with self._lock:
            self._catalog_gen += 1
            self._entries.clear()
            self.bytes = 0
        for key, payload in fresh.items():
            self.put(key, self.generations(key[0]), payload)

    def catalog_changed(self) -> None:
        """Invalidate every list (items were added or changed)."""
        with self._lock:
            self._catalog_gen += 1
            self._entries.clear()
            self.bytes = 0

    def __len__(self) -> int:
        return len(self._entries)
