"""Snapshots: start-up restores the snapshot and replays only the tail, to exactly the served state."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
from serve_helpers import KEY, live

from interestlm.serve import ServeSettings, create_app
from interestlm.serve.snapshot import snapshot_dir_for

USERS = ("u010", "u011", "u012", "u013", "newcomer", "late")


def _state(c: httpx.Client) -> list[object]:
    out: list[object] = []
    for u in USERS:
        out.append(c.get(f"/v1/users/{u}/profile").json())
        out.append(c.get(f"/v1/users/{u}/recommendations", params={"k": 8}).json())
    return out


def test_a_snapshot_plus_the_tail_restores_the_served_state_exactly(artifacts: Path, tmp_path: Path) -> None:
    store = tmp_path / "store.sqlite3"
    settings = ServeSettings(api_keys=(KEY,), store_path=store, synchronous="NORMAL", snapshot_every=1_000_000)
    item = {"item_id": "space-new", "title": "Orbital Nebula Telescope", "text": "astronomy galaxy nebula orbit"}
    saved = tmp_path / "kept-snapshot"
    app = create_app(artifacts, settings=settings)
    with live(app) as server, server.client() as c:
        c.get("/v1/users/u012/profile").raise_for_status()  # built by a read, before the items
        c.post("/v1/items", json={"items": [item]}).raise_for_status()
        c.post("/v1/users/u010/events", json={"events": [{"item_id": "space-new", "kind": "like"},
                                                        {"item_id": "hiking-001", "kind": "rate", "value": 2}]}
               ).raise_for_status()  # fmt: skip
        c.patch("/v1/users/u011/profile", json={"pin": ["space"]}).raise_for_status()
        c.post("/v1/users/newcomer/events", json={"item_id": "kitchen-002", "kind": "like"}).raise_for_status()
        mid = app.state.service.snapshot()
        shutil.copytree(snapshot_dir_for(store), saved)
        # The tail: more events, another item, a new user, an edit.
        c.post("/v1/items", json={"items": [{"item_id": "jazz-new", "title": "Late Night Sax"}]}).raise_for_status()
        c.post("/v1/users/u013/events", json={"item_id": "jazz-new", "kind": "like"}).raise_for_status()
        c.post("/v1/users/late/events", json={"item_id": "space-new", "kind": "click"}).raise_for_status()
        c.post("/v1/users/u010/events", json={"item_id": "jazz-003", "kind": "dislike"}).raise_for_status()
        c.patch("/v1/users/newcomer/profile", json={"mute": ["kitchen"]}).raise_for_status()
        served = _state(c)
        last = c.get("/healthz").json()["log_seq"]
    assert mid == 5 and last == 10
    shutil.rmtree(snapshot_dir_for(store))  # the one written at shutdown covers everything: use the mid one
    shutil.copytree(saved, snapshot_dir_for(store))
    app = create_app(artifacts, settings=settings)
    assert app.state.service.snapshot_seq == 5 and app.state.service.replayed_rows == last - 5
    with live(app) as server, server.client() as c:
        assert _state(c) == served
    # The snapshot written at shutdown covers the whole log: nothing left to replay.
    app = create_app(artifacts, settings=settings)
    assert app.state.service.snapshot_seq == last and app.state.service.replayed_rows == 0
    with live(app) as server, server.client() as c:
        assert _state(c) == served


def test_a_snapshot_of_another_store_is_ignored(artifacts: Path, tmp_path: Path) -> None:
    one, two = tmp_path / "one.sqlite3", tmp_path / "two.sqlite3"
    for path, n in ((one, 3), (two, 1)):
        settings = ServeSettings(api_keys=(KEY,), store_path=path, synchronous="NORMAL")
        with live(create_app(artifacts, settings=settings)) as server, server.client() as c:
            for i in range(n):
                c.post("/v1/users/x/events", json={"item_id": f"jazz-00{i}", "kind": "like"}).raise_for_status()
    shutil.rmtree(snapshot_dir_for(two))
    shutil.copytree(snapshot_dir_for(one), snapshot_dir_for(two))
    app = create_app(artifacts, settings=ServeSettings(api_keys=(KEY,), store_path=two))
    assert app.state.service.snapshot_seq == 0 and app.state.service.replayed_rows == 1
