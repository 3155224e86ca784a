"""kill -9 under load: every acknowledged event is in the log after restart and reflected in profiles."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import httpx
from serve_helpers import KEY, ServerProcess

ITEMS = [f"{t}-{j:03d}" for t in ("jazz", "kitchen", "hiking", "space") for j in range(25)]
PER_USER = 6  # events per crash user: well under the profile's likes cap, so every like stays listed


def test_kill9_under_load_loses_no_acknowledged_event(artifacts: Path, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text(f"# test\n{KEY}\n", encoding="utf-8")
    store = tmp_path / "crash.sqlite3"
    log = tmp_path / "server.log"
    server = ServerProcess(artifacts, store, keys, log)
    acked: list[tuple[str, str, int]] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(w: int) -> None:
        headers = {"Authorization": f"Bearer {KEY}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=10) as c:
            i = 0
            while not stop.is_set():
                user, item = f"crash-{w}-{i // PER_USER}", ITEMS[(w * 31 + i * 7) % len(ITEMS)]
                try:
                    r = c.post(f"/v1/users/{user}/events", json={"item_id": item, "kind": "like"})
                except httpx.HTTPError:
                    return  # the server is gone: this event was never acknowledged
                assert r.status_code == 200, r.text
                with lock:
                    acked.append((user, item, int(r.json()["seq"])))
                i += 1

    threads = [threading.Thread(target=client, args=(w,)) for w in range(4)]
    try:
        for t in threads:
            t.start()
        deadline = time.monotonic() + 20
        while len(acked) < 60 and time.monotonic() < deadline:
            time.sleep(0.05)
        server.kill9()
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=15)
        server.stop()
    assert len(acked) >= 60, f"too little load before the kill: {len(acked)} events"

    restarted = ServerProcess(artifacts, store, keys, log)
    try:
        conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
        logged = {(u, i, s) for s, u, i in conn.execute("SELECT seq, user_id, item_id FROM events")}
        per_user = dict(conn.execute("SELECT user_id, COUNT(*) FROM events GROUP BY user_id").fetchall())
        conn.close()
        missing = set(acked) - logged
        assert not missing, f"{len(missing)} acknowledged events lost, e.g. {sorted(missing)[:3]}"
        by_user: dict[str, set[str]] = {}
        for user, item, _ in acked:
            by_user.setdefault(user, set()).add(item)
        with httpx.Client(base_url=restarted.url, timeout=30, headers={"Authorization": f"Bearer {KEY}"}) as c:
            for user, items in by_user.items():
                profile = c.get(f"/v1/users/{user}/profile").json()
                assert items <= {x["item_id"] for x in profile["likes"]}, user
                assert profile["n_events"] == per_user[user], user
                recs = c.get(f"/v1/users/{user}/recommendations", params={"k": 10}).json()["recommendations"]
                assert not items & {r["item_id"] for r in recs}, "liked (seen) items must stay filtered"
            assert c.get("/healthz").json()["log_seq"] >= max(s for _, _, s in acked)
    finally:
        restarted.stop()
    assert "Traceback" not in log.read_text(encoding="utf-8")
