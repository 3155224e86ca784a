"""The PostgreSQL operation log against a real local PostgreSQL server: the SQLite store's contract."""

from __future__ import annotations

import itertools
import threading
from pathlib import Path

import pytest
from serve_helpers import KEY, PostgresServer, check_appends_survive_reopening, live

from interestlm.serve import ServeSettings, create_app
from interestlm.serve.pgstore import PostgresStore, redact

_names = itertools.count()


@pytest.fixture()
def url(postgres: PostgresServer) -> str:
    """A fresh, empty database for each test."""
    return postgres.create_database(f"t{next(_names)}")


def test_appends_come_back_in_order_after_reopening(url: str) -> None:
    check_appends_survive_reopening(lambda: PostgresStore(url))


def test_the_log_is_append_only_and_readable_as_columns(url: str) -> None:
    import psycopg

    store = PostgresStore(url)
    store.append("event", "u1", [{"item_id": "a", "kind": "rate", "value": 4.5, "timestamp": 7}])
    with psycopg.connect(url, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            conn.execute("UPDATE interestlm_log SET user_id = 'x'")
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            conn.execute("DELETE FROM interestlm_log")
        rows = conn.execute("SELECT user_id, item_id, kind, value, timestamp FROM interestlm_events").fetchall()
    assert rows == [("u1", "a", "rate", 4.5, 7)]
    store.close()


def test_meta_schema_version_bad_ops_and_bodies_round_trip(url: str) -> None:
    store = PostgresStore(url)
    assert store.get_meta("schema_version") == "1" and store.get_meta("nope") is None
    store.set_meta("artifacts", "abc")
    store.set_meta("artifacts", "def")
    assert store.get_meta("artifacts") == "def"
    # Replicas starting at once on a new store agree on its identity: the first claim wins.
    assert store.claim_meta("store_id", "first") == "first" and store.claim_meta("store_id", "second") == "first"
    with pytest.raises(ValueError, match="log op 'delete'"):
        store.append("delete", None, [{}])
    bodies = [
        {"text": "Ünïcödé ✓ 'quotes' \"and\" \\ backslashes", "value": 0.1 + 0.2, "n": 2**53, "none": None},
        {"nested": {"list": [1, [2, {"x": False}]], "empty": {}}},
    ]
    seqs = store.append("edit", "u2", bodies)
    assert [e.body for e in store.entries() if e.seq in seqs] == bodies
    store.set_meta("schema_version", "999")
    store.close()
    with pytest.raises(ValueError, match="schema version 999"):
        PostgresStore(url)


def test_concurrent_appends_get_unique_increasing_seqs(url: str) -> None:
    store = PostgresStore(url)
    out: list[list[int]] = []

    def writer(n: int) -> None:
        for i in range(20):
            out.append(store.append("event", f"u{n}", [{"item_id": str(i), "kind": "view"}]))

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seqs = sorted(s for batch in out for s in batch)
    assert len(seqs) == len(set(seqs)) == 80 == store.count()
    assert [e.seq for e in store.entries()] == seqs
    store.close()


def test_an_unreachable_server_is_a_clear_error_without_the_password(tmp_path: Path) -> None:
    url = f"postgresql://someone:s3cret@/nowhere?host={tmp_path}&port=1"
    with pytest.raises(ValueError, match="cannot connect") as info:
        PostgresStore(url)
    assert "s3cret" not in str(info.value) and "someone:***@" in str(info.value)
    assert redact("postgres://u:p@h:5432/db") == "postgres://u:***@h:5432/db"
    with pytest.raises(ValueError, match="postgresql:// URL"):
        ServeSettings(store_url="sqlite:///x.db")


def test_the_service_on_postgres_replays_every_acknowledged_write(artifacts: Path, url: str) -> None:
    settings = ServeSettings(api_keys=(KEY,), store_url=url)
    with live(create_app(artifacts, settings=settings)) as server, server.client() as c:
        user = "pg-user"
        for item in ("jazz-001", "jazz-002", "space-003"):
            assert c.post(f"/v1/users/{user}/events", json={"item_id": item, "kind": "like"}).status_code == 200
        assert c.patch(f"/v1/users/{user}/profile", json={"mute": ["space"]}).status_code == 200
        profile = c.get(f"/v1/users/{user}/profile").json()
        recs = c.get(f"/v1/users/{user}/recommendations", params={"k": 5}).json()
    # A new process: fresh artifacts in memory, the same database.
    with live(create_app(artifacts, settings=settings)) as server, server.client() as c:
        assert c.get(f"/v1/users/{user}/profile").json() == profile
        assert c.get(f"/v1/users/{user}/recommendations", params={"k": 5}).json() == recs
        assert c.get("/healthz").json()["log_seq"] == 4
