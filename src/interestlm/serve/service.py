"""The recommender behind the HTTP routes: serialised writes, shared reads, the log, replay.

Writes are serialised by one writer mutex and follow *validate, apply, commit, reply*: a batch
is validated whole (ids, kinds, the rating scale of the fitted data) before any of it is applied,
then applied all-or-nothing: if anything fails half-way, or the log commit fails, the in-memory
state is put back as it was and only that request fails (the log never holds a write memory
lacks, nor the reverse). Readers share an RW lock and see a write only once it is committed;
events hold the exclusive lock for their few milliseconds, while items are staged on a copy of
the fitted state (encoding, indexing) with readers still served, and swapped in at the end.
Only if putting the state back itself fails does the service stop taking writes (503) until a
restart replays the log. Computed lists go through a bounded admission (``Admission``): a few at
a time, a short queue, and 503 with ``Retry-After`` beyond it.

Replicas (several processes on one PostgreSQL log, ``shared=True``): every replica applies the
log in ``seq`` order. Rows of other replicas are applied by :meth:`Service.catch_up` (called by the
follower thread, ``follow.py``); a replica's own write holds the store's append lock from before it
catches up until its row is committed, so its row comes after every row it applied and before any
row it has not: no row is applied twice, none skipped, and ``log_seq`` is the seq up to which
every row is applied.

Why one file over 500 lines: the writes, their undo, the replay, the catch-up and the snapshots must
be read together (the lock, the admission and the cache are in ``concurrency.py``; the follower
thread in ``follow.py``).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import logging
import math
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from interestlm.core.errors import BadInputError, UnknownIdError
from interestlm.core.schema import Event, InterestProfile
from interestlm.render import recommendations_json
from interestlm.serve.concurrency import (
    Admission,
    CacheKey,
    RecommendationCache,
    RWLock,
    quantise_diversity,
)
from interestlm.serve.metrics import Metrics
from interestlm.serve.safety import StoreMarker, event_problem
from interestlm.serve.schemas import (
    MAX_TIMESTAMP,
    AnonymousRequest,
    EventIn,
    ItemIn,
    ProfileEditIn,
    RecommendationsOut,
)
from interestlm.serve.snapshot import Snapshot, load_snapshot, save_snapshot
from interestlm.serve.store import LogEntry, LogStore, SharedLogStore

if TYPE_CHECKING:
    from interestlm.fitted import FittedState
    from interestlm.recommender import Recommender

log = logging.getLogger("interestlm.serve")


class ServiceUnavailable(RuntimeError):
    """The service refuses writes until restarted (the log and memory may disagree)."""


def artifacts_fingerprint(directory: Path) -> str:
    """A digest of ``manifest.json``: the log belongs to exactly these artifacts."""
    return hashlib.sha256((directory / "manifest.json").read_bytes()).hexdigest()


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
        cache_bytes: int = 256 * 2**20,
        admission: Admission | None = None,
        marker: StoreMarker | None = None,
        snapshot_dir: Path | None = None,
        snapshot_every: int = 2_000,
        refresh_lists: int = 256,
        shared: bool = False,
    ) -> None:
        # Language-model text (summaries, explanations) is the recommender's own ``text`` strategy.
        self.rec = recommender
        self.store = store
        self.metrics = metrics
        self.lock = RWLock()
        # One writer at a time; held across a whole write, while ``lock`` is held exclusively only
        # for the moment the write becomes visible.
        self.writer = threading.Lock()
        self.cache = RecommendationCache(cache_size, cache_bytes)
        self.refresh_lists = refresh_lists
        self.admission = admission or Admission(workers=1, queue=4, max_wait=0.05)
        self.broken: str | None = None
        self.marker = marker
        self.replay_failures = 0
        self.rating_range = self._rating_range()
        self._last_ts = 0
        # Profiles are built on first use. One built by a *read* (no logged write) must be rebuilt
        # when items are added, as a restart would build it from the new catalogue; one written to
        # (events, edits: logged, replayed in order) or present at load is kept.
        self._kept_profiles: set[int] = set(self.rec.state_.profiles)
        # What a snapshot needs beyond the profiles: users present at load, every items row applied.
        self._n_loaded_users = len(self.rec.state_.user_ids)
        self._items_rows: list[dict[str, Any]] = []
        self.fingerprint = fingerprint
        # A sequence model's live log (events it observed) is not in a snapshot: replay it all.
        self.snapshot_dir = snapshot_dir if self.rec.state_.sequential is None else None
        self.snapshot_every = snapshot_every
        self.snapshot_seq = 0
        self.replayed_rows = 0
        self._snapshotting = threading.Lock()
        self._check_fingerprint(fingerprint)
        # Every row up to ``log_seq`` is applied (own writes, replay, other replicas' rows).
        self.log_seq = self.store.last_seq()
        if shared and not isinstance(store, SharedLogStore):
            raise ValueError(f"{store.path}: only a PostgreSQL event log can be shared by several replicas")
        self.shared: SharedLogStore | None = store if shared and isinstance(store, SharedLogStore) else None
        # What the follower last saw: the newest seq in the store, rows of other replicas applied,
        # and for the last of them, when it was applied and how long after its append.
        self.log_head = self.log_seq
        self.followed_rows = 0
        self.followed_at: float | None = None
        self.follow_delay: float | None = None
        metrics.gauge("interestlm_items", "items in the catalog", lambda: float(self.n_items()))
        metrics.gauge("interestlm_users", "users with a profile or history", lambda: float(self.n_users()))
        metrics.gauge("interestlm_log_seq", "position of the operation log applied", lambda: float(self.log_seq))
        if self.shared is not None:
            metrics.gauge(
                "interestlm_log_lag_rows",
                "rows of the shared log committed but not yet applied by this replica (as last seen)",
                lambda: float(max(self.log_head - self.log_seq, 0)),
            )
            metrics.gauge(
                "interestlm_followed_rows", "rows of other replicas applied", lambda: float(self.followed_rows)
            )
        metrics.gauge(
            "interestlm_cache_hits", "recommendation lists served from the cache", lambda: float(self.cache.hits)
        )
        metrics.gauge("interestlm_cache_misses", "recommendation lists computed", lambda: float(self.cache.misses))
        metrics.gauge(
            "interestlm_cache_bytes", "bytes held by the recommendation cache", lambda: float(self.cache.bytes)
        )
        metrics.gauge(
            "interestlm_overload_refused",
            "computed lists refused with 503 (every slot busy, queue full)",
            lambda: float(self.admission.refused),
        )
        metrics.gauge("interestlm_compute_running", "lists being computed now", lambda: float(self.admission.running))
        metrics.gauge("interestlm_compute_waiting", "lists queued for a worker", lambda: float(self.admission.waiting))

    def _rating_range(self) -> tuple[float, float]:
        """The rating scale of the fitted data: ``(min, max)`` of its ratings.

        Live ``rate``/``review`` values outside it would centre a user's ratings on a value no
        training user ever gave (and 1e308 made the mean infinite, rejecting every later rating).
        Without ratings in the training data, the profile configuration's scale is used: from 0 to
        twice its midpoint (0..6 for the five-star defaults).
        """
        ratings = np.asarray(self.rec.state_.train.rating, dtype=np.float64)
        known = ratings[np.isfinite(ratings)]
        if len(known):
            return float(known.min()), float(known.max())
        midpoint = float(self.rec.state_.builder.config.rating_midpoint)
        return 0.0, max(2.0 * midpoint, 1.0)

    def _check_fingerprint(self, fingerprint: str | None) -> None:
        if fingerprint is None:
            return
        stored = self.store.claim_meta("artifacts", fingerprint)
        if stored != fingerprint:
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
            after = self._restore_snapshot()
            for entry in self.store.entries(after=after):
                # Rows another replica commits during the replay are read too: count them as applied.
                self.log_seq = max(self.log_seq, entry.seq)
                try:
                    self._apply_entry(entry)
                except (UnknownIdError, BadInputError, ValueError) as exc:
                    # An entry the current code rejects is reported, not fatal: the rest still replays.
                    self.replay_failures += 1
                    # Library messages name the row and field, never a value from the body.
                    detail = str(exc) if isinstance(exc, ValueError) else type(exc).__name__
                    log.error("replay: log row %d (%s) could not be applied: %s", entry.seq, entry.op, detail)
                    continue
                applied += 1
        self.metrics.replayed.inc(applied)
        self.replayed_rows = applied
        if applied or self.replay_failures:
            log.info(
                "replayed %d log rows in %.2f s (%d failed)",
                applied,
                time.perf_counter() - started,
                self.replay_failures,
            )
        return applied

    # ------------------------------------------------------------------ replicas
    def catch_up(self) -> int:
        """Apply the rows other replicas committed since ``log_seq`` (the follower calls this);
        returns rows applied. Taken under the writer mutex, so own writes and these stay in seq order."""
        with self.writer:
            applied = self._catch_up()
        if applied:
            self.save_marker()
            self._maybe_snapshot()
        return applied

    def _catch_up(self) -> int:
        """(Writer mutex held.) Apply every row after ``log_seq``, in order, like replay; a row the
        code rejects is counted and skipped, as at replay, so every replica skips the same rows."""
        if self.shared is None:
            return 0
        pending = list(self.store.entries(after=self.log_seq))
        if not pending:
            return 0
        applied = 0
        for entry in pending:
            try:
                if entry.op == "items":
                    # Staged beside the reads and swapped in, as an upload to this replica is.
                    state = self.rec.state_
                    staged, fresh = self._stage_items(state, entry.body)
                    self._swap_items(state, staged, entry.body, fresh)
                else:
                    with self.lock.write():
                        self._apply_entry(entry)
                applied += 1
            except (UnknownIdError, BadInputError, ValueError) as exc:
                self.replay_failures += 1
                detail = str(exc) if isinstance(exc, ValueError) else type(exc).__name__
                log.error("follow: log row %d (%s) could not be applied: %s", entry.seq, entry.op, detail)
            # Readers between two rows see the log applied up to a seq, never half a row.
            self.log_seq = entry.seq
        now = time.time()
        self.log_head = max(self.log_head, self.log_seq)
        self.followed_rows += len(pending)
        self.followed_at = now
        self.follow_delay = max(now - pending[-1].received_at, 0.0)
        for entry in pending:
            self.metrics.follow_delay.observe(max(now - entry.received_at, 0.0))
        return applied

    @contextmanager
    def _in_log_order(self) -> Iterator[int]:
        """(Writer mutex held.) For the block: hold the shared log's append lock and apply every
        row committed before it first, so the write made in the block is the next row of the log
        here too. Yields the rows caught up (0 without a shared log: the block runs as it is)."""
        if self.shared is None:
            yield 0
            return
        with self.shared.exclusive():
            yield self._catch_up()

    # ------------------------------------------------------------------ snapshots
    def _restore_snapshot(self) -> int:
        """Load the snapshot if it fits this store and these artifacts; returns the seq replay
        starts after (0: no usable snapshot, replay everything)."""
        if self.snapshot_dir is None:
            return 0
        try:
            snap = load_snapshot(self.snapshot_dir)
        except ValueError as exc:
            log.warning("ignoring the snapshot: %s", exc)
            return 0
        if snap is None:
            return 0
        problem = None
        if snap.store_id != self.store.get_meta("store_id"):
            problem = "it belongs to another store"
        elif snap.artifacts != self.fingerprint:
            problem = "it belongs to other artifacts"
        elif snap.seq > self.log_seq:
            problem = f"it is at seq {snap.seq}, past the log's end ({self.log_seq})"
        if problem is not None:
            log.warning("ignoring the snapshot in %s: %s; replaying the whole log", self.snapshot_dir, problem)
            return 0
        state = self.rec.state_
        for body in snap.items_rows:
            self.rec.add_items(item_rows(body["items"]))
            self._items_rows.append(body)
        for user_id in snap.users:
            state.add_user(user_id)
        for profile in snap.profiles:
            u = state.user(profile.user_id)
            state.profiles[u] = profile
            self._kept_profiles.add(u)
        self._last_ts = max(self._last_ts, snap.last_ts)
        self.snapshot_seq = snap.seq
        log.info("restored the snapshot at seq %d (%d profiles, %d items rows)", snap.seq, len(snap.profiles),
                 len(snap.items_rows))  # fmt: skip
        return snap.seq

    def snapshot(self) -> int | None:
        """Write a snapshot of the state at the newest committed seq; returns that seq (None when
        snapshots are off). The state is captured under the writer mutex (profiles are immutable
        objects: a dict copy suffices), and written after releasing it."""
        if self.snapshot_dir is None:
            return None
        with self._snapshotting:
            with self.writer:
                state = self.rec.state_
                snap = Snapshot(
                    seq=self.log_seq,
                    store_id=self.store.get_meta("store_id"),
                    artifacts=self.fingerprint,
                    users=list(state.user_ids[self._n_loaded_users :]),
                    items_rows=list(self._items_rows),
                    last_ts=self._last_ts,
                    profiles=[p for u, p in state.profiles.items() if u in self._kept_profiles],
                )
            if snap.seq <= self.snapshot_seq:
                return self.snapshot_seq
            save_snapshot(self.snapshot_dir, snap)
            self.snapshot_seq = snap.seq
        log.info("snapshot at seq %d written to %s", snap.seq, self.snapshot_dir)
        return snap.seq

    def _maybe_snapshot(self) -> None:
        """Start a background snapshot once ``snapshot_every`` rows were logged since the last one."""
        if self.snapshot_dir is None or self.log_seq - self.snapshot_seq < self.snapshot_every:
            return
        if self._snapshotting.locked():
            return

        def run() -> None:
            try:
                self.snapshot()
            except Exception as exc:  # a failed snapshot costs start-up time, never a write
                log.error("snapshot failed: %s", type(exc).__name__)

        threading.Thread(target=run, name="interestlm-snapshot", daemon=True).start()

    def _apply_entry(self, entry: LogEntry) -> None:
        body = entry.body
        if entry.op in ("event", "edit") and not entry.user_id:
            raise ValueError(f"log row {entry.seq}: an {entry.op} row without a user id")
        if entry.op == "event":
            bad = event_problem(body)
            if bad is not None:
                raise ValueError(f"log row {entry.seq}: field body.{bad} is missing or invalid")
            self._apply_events(str(entry.user_id), [self._event(body)])
        elif entry.op == "edit":
            self._apply_edit(str(entry.user_id), body)
        elif entry.op == "items":
            self.cache.catalog_changed()
            self.rec.add_items(item_rows(body["items"]))
            self._items_rows.append(body)
            self._forget_read_only_profiles(self.rec.state_.profiles)
        else:
            raise ValueError(f"unknown log op {entry.op!r}")
        if isinstance(body.get("timestamp"), int):
            self._last_ts = max(self._last_ts, int(body["timestamp"]))

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
        diversity = quantise_diversity(diversity)
        key: CacheKey = (user_id, k, diversity, explain)
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        with self.lock.read():
            generations = self.cache.generations(user_id)
            recs = self.rec.recommend(user_id, k, diversity=diversity, explain=explain, lm_text=lm_text)
            payload = recommendations_json(user_id, recs, self.rec.catalog)
        body = RecommendationsOut.model_validate(payload).model_dump_json().encode()
        self.cache.put(key, generations, body)
        return body

    def cached_recommendations(self, user_id: str, k: int, *, diversity: float | None, explain: bool) -> bytes | None:
        """The cached list if it is current (no ranking, no lock but the cache's own), else None."""
        return self.cache.get((user_id, k, quantise_diversity(diversity), explain))

    def warm(self, k: int = 10, *, explain: bool = True) -> int:
        """Compute and cache every known user's default list (start-up); returns users done.

        Warm-up never calls the language model: the lists carry template explanations
        (``explanation_source: "template"``), so start-up time does not depend on the model (with a
        one-second budget per list it would add up to a second per user). A user's list is written
        again, with LM text, once their profile changes or the catalog grows.
        """
        done = 0
        for user_id in list(self.rec.state_.user_index):
            with self.lock.read():
                generations = self.cache.generations(str(user_id))
                recs = self.rec.recommend(str(user_id), k, diversity=None, explain=explain, lm_text=False)
                payload = recommendations_json(str(user_id), recs, self.rec.catalog)
            body = RecommendationsOut.model_validate(payload).model_dump_json().encode()
            self.cache.put((str(user_id), k, None, explain), generations, body)
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

    def picture(self, item_id: str) -> bytes | None:
        """The picture of ``item_id`` as the artifacts (or an upload) hold it; None when it has none
        (``UnknownIdError`` for an unknown id)."""
        with self.lock.read():
            state = self.rec.state_
            return state.picture(state.item(item_id))

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
        """Append to the log; the caller puts memory back if this raises (nothing was committed:
        both stores roll the transaction back on any error)."""
        seqs = self.store.append(op, user_id, bodies)
        self.log_seq = max(self.log_seq, seqs[-1])
        self.save_marker()
        self._maybe_snapshot()
        return seqs

    def save_marker(self, *, force: bool = False) -> None:
        """Move the store marker up to the newest committed seq (at most once a second unless ``force``).

        A marker that cannot be written is logged, never a failed write: the event is durable.
        """
        if self.marker is None:
            return
        try:
            self.marker.advance(self.log_seq, force=force)
        except OSError as exc:
            log.warning("the store marker %s could not be written: %s", self.marker.path, type(exc).__name__)

    def _undo(self, undo: Any, what: str) -> None:
        """Run ``undo``; only if that fails too are writes switched off (memory may then be ahead of the log)."""
        try:
            undo()
        except Exception as exc:
            self.broken = f"{what} could not be undone ({type(exc).__name__})"
            log.critical("undo after a failed write failed; refusing writes until restart: %s", type(exc).__name__)

    def _clock(self) -> int:
        """Seconds since the epoch, never earlier than the last timestamp applied (taken under the
        writer mutex, so the log's order and the timestamps' order agree)."""
        self._last_ts = max(self._last_ts, int(time.time()))
        return self._last_ts

    def add_events(self, user_id: str, events: Sequence[EventIn]) -> dict[str, Any]:
        """Apply feedback (a new user id starts an empty profile) and log it; durable on return.

        The batch is validated whole first (unknown ids, the rating scale) and then applied
        all-or-nothing: a failure leaves the user, their profile and the log as they were.
        """
        with self.writer, self._in_log_order():
            self._writable()
            now = self._clock()
            bodies = [
                {
                    "item_id": e.item_id,
                    "kind": e.kind,
                    "value": e.value,
                    "text": e.text,
                    "timestamp": now if e.timestamp is None else e.timestamp,
                }
                for e in events
            ]
            parsed = [self._event(b) for b in bodies]  # unknown ids and bad values fail here, before any change
            with self.lock.write():
                undo = self._apply_events(user_id, parsed)
                try:
                    seqs = self._commit("event", user_id, bodies)
                except BaseException:
                    self._undo(undo, "a batch of events whose log commit failed")
                    raise
        for e in events:
            self.metrics.events.inc(kind=e.kind)
        return {"user_id": user_id, "accepted": len(seqs), "seq": seqs[-1]}

    def _event(self, body: dict[str, Any]) -> Event:
        value = body.get("value")
        if value is not None:
            value = float(value)
            low, high = self.rating_range
            if not (math.isfinite(value) and low <= value <= high):
                raise BadInputError(f"value {value:g} is off the rating scale of the fitted data ({low:g} to {high:g})")
        timestamp = body["timestamp"]
        if isinstance(timestamp, bool) or not isinstance(timestamp, int) or not 0 <= timestamp <= MAX_TIMESTAMP:
            raise BadInputError(f"timestamp must be whole seconds from 0 to {MAX_TIMESTAMP}")
        return Event(
            item=int(self.rec.item_index(body["item_id"])),
            kind=body["kind"],
            timestamp=int(timestamp),
            value=value,
            text=body.get("text"),
        )

    def _apply_events(self, user_id: str, events: Sequence[Event]) -> Any:
        """Apply every event or none; returns the function that puts the user back as before."""
        state = self.rec.state_
        new_user = user_id not in state.user_index
        self.rec.ensure_user(user_id)
        u = state.user_index[user_id]
        self._kept_profiles.add(u)
        had_profile = u in state.profiles
        before = state.profiles.get(u)

        def undo() -> None:
            if had_profile:
                assert before is not None
                state.profiles[u] = before
            else:
                state.profiles.pop(u, None)
            if new_user and state.user_ids and state.user_ids[-1] == user_id:
                # The user was added by this write, and writes are serialised: it is the last row.
                del state.user_index[user_id]
                state.user_ids.pop()
                state.histories.pop()
            self.cache.user_changed(user_id)

        self.cache.user_changed(user_id)
        try:
            for event in events:
                self.rec.update(user_id, event)
        except BaseException:
            self._undo(undo, "a batch of events that failed half-way")
            raise
        return undo

    def edit(self, user_id: str, edit: ProfileEditIn) -> dict[str, Any]:
        """Apply and log a profile edit; returns the edited profile JSON."""
        body = {
            "pin": edit.pin,
            "unpin": edit.unpin,
            "mute": edit.mute,
            "unmute": edit.unmute,
            "interest_weights": {str(i): w for i, w in sorted(edit.weights().items())},
        }
        with self.writer, self._in_log_order():
            self._writable()
            with self.lock.write():
                state = self.rec.state_
                u = state.user(user_id)
                self._kept_profiles.add(u)
                had_profile = u in state.profiles
                before = state.profiles.get(u)

                def undo() -> None:
                    if had_profile:
                        assert before is not None
                        state.profiles[u] = before
                    else:
                        state.profiles.pop(u, None)
                    self.cache.user_changed(user_id)

                try:
                    self._apply_edit(user_id, body)
                    self._commit("edit", user_id, [body])
                except BaseException:
                    self._undo(undo, "a profile edit that failed")
                    raise
                out = self.rec.profile_json(user_id)
        self.metrics.edits.inc()
        return out

    def _apply_edit(self, user_id: str, body: dict[str, Any]) -> None:
        self._kept_profiles.add(self.rec.state_.user(user_id))
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

    def _forget_read_only_profiles(self, profiles: dict[int, InterestProfile]) -> None:
        """Drop profiles built by reads only, so they are rebuilt from the grown catalogue (what a
        replay after a restart does): served and replayed profiles stay identical."""
        for u in [u for u in profiles if u not in self._kept_profiles]:
            del profiles[u]

    def _lists_on(self, staged: FittedState) -> dict[CacheKey, bytes]:
        """The most recently used cached lists (at most ``refresh_lists``) recomputed on
        ``staged``; none when a language model writes explanations (too slow to redo here)."""
        limit = self.refresh_lists
        if limit <= 0 or self.rec.text is not None:
            return {}
        keys = self.cache.recent_keys(limit)
        if not keys:
            return {}
        front = self.rec.with_text(None)
        front._state = staged
        groups: dict[tuple[int, float | None, bool], list[str]] = {}
        for user_id, k, diversity, explain in keys:
            groups.setdefault((k, diversity, explain), []).append(user_id)
        out: dict[CacheKey, bytes] = {}
        for (k, diversity, explain), users in groups.items():
            with self.lock.read():
                profiles = [front.profile(u) for u in users]
            lists = front.recommend_many(profiles, k, diversity=diversity, explain=explain, lm_text=False)
            for user_id, recs in zip(users, lists, strict=True):
                payload = recommendations_json(user_id, recs, staged.catalog)
                body = RecommendationsOut.model_validate(payload).model_dump_json().encode()
                out[(user_id, k, diversity, explain)] = body
        return out

    def _stage_items(self, state: FittedState, body: dict[str, Any]) -> tuple[FittedState, dict[CacheKey, bytes]]:
        """(Writer mutex held.) ``state`` with the items of ``body`` added, on a shallow copy, and
        the cached lists recomputed on it: readers are served from ``state`` meanwhile."""
        staged = copy.copy(state)
        staged.add_items(item_rows(body["items"]))
        # The cached lists are recomputed on the new catalogue before the swap, beside the
        # reads: the swap then replaces them at once, and no read after it waits for a ranking.
        return staged, self._lists_on(staged)

    def _swap_items(
        self, state: FittedState, staged: FittedState, body: dict[str, Any], fresh: dict[CacheKey, bytes]
    ) -> None:
        """(Writer mutex held.) Make ``staged`` the served state, under the exclusive lock."""
        with self.lock.write():
            vars(state).update(vars(staged))
            self._items_rows.append(body)
            self._forget_read_only_profiles(state.profiles)
            self.cache.catalog_replaced(fresh)

    def upsert_items(self, items: Sequence[ItemIn]) -> dict[str, Any]:
        """Add or update items (encoded and indexed at once) and log them.

        The new catalogue is built on a shallow copy of the fitted state (every part ``add_items``
        changes is replaced, not mutated), so readers keep being served from the current state
        during the encoding; the copy is swapped in, under the exclusive lock, once logged. A
        failure anywhere leaves the served state untouched.
        """
        body = {"items": [i.model_dump(exclude_none=True) for i in items]}
        with self.writer:
            self._writable()
            state = self.rec.state_
            staged, fresh = self._stage_items(state, body)
            # The staging runs without the shared log's lock (it may take seconds); if another
            # replica's rows came in meanwhile, they are applied and the staging is done again on
            # top of them, now holding the lock.
            with self._in_log_order() as caught:
                if caught:
                    state = self.rec.state_
                    staged, fresh = self._stage_items(state, body)
                seq = self._commit("items", None, [body])[0]
            self._swap_items(state, staged, body, fresh)
            n_items = self.n_items()
        self.metrics.items.inc(len(items))
        return {"item_ids": [i.item_id for i in items], "n_items": n_items, "seq": seq}


def item_rows(items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Logged item rows as ``add_items`` takes them: ``image_base64`` decoded to the picture's bytes
    (``image``); a client never names a file on the server."""
    out = []
    for raw in items:
        row = {k: v for k, v in raw.items() if k not in ("image_base64", "image")}
        encoded = raw.get("image_base64")
        if encoded:
            row["image"] = base64.b64decode(encoded, validate=True)
        out.append(row)
    return out
