"""Several `interestlm serve` processes on one PostgreSQL log: a write acknowledged by one replica
shows on the other within a bounded time, interleaved writes end in one state, and kill -9 of a
replica under load loses no acknowledged event. Real server processes, a real local PostgreSQL."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from serve_helpers import KEY, PostgresServer, ServerProcess

#: The most a row may take to reach the other replica here: NOTIFY makes it milliseconds; the
#: bound leaves room for a loaded CI machine.
PROPAGATION_S = 5.0
ITEMS = [f"{t}-{j:03d}" for t in ("jazz", "kitchen", "hiking", "space") for j in range(25)]
_names = itertools.count()


def topic(item_id: str) -> str:
    return item_id.rsplit("-", 1)[0]


def client(server: ServerProcess) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30)


def eventually(check: Callable[[], Any], what: str, timeout: float = PROPAGATION_S) -> Any:
    """Poll ``check`` until it returns something truthy; fails naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout} s: {what}")
        time.sleep(0.02)


def applied(c: httpx.Client) -> int:
    return int(c.get("/healthz").json()["log_seq"])


def last_seq(url: str) -> int:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM interestlm_log").fetchone()
    assert row is not None
    return int(row[0])


class Replicas:
    """Processes of `interestlm serve` on one database (started one after the other)."""

    def __init__(self, artifacts: Path, url: str, folder: Path) -> None:
        self.artifacts, self.url, self.folder = artifacts, url, folder
        self.keys = folder / "keys"
        self.keys.write_text(f"{KEY}\n", encoding="utf-8")
        self.log = folder / "servers.log"
        self.processes: list[ServerProcess] = []

    def start(self, *extra: str) -> ServerProcess:
        server = ServerProcess(self.artifacts, self.url, self.keys, self.log, ("--follow-interval", "1", *extra))
        self.processes.append(server)
        return server

    def stop(self) -> None:
        for server in self.processes:
            server.stop()


@pytest.fixture()
def replicas(artifacts: Path, postgres: PostgresServer, tmp_path: Path) -> Iterator[Replicas]:
    group = Replicas(artifacts, postgres.create_database(f"replicas{next(_names)}"), tmp_path)
    try:
        yield group
    finally:
        group.stop()
    assert "Traceback" not in group.log.read_text(encoding="utf-8")


def test_writes_on_one_replica_show_on_the_other(replicas: Replicas, single_topic_users: dict[str, str]) -> None:
    a, b = replicas.start(), replicas.start()
    user, own = next(iter(single_topic_users.items()))
    with client(a) as ca, client(b) as cb:
        # B caches the user's list; A's like of B's top item must invalidate it.
        before = cb.get(f"/v1/users/{user}/recommendations", params={"k": 10}).json()["recommendations"]
        n_events = cb.get(f"/v1/users/{user}/profile").json()["n_events"]
        top = before[0]["item_id"]
        seq = ca.post(f"/v1/users/{user}/events", json={"item_id": top, "kind": "like"}).json()["seq"]
        eventually(lambda: applied(cb) >= seq, "B applies A's event")
        profile = cb.get(f"/v1/users/{user}/profile").json()
        assert profile["n_events"] == n_events + 1 and top in {x["item_id"] for x in profile["likes"]}
        after = cb.get(f"/v1/users/{user}/recommendations", params={"k": 10}).json()["recommendations"]
        assert top not in {x["item_id"] for x in after}, "B served its stale cached list"

        # A mute on A acts on B's lists.
        ca.patch(f"/v1/users/{user}/profile", json={"mute": [own]}).raise_for_status()
        eventually(lambda: own in cb.get(f"/v1/users/{user}/profile").json()["edits"]["muted"], "B applies A's mute")
        recs = cb.get(f"/v1/users/{user}/recommendations", params={"k": 10}).json()["recommendations"]
        assert recs and not any(topic(x["item_id"]) == own for x in recs)

        # An item uploaded to A is recommendable on B.
        text = "saxophone improvisation bebop trumpet jazz club swing double bass blues"
        item = {"item_id": "jazz-replica-1", "title": "Bebop Night", "text": text, "categories": ["jazz"]}
        assert cb.get("/v1/items/jazz-replica-1/similar").status_code == 404
        seq = ca.post("/v1/items", json={"items": [item]}).json()["seq"]
        eventually(lambda: applied(cb) >= seq, "B applies A's item upload")
        assert cb.get("/v1/items/jazz-replica-1/similar", params={"k": 5}).status_code == 200
        history = [f"jazz-{j:03d}" for j in range(8)]
        recs = cb.post("/v1/recommendations", json={"history": history, "k": 5}).json()["recommendations"]
        assert "jazz-replica-1" in {x["item_id"] for x in recs}
        # B's own write on the new item: its catch-up ran, the item is known there.
        assert cb.post("/v1/users/b-fan/events", json={"item_id": "jazz-replica-1", "kind": "like"}).status_code == 200
        eventually(lambda: ca.get("/v1/users/b-fan/profile").status_code == 200, "A applies B's event")
        health = cb.get("/healthz").json()
        assert health["followed_rows"] >= 3 and health["log_head"] >= health["log_seq"] == last_seq(replicas.url)
        assert 0 <= health["follow_delay_s"] < PROPAGATION_S
        metrics = cb.get("/metrics").text
        assert "interestlm_follow_delay_seconds_count" in metrics and "interestlm_log_lag_rows 0" in metrics


