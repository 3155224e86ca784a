"""The hostile-input corpus of issue 22, as regression tests through a real server on loopback.

Each test names the input and what the base commit (8270b2d) did with it; the assertions are what
the service must do now: refuse bad input with a 4xx before anything is applied, fail an internal
error in one request with a 500 and a request id, and stay healthy and writable either way.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from serve_helpers import KEY, LiveServer, live

from interestlm.serve import ServeSettings, create_app
from interestlm.serve.store import Store

ITEM, OTHER = "jazz-000", "jazz-001"


@pytest.fixture
def fresh(artifacts: Path, tmp_path: Path) -> Iterator[LiveServer]:
    """A server of its own per test (some tests break parts of it on purpose)."""
    settings = ServeSettings(api_keys=(KEY,), store_path=tmp_path / "store.sqlite3", synchronous="NORMAL")
    with live(create_app(artifacts, settings=settings)) as s:
        yield s


def _healthy_and_writable(c: httpx.Client, user: str) -> None:
    health = c.get("/healthz")
    assert health.status_code == 200, health.text
    r = c.post(f"/v1/users/{user}/events", json={"item_id": OTHER, "kind": "like"})
    assert r.status_code == 200, f"writes must stay on: {r.text}"


def _likes(c: httpx.Client, user: str) -> list[str]:
    r = c.get(f"/v1/users/{user}/profile")
    if r.status_code == 404:
        return []
    assert r.status_code == 200, r.text
    return [x["item_id"] for x in r.json().get("likes", [])]


def _log_rows(server: LiveServer) -> int:
    store: Store = server.app.state.service.store
    return store.count()


@pytest.mark.parametrize(
    "events",
    [
        # before: 500 (OverflowError), then /healthz 503 and every write 503 until restart,
        # while readers saw the half-applied batch
        [{"item_id": ITEM, "kind": "like"}, {"item_id": OTHER, "kind": "like", "timestamp": 10**30}],
        # before: the same, with only finite numbers
        [{"item_id": ITEM, "kind": "rate", "value": 1e308}, {"item_id": OTHER, "kind": "rate", "value": 4}],
        # before: a plain 500
        [{"item_id": ITEM, "kind": "like", "timestamp": 2**63}],
        [{"item_id": ITEM, "kind": "like", "timestamp": -1}],
    ],
    ids=["timestamp-1e30-in-batch", "rating-1e308-in-batch", "timestamp-2^63", "timestamp-negative"],
)
def test_a_bad_batch_is_refused_whole_and_the_service_stays_writable(
    fresh: LiveServer, events: list[dict[str, Any]]
) -> None:
    with fresh.client() as c:
        rows = _log_rows(fresh)
        r = c.post("/v1/users/hostile-1/events", json={"events": events})
        assert r.status_code == 422, r.text
        assert _log_rows(fresh) == rows, "nothing of a refused batch is logged"
        assert _likes(c, "hostile-1") == [], "nothing of a refused batch is applied"
        _healthy_and_writable(c, "hostile-1")


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (1e308, "before: accepted and logged; every later rating of the user -> 422 'user_mean must be finite'"),
        (-5, "before: accepted (off the 1..5 scale of the data)"),
        (6, "off the scale of the data"),
        ("5", "before: coerced to 5.0"),
        (True, "before: coerced to 1.0"),
        (None, "a rate needs a value"),
    ],
)
def test_a_rating_off_the_scale_or_of_the_wrong_type_is_refused(fresh: LiveServer, value: Any, why: str) -> None:
    with fresh.client() as c:
        r = c.post("/v1/users/hostile-2/events", json={"item_id": ITEM, "kind": "rate", "value": value})
        assert r.status_code == 422, f"{why}: {r.text}"
        ok = c.post("/v1/users/hostile-2/events", json={"item_id": OTHER, "kind": "rate", "value": 4.5})
        assert ok.status_code == 200, f"the user's later ratings are taken: {ok.text}"


@pytest.mark.parametrize(
    "raw",
    [
        '{"item_id": "jazz-000", "kind": "like", "timestamp": "1700000000"}',
        '{"item_id": "jazz-000", "kind": "like", "timestamp": 1.7e9}',
        '{"item_id": "jazz-000", "kind": "like", "timestamp": true}',
        '{"item_id": 7, "kind": "like"}',
        '{"item_id": "jazz-000", "kind": "review", "text": 5}',
        '{"item_id": "jazz-000", "kind": "rate", "value": NaN}',
        '{"item_id": "jazz-000", "kind": "rate", "value": 1e400}',
        '{"item_id": "jazz-000", "kind": "rate", "value": 4, "timestamp": 100000000000000000000000000000}',
    ],
    ids=["ts-string", "ts-float", "ts-bool", "id-int", "text-int", "nan", "1e400", "ts-1e29"],
)
def test_wrong_types_are_not_coerced(fresh: LiveServer, raw: str) -> None:
    with fresh.client() as c:
        r = c.post("/v1/users/hostile-3/events", content=raw, headers={"content-type": "application/json"})
        assert r.status_code == 422, r.text
        assert c.get("/v1/users/hostile-3/profile").status_code == 404, "a refused first event creates no user"


def test_a_poisoned_rating_already_in_the_log_is_skipped_at_replay(artifacts: Path, tmp_path: Path) -> None:
    """before: the 1e308 row replayed at every start and every later rating of the user -> 422."""
    path = tmp_path / "poisoned.sqlite3"
    settings = ServeSettings(api_keys=(KEY,), store_path=path, synchronous="NORMAL")
    with live(create_app(artifacts, settings=settings)) as s, s.client() as c:
        assert c.post("/v1/users/poisoned/events", json={"item_id": ITEM, "kind": "like"}).status_code == 200
    store = Store(path)  # what the base commit accepted and logged
    store.append("event", "poisoned", [{"item_id": OTHER, "kind": "rate", "value": 1e308, "timestamp": 1}])
    store.close()
    with live(create_app(artifacts, settings=settings)) as s, s.client() as c:
        assert s.app.state.service.replay_failures == 1
        r = c.post("/v1/users/poisoned/events", json={"item_id": OTHER, "kind": "rate", "value": 4})
        assert r.status_code == 200, r.text


def test_an_internal_failure_half_way_through_a_batch_fails_only_that_request(
    fresh: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """before: 500, then 'a batch of events failed half-way': /healthz 503, writes 503 until restart."""
    service = fresh.app.state.service
    real = service.rec.update
    calls = {"n": 0}

    def flaky(user_id: str, event: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("injected")
        return real(user_id, event)

    with fresh.client() as c:
        assert c.post("/v1/users/hostile-4/events", json={"item_id": "space-000", "kind": "like"}).status_code == 200
        before = c.get("/v1/users/hostile-4/profile").json()
        rows = _log_rows(fresh)
        monkeypatch.setattr(service.rec, "update", flaky)
        r = c.post("/v1/users/hostile-4/events", json={"events": [{"item_id": ITEM, "kind": "like"}] * 2})
        assert r.status_code == 500 and r.json()["request_id"] == r.headers["x-request-id"]
        assert "injected" not in r.text
        monkeypatch.setattr(service.rec, "update", real)
        assert c.get("/v1/users/hostile-4/profile").json() == before, "the half-applied batch is put back"
        assert _log_rows(fresh) == rows
        _healthy_and_writable(c, "hostile-4")


def test_a_failed_log_commit_puts_memory_back_and_keeps_writes_on(
    fresh: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = fresh.app.state.service

    def full_disk(*args: Any, **kwargs: Any) -> list[int]:
        raise sqlite3.OperationalError("database or disk is full")

    with fresh.client() as c:
        monkeypatch.setattr(service.store, "append", full_disk)
        r = c.post("/v1/users/hostile-5/events", json={"item_id": ITEM, "kind": "like"})
        assert r.status_code == 500 and "request_id" in r.json()
        monkeypatch.undo()
        assert c.get("/v1/users/hostile-5/profile").status_code == 404, "the new user is not left behind"
        _healthy_and_writable(c, "hostile-5")
        assert _likes(c, "hostile-5") == [OTHER]


def test_server_timestamps_follow_the_log_order(fresh: LiveServer) -> None:
    """before: a per-second timestamp taken before the lock (10 inversions in 200 rows)."""

    def post(w: int) -> None:
        with fresh.client() as c:
            for i in range(10):
                kind = "like" if (w + i) % 2 else "dislike"
                assert c.post("/v1/users/ordered/events", json={"item_id": ITEM, "kind": kind}).status_code == 200

    threads = [threading.Thread(target=post, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stamps = [e.body["timestamp"] for e in fresh.app.state.service.store.entries(user_id="ordered")]
    assert len(stamps) == 40 and stamps == sorted(stamps)


def test_every_response_carries_the_security_headers(fresh: LiveServer) -> None:
    with fresh.client(key=None) as c:
        for r in (
            c.get("/healthz"),
            c.get("/v1/users/nobody/profile"),
            c.post("/v1/users/x/events", json={"item_id": ITEM, "kind": "like"}),
            c.get("/metrics"),
        ):
            assert r.headers["x-content-type-options"] == "nosniff", r.url
            assert "default-src 'none'" in r.headers["content-security-policy"], r.url
