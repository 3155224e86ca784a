"""The recommender behind the HTTP routes: serialised writes, shared reads, the log, replay.

Writes follow *apply, then commit, then reply*, under an exclusive lock: the real recommender
code validates the write (bad concept names, unknown ids raise before anything is stored), no
reader can see a write before it is committed, and a write is acknowledged only once durable.
If the log commit itself fails after the in-memory state changed, the service stops taking
writes (503) until a restart replays the log, so memory and log never silently diverge.

Why one file over 400 lines: the service's lock, cache, log replay and writes must be read together.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from interestlm.core.errors import UnknownIdError
from interestlm.core.schema import Event, InterestProfile
from interestlm.render import recommendations_json
from interestlm.serve.metrics import Metrics
from interestlm.serve.schemas import AnonymousRequest, EventIn, ItemIn, ProfileEditIn, RecommendationsOut
from interestlm.serve.store import LogEntry, LogStore

if TYPE_CHECKING:
    from interestlm.recommender import Recommender

log = logging.getLogger("interestlm.serve")


class ServiceUnavailable(RuntimeError):
    """The service refuses writes until restarted (the log and memory may disagree)."""


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


def artifacts_fingerprint(directory: Path) -> str:
    """A digest of ``manifest.json``: the log belongs to exactly these artifacts."""
    return hashlib.sha256((directory / "manifest.json").read_bytes()).hexdigest()


#: (user id, k, diversity, explain): the arguments a cached recommendation list depends on.
CacheKey = tuple[str, int, float | None, bool]


class RecommendationCache:
    """Per-user top-K lists, valid until that user's profile or the catalogue changes.

    Ranking one user costs tens of milliseconds (every item scored by every signal, then the
    explanations), far above the latency a page view can wait for, while a user's list only
    changes when their profile does (events, edits) or items are added. Every entry remembers the
    generations it was computed at; a write bumps the user's (or the catalogue's) generation, so a
    stale entry is never served: the next read recomputes it. Bounded (least recently used out).
    """

    def __init__(self, max_entries: int = 50_000) -> None:
        if max_entries < 0:
            raise ValueError(f"max_entries must be >= 0, got {max_entries}")
        self.max_entries = max_entries
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
        if not self.max_entries:
            return
        with self._lock:
            if generations != (self._catalog_gen, self._user_gen.get(key[0], 0)):
                return
            self._entries[key] = (generations[0], generations[1], payload)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def user_changed(self, user_id: str) -> None:
        """Invalidate every list of ``user_id``."""
        with self._lock:
            self._user_gen[user_id] = self._user_gen.get(user_id, 0) + 1

    def catalog_changed(self) -> None:
        """Invalidate every list (items were added or changed)."""
        with self._lock:
            self._catalog_gen += 1
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


class Service:
    """A fitted recommender, its operation log and the metrics, behind one lock."""

    def __init__(
        self,
        recommender: Recommender,
        store: LogStore,
        metrics: Metrics,
        *,
        fingerprint: str | None = None,
        cache_size: int = 50_000,
    ) -> None:
        # Language-model text (summaries, explanations) is the recommender's own ``text`` strategy.
        self.rec = recommender
        self.store = store
        self.metrics = metrics
        self.lock = RWLock()
        self.cache = RecommendationCache(cache_size)
        self.broken: str | None = None
        self.replay_failures = 0
        self._check_fingerprint(fingerprint)
        metrics.gauge("interestlm_items", "items in the catalog", lambda: float(self.n_items()))
        metrics.gauge("interestlm_users", "users with a profile or history", lambda: float(self.n_users()))
        metrics.gauge(
            "interestlm_log_seq", "newest position of the operation log", lambda: float(self.store.last_seq())
        )
        metrics.gauge(
            "interestlm_cache_hits", "recommendation lists served from the cache", lambda: float(self.cache.hits)
        )
        metrics.gauge("interestlm_cache_misses", "recommendation lists computed", lambda: float(self.cache.misses))

    def _check_fingerprint(self, fingerprint: str | None) -> None:
        if fingerprint is None:
            return
        stored = self.store.get_meta("artifacts")
        if stored is None:
            self.store.set_meta("artifacts", fingerprint)
        elif stored != fingerprint:
            raise ValueError(
                f"{self.store.path}: this event store belongs to other artifacts (manifest digest {stored[:12]}..., "
                f"loaded {fingerprint[:12]}...); use a new --store for new artifacts"
            )

    # ------------------------------------------------------------------ start-up
    def replay(self) -> int:
        """Apply every logged write, in order, to the freshly loaded recommender; returns rows applied."""
        applied = 0
        started = time.perf_counter()
        with self.lock.write():
            for entry in self.store.entries():
                try:
                    self._apply_entry(entry)
                except (UnknownIdError, ValueError) as exc:
                    # An entry the current code rejects is reported, not fatal: the rest still replays.
                    self.replay_failures += 1
                    log.error(
                        "replay: log row %d (%s) could not be applied: %s", entry.seq, entry.op, type(exc).__name__
                    )
                    continue
                applied += 1
        self.metrics.replayed.inc(applied)
        if applied or self.replay_failures:
            log.info(
                "replayed %d log rows in %.2f s (%d failed)",
                applied,
                time.perf_counter() - started,
                self.replay_failures,
            )
        return applied

    def _apply_entry(self, entry: LogEntry) -> None:
        body = entry.body
        if entry.op in ("event", "edit") and not entry.user_id:
            raise ValueError(f"log row {entry.seq}: an {entry.op} row without a user id")
        if entry.op == "event":
            self._apply_events(str(entry.user_id), [self._event(body)])
        elif entry.op == "edit":
            self._apply_edit(str(entry.user_id), body)
        elif entry.op == "items":
            self.cache.catalog_changed()
            self.rec.add_items(body["items"])
        else:
            raise ValueError(f"unknown log op {entry.op!r}")

    # ------------------------------------------------------------------ reads
    def n_items(self) -> int:
        """Catalog size."""
        return len(self.rec.catalog)

    def n_users(self) -> int:
        """Known users."""
        return len(self.rec.state_.user_index)

    def recommendations(
        self, user_id: str, k: int, *, diversity: float | None, explain: bool, lm_text: bool = True
    ) -> bytes:
        """Top-``k`` for a known user as wire JSON bytes, served from the cache while the profile is unchanged.

        The cache holds the encoded body (validated once against :class:`RecommendationsOut`), so a
        hit costs neither ranking nor validation nor JSON encoding. ``lm_text=False`` keeps the
        template explanations even when a language model is configured (warm-up).
        """
        key: CacheKey = (user_id, k, diversity, explain)
        with self.lock.read():
            cached = self.cache.get(key)
            if cached is not None:
                return cached
            generations = self.cache.generations(user_id)
            recs = self.rec.recommend(user_id, k, diversity=diversity, explain=explain, lm_text=lm_text)
            payload = recommendations_json(user_id, recs, self.rec.catalog)
        body = RecommendationsOut.model_validate(payload).model_dump_json().encode()
        self.cache.put(key, generations, body)
        return body

    def warm(self, k: int = 10, *, explain: bool = True) -> int:
        """Compute and cache every known user's default list (start-up); returns users done.

        Warm-up never calls the language model: the lists carry template explanations
        (``explanation_source: "template"``), so start-up time does not depend on the model (with a
        one-second budget per list it would add up to a second per user). A user's list is written
        again, with LM text, once their profile changes or the catalog grows.
        """
        done = 0
        for user_id in list(self.rec.state_.user_index):
            self.recommendations(str(user_id), k, diversity=None, explain=explain, lm_text=False)
            done += 1
        return done

    def anonymous(self, req: AnonymousRequest) -> dict[str, Any]:
        """Top-``k`` for an inline history and/or a taste text; nothing is stored."""
        with self.lock.read():
            profile = self._anonymous_profile(req)
            recs = self.rec.recommend(profile, req.k, diversity=req.diversity, explain=req.explain)
            return recommendations_json(req.user_id, recs, self.rec.catalog)

    def _anonymous_profile(self, req: AnonymousRequest) -> InterestProfile:
        user_id = req.user_id or "anonymous"
        if not req.history:
            return self.rec.profile_from_text(req.text or "", user_id=user_id)
        profile = self.rec.profile_from_history(req.history, user_id=user_id)
        if not req.text:
            return profile
        described = self.rec.profile_from_text(req.text, user_id=user_id)
        # The history gives the interests; the text steers the short-term direction with equal weight.
        blend = profile.short_term.astype(np.float32) + described.short_term.astype(np.float32)
        norm = float(np.linalg.norm(blend))
        short = blend / norm if norm > 0 else described.short_term
        # The text's dislikes hold for the history too: their concepts stay muted.
        edits = replace(profile.edits, muted=profile.edits.muted | described.edits.muted)
        return replace(
            profile, short_term=short.astype(np.float32), edits=edits, extra={**profile.extra, "query": req.text}
        )

    def profile(self, user_id: str) -> dict[str, Any]:
        """The layered profile JSON of a known user."""
        with self.lock.read():
            return self.rec.profile_json(user_id)

    def similar(self, item_id: str, k: int) -> dict[str, Any]:
        """Nearest items of ``item_id``."""
        with self.lock.read():
            pairs = self.rec.similar_items(item_id, k)
            titles = self.rec.catalog.titles
            return {
                "item_id": item_id,
                "similar": [
                    {"item_id": str(i), "title": titles[self.rec.item_index(str(i))], "score": float(s)}
                    for i, s in pairs
                ],
            }

    # -- rating predictions (issue 26)
    def predictions(self, user_id: str, item_ids: Sequence[str]) -> dict[str, Any]:
        """Predicted ratings of ``item_ids`` by a known user, each with its shares."""
        with self.lock.read():
            return self.rec.predictions_json(user_id, item_ids)

    # -- end rating predictions

    # ------------------------------------------------------------------ writes
    def _writable(self) -> None:
        if self.broken is not None:
            raise ServiceUnavailable(f"writes are off until restart: {self.broken}")

    def _commit(self, op: str, user_id: str | None, bodies: Sequence[dict[str, Any]]) -> list[int]:
        try:
            return self.store.append(op, user_id, bodies)
        except Exception as exc:
            self.broken = f"the event log could not be written ({type(exc).__name__})"
            log.critical("log commit failed after apply; refusing writes until restart: %s", type(exc).__name__)
            raise ServiceUnavailable(self.broken) from exc

    def add_events(self, user_id: str, events: Sequence[EventIn]) -> dict[str, Any]:
        """Apply feedback (a new user id starts an empty profile) and log it; durable on return."""
        now = int(time.time())
        bodies = [
            {"item_id": e.item_id, "kind": e.kind, "value": e.value, "text": e.text, "timestamp": e.timestamp or now}
            for e in events
        ]
        with self.lock.write():
            self._writable()
            parsed = [self._event(b) for b in bodies]  # unknown ids and bad kinds fail here, before any change
            self._apply_events(user_id, parsed)
            seqs = self._commit("event", user_id, bodies)
        for e in events:
            self.metrics.events.inc(kind=e.kind)
        return {"user_id": user_id, "accepted": len(seqs), "seq": seqs[-1]}

    def _event(self, body: dict[str, Any]) -> Event:
        return Event(
            item=int(self.rec.item_index(body["item_id"])),
            kind=body["kind"],
            timestamp=int(body["timestamp"]),
            value=None if body.get("value") is None else float(body["value"]),
            text=body.get("text"),
        )

    def _apply_events(self, user_id: str, events: Sequence[Event]) -> int:
        self.rec.ensure_user(user_id)
        self.cache.user_changed(user_id)
        done = 0
        try:
            for event in events:
                self.rec.update(user_id, event)
                done += 1
        except Exception as exc:
            if done:
                # Part of a batch is in memory but none of it is logged: only a restart makes them agree again.
                self.broken = f"a batch of events failed half-way ({type(exc).__name__})"
            raise
        return done

    def edit(self, user_id: str, edit: ProfileEditIn) -> dict[str, Any]:
        """Apply and log a profile edit; returns the edited profile JSON."""
        body = {
            "pin": edit.pin,
            "unpin": edit.unpin,
            "mute": edit.mute,
            "unmute": edit.unmute,
            "interest_weights": {str(i): w for i, w in sorted(edit.weights().items())},
        }
        with self.lock.write():
            self._writable()
            self._apply_edit(user_id, body)
            self._commit("edit", user_id, [body])
            out = self.rec.profile_json(user_id)
        self.metrics.edits.inc()
        return out

    def _apply_edit(self, user_id: str, body: dict[str, Any]) -> None:
        self.cache.user_changed(user_id)
        weights = {int(i): float(w) for i, w in body.get("interest_weights", {}).items()}
        self.rec.edit(
            user_id,
            pin=tuple(body.get("pin", ())),
            mute=tuple(body.get("mute", ())),
            unpin=tuple(body.get("unpin", ())),
            unmute=tuple(body.get("unmute", ())),
            interest_weights=weights or None,
        )

    def upsert_items(self, items: Sequence[ItemIn]) -> dict[str, Any]:
        """Add or update items (encoded and indexed at once) and log them."""
        body = {"items": [i.model_dump() for i in items]}
        with self.lock.write():
            self._writable()
            self.cache.catalog_changed()
            self.rec.add_items(body["items"])
            seq = self._commit("items", None, [body])[0]
            n_items = self.n_items()
        self.metrics.items.inc(len(items))
        return {"item_ids": [i.item_id for i in items], "n_items": n_items, "seq": seq}