def test_interleaved_writes_end_in_one_state_equal_to_a_fresh_replay(replicas: Replicas) -> None:
    a, b = replicas.start(), replicas.start("--no-follow-notify")  # B wakes by polling only
    users = ["mix-1", "mix-2", "u003"]
    errors: list[str] = []

    def writer(server: ServerProcess, w: int) -> None:
        with client(server) as c:
            for i in range(12):
                user = users[(w + i) % len(users)]
                item = ITEMS[(w * 13 + i * 7) % len(ITEMS)]
                if i == 5:
                    r = c.patch(f"/v1/users/{user}/profile", json={"mute": ["space"] if w else ["kitchen"]})
                    if r.status_code == 404:  # not created yet on this replica: an event instead
                        r = c.post(f"/v1/users/{user}/events", json={"item_id": item, "kind": "view"})
                else:
                    kind = ("like", "view", "dislike")[i % 3]
                    r = c.post(f"/v1/users/{user}/events", json={"item_id": item, "kind": kind})
                if r.status_code != 200:
                    errors.append(f"{r.status_code} {r.text[:200]}")

    threads = [threading.Thread(target=writer, args=(s, w)) for w, s in enumerate((a, b, a, b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors[:3]
    end = last_seq(replicas.url)
    assert end >= 48
    c3 = replicas.start()  # a fresh process replays the log
    states = []
    for server in (a, b, c3):
        with client(server) as c:
            eventually(lambda c=c: applied(c) == end, f"{server.url} applies the whole log")
            states.append(
                [
                    (
                        c.get(f"/v1/users/{u}/profile").json(),
                        c.get(f"/v1/users/{u}/recommendations", params={"k": 10}).json(),
                    )
                    for u in users
                ]
            )
    assert states[0] == states[1], "the two replicas disagree"
    assert states[0] == states[2], "the replicas disagree with a fresh replay of the log"


def test_kill9_of_one_replica_under_load_loses_no_acknowledged_event(replicas: Replicas) -> None:
    a, b = replicas.start(), replicas.start()
    acked: list[tuple[str, str, int]] = []
    lock = threading.Lock()
    stop = threading.Event()

    def load(server: ServerProcess, name: str) -> None:
        with client(server) as c:
            i = 0
            while not stop.is_set():
                user, item = f"crash-{name}-{i // 6}", ITEMS[(hash(name) + i * 7) % len(ITEMS)]
                try:
                    r = c.post(f"/v1/users/{user}/events", json={"item_id": item, "kind": "like"}, timeout=10)
                except httpx.HTTPError:
                    if server is a:
                        return  # A is gone: this event was never acknowledged
                    raise
                assert r.status_code == 200, r.text
                with lock:
                    acked.append((user, item, int(r.json()["seq"])))
                i += 1

    threads = [threading.Thread(target=load, args=(s, f"{n}{w}")) for w in range(2) for s, n in ((a, "a"), (b, "b"))]
    for t in threads:
        t.start()
    try:
        eventually(lambda: len(acked) >= 80, "80 acknowledged events", timeout=30)
        a.kill9()
        n_at_kill = len(acked)
        eventually(lambda: len(acked) >= n_at_kill + 20, "B goes on taking writes after A died", timeout=20)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=15)
    import psycopg

    with psycopg.connect(replicas.url, autocommit=True) as conn:
        logged = set(conn.execute("SELECT user_id, item_id, seq FROM interestlm_events").fetchall())
        per_user = dict(conn.execute("SELECT user_id, COUNT(*) FROM interestlm_events GROUP BY user_id").fetchall())
    missing = set(acked) - logged
    assert not missing, f"{len(missing)} acknowledged events lost, e.g. {sorted(missing)[:3]}"
    assert {s for _, _, s in acked if s} and any(u.startswith("crash-a") for u, _, _ in acked)
    end = last_seq(replicas.url)
    by_user: dict[str, set[str]] = {}
    for user, item, _ in acked:
        by_user.setdefault(user, set()).add(item)
    with client(b) as c:
        eventually(lambda: applied(c) == end, "B applies every row, A's last ones included")
        for user, items in by_user.items():
            profile = c.get(f"/v1/users/{user}/profile").json()
            assert items <= {x["item_id"] for x in profile["likes"]}, user
            assert profile["n_events"] == per_user[user], user


def test_an_own_write_applies_the_other_replicas_rows_first(artifacts: Path, postgres: PostgresServer) -> None:
    """The ordering rule, without the follower thread (apps never served): a replica's write first
    applies every row committed before it, so both replicas apply the log in seq order."""
    from interestlm.serve import ServeSettings, create_app
    from interestlm.serve.schemas import EventIn, ProfileEditIn

    url = postgres.create_database(f"order{next(_names)}")
    settings = ServeSettings(api_keys=(KEY,), store_url=url, snapshot_every=0)
    a = create_app(artifacts, settings=settings).state.service
    b = create_app(artifacts, settings=settings).state.service
    first = a.add_events("order-user", [EventIn(item_id="jazz-001", kind="like")])["seq"]
    assert b.log_seq < first  # B has not seen it: no follower runs
    second = b.add_events("order-user", [EventIn(item_id="jazz-002", kind="like")])["seq"]
    assert second > first and b.log_seq == second and b.followed_rows == 1
    assert b.profile("order-user")["n_events"] == 2
    a.edit("order-user", ProfileEditIn(mute=["space"]))  # A catches up B's event first
    assert a.followed_rows == 1 and a.log_seq == b.log_seq + 1
    assert b.catch_up() == 1 and b.catch_up() == 0, "a row is applied once"
    assert a.profile("order-user") == b.profile("order-user")
    a.store.close()
    b.store.close()


def test_follow_settings_and_a_sqlite_store_cannot_be_shared(artifacts: Path, tmp_path: Path) -> None:
    from interestlm.serve import ServeSettings
    from interestlm.serve.metrics import Metrics
    from interestlm.serve.service import Service
    from interestlm.serve.store import Store

    env = {"INTERESTLM_FOLLOW_INTERVAL": "0.25", "INTERESTLM_FOLLOW_NOTIFY": "false"}
    s = ServeSettings.load(environ=env)
    assert s.follow_interval == 0.25 and s.follow_notify is False
    with pytest.raises(ValueError, match="follow_interval"):
        ServeSettings.load(environ={"INTERESTLM_FOLLOW_INTERVAL": "-1"})
    from interestlm.recommender import Recommender

    store = Store(tmp_path / "s.sqlite3")
    with pytest.raises(ValueError, match="only a PostgreSQL event log can be shared"):
        Service(Recommender.load(artifacts), store, Metrics(), shared=True)
    store.close()
