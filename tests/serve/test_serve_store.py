"""The SQLite operation log: durable appends in order, append-only, WAL, clear errors."""

import sqlite3
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from serve_helpers import check_appends_survive_reopening

from interestlm.serve.store import Store

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def test_appends_come_back_in_order_after_reopening(tmp_path: Path) -> None:
    check_appends_survive_reopening(lambda: Store(tmp_path / "log.sqlite3"))


def test_the_store_is_wal_and_append_only(tmp_path: Path) -> None:
    path = tmp_path / "log.sqlite3"
    store = Store(path)
    store.append("event", "u1", [{"item_id": "a", "kind": "rate", "value": 4.5}])
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE log SET user_id = 'x'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM log")
    # The readable view exposes feedback as columns.
    assert conn.execute("SELECT user_id, item_id, kind, value FROM events").fetchall() == [("u1", "a", "rate", 4.5)]
    conn.close()
    store.close()


def test_bad_ops_and_bad_files_are_clear_errors(tmp_path: Path) -> None:
    store = Store(tmp_path / "ok.sqlite3")
    with pytest.raises(ValueError, match="log op 'delete'"):
        store.append("delete", None, [{}])
    store.close()
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ValueError, match=r"junk\.sqlite3: not a usable SQLite store"):
        Store(junk)


def test_meta_and_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "log.sqlite3"
    store = Store(path)
    assert store.get_meta("artifacts") is None
    store.set_meta("artifacts", "abc")
    store.set_meta("schema_version", "999")
    store.close()
    with pytest.raises(ValueError, match="schema version 999"):
        Store(path)


def test_concurrent_appends_get_unique_seqs(tmp_path: Path) -> None:
    store = Store(tmp_path / "log.sqlite3", synchronous="NORMAL")
    seqs: list[int] = []
    lock = threading.Lock()

    def writer(w: int) -> None:
        for i in range(25):
            got = store.append("event", f"u{w}", [{"i": i}])
            with lock:
                seqs.extend(got)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(seqs) == [r.seq for r in store.entries()] and len(set(seqs)) == 100
    for w in range(4):
        assert [r.body["i"] for r in store.entries(user_id=f"u{w}")] == list(range(25))
    store.close()


@settings(max_examples=15, deadline=None)
@given(bodies=st.lists(st.dictionaries(st.text(max_size=8), json_values, max_size=5), min_size=1, max_size=5))
def test_bodies_round_trip_exactly(tmp_path_factory: pytest.TempPathFactory, bodies: list[dict[str, object]]) -> None:
    store = Store(tmp_path_factory.mktemp("rt") / "log.sqlite3", synchronous="NORMAL")
    store.append("edit", "ü-user", bodies)
    assert [r.body for r in store.entries()] == bodies
    store.close()
