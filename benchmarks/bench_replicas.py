"""Propagation delay between two `interestlm serve` replicas on one PostgreSQL log.

A throw-away local PostgreSQL cluster (the tests' helper), two real server processes A and B on
one database, artifacts fitted on the planted topics (hashing encoder) unless ``--artifacts`` is
given. Events are posted to A one at a time; for each, B's ``/healthz`` is polled until its
applied seq reaches the event's, and three delays are recorded:

* ``append_to_applied``: from A stamping the row (``received_at``, just before its commit) to B
  applying it (B's ``follow_delay_s``: both clocks are this machine's);
* ``ack_to_applied``: from the client receiving A's 200 to B applying it (B's ``followed_at``;
  slightly negative when B applies the row before A's reply reaches the client);
* ``ack_to_visible``: from A's 200 to the first B response showing it (adds the polling).

Run with LISTEN/NOTIFY (the default) and with polling only (``--no-follow-notify``, the fallback
when notifications are lost). Written to ``benchmarks/results/serve/bench_replicas.json``.

    python benchmarks/bench_replicas.py [--events 300] [--poll-events 40] [--interval 1.0]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx

from interestlm.evaluate.runner import hardware, versions
from latency import percentiles

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "serve"))

from serve_helpers import KEY, PostgresServer, ServerProcess, postgres_bindir  # noqa: E402

RESULTS = HERE / "results" / "serve" / "bench_replicas.json"
ITEMS = [f"{t}-{j:03d}" for t in ("jazz", "kitchen", "hiking", "space") for j in range(25)]




def fit_artifacts(folder: Path) -> Path:
    """The test suite's artifacts: the planted topics, hashing encoder (seconds to fit)."""
    from interestlm.config import RecommenderConfig
    from interestlm.recommender import Recommender
    from interestlm.testing.planted import planted_topics

    rec = Recommender(RecommenderConfig(encoder="hashing")).fit(planted_topics())
    return Path(rec.save(folder / "artifacts"))


def measure(
    a: ServerProcess, b: ServerProcess, n: int, tag: str, timeout: float, jitter: float = 0.0
) -> dict[str, Any]:
    """Post ``n`` events to A one by one (after a random pause of up to ``jitter`` seconds, so
    writes do not fall in step with B's polls); time each until B has applied it."""
    rng = random.Random(0)
    headers = {"Authorization": f"Bearer {KEY}"}
    append, acked, visible = [], [], []
    with httpx.Client(base_url=a.url, headers=headers) as ca, httpx.Client(base_url=b.url, headers=headers) as cb:
        for i in range(n):
            user = f"{tag}-{i % 20}"
            time.sleep(rng.uniform(0.0, jitter))
            r = ca.post(f"/v1/users/{user}/events", json={"item_id": ITEMS[(i * 7) % len(ITEMS)], "kind": "like"})
            t_ack = time.time()
            r.raise_for_status()
            seq = int(r.json()["seq"])
            deadline = time.monotonic() + timeout
            while True:
                health = cb.get("/healthz").json()
                if health["log_seq"] >= seq:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"B did not apply seq {seq} within {timeout} s")
                time.sleep(0.001)
            visible.append(time.time() - t_ack)
            # Sequential writes: the row B applied last is this one.
            append.append(float(health["follow_delay_s"]))
            acked.append(float(health["followed_at"]) - t_ack)
        n_events = sum(cb.get(f"/v1/users/{tag}-{u}/profile").json()["n_events"] for u in range(min(n, 20)))
    assert n_events == n, f"B's profiles hold {n_events} of the {n} events"
    return {
        "events": n,
        "append_to_applied": percentiles(append),
        "ack_to_applied": percentiles(acked),
        "ack_to_visible": percentiles(visible),
    }


def main() -> int:
    """Run both modes and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=Path, default=None, help="default: fit the planted topics")
    parser.add_argument("--events", type=int, default=300, help="events timed with LISTEN/NOTIFY")
    parser.add_argument("--poll-events", type=int, default=40, help="events timed with polling only")
    parser.add_argument("--interval", type=float, default=1.0, help="the poll fallback (--follow-interval)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    bindir = postgres_bindir()
    if bindir is None:
        raise SystemExit("PostgreSQL (initdb, pg_ctl) is not installed")
    started = time.perf_counter()
    load_before = os.getloadavg()
    runs: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-replicas-") as tmp:
        folder = Path(tmp)
        artifacts = args.artifacts or fit_artifacts(folder)
        keys = folder / "keys"
        keys.write_text(f"{KEY}\n", encoding="utf-8")
        pg = PostgresServer(bindir).start()
        try:
            for mode, n, extra, jitter in (
                ("notify", args.events, (), 0.0),
                ("poll_only", args.poll_events, ("--no-follow-notify",), args.interval),
            ):
                if n <= 0:
                    continue
                url = pg.create_database(f"bench_{mode}")
                follow = ("--follow-interval", str(args.interval), *extra)
                a = ServerProcess(artifacts, url, keys, folder / "a.log", follow)
                b = ServerProcess(artifacts, url, keys, folder / "b.log", follow)
                try:
                    measure(a, b, 10, f"warm-{mode}", timeout=args.interval + 10)
                    runs[mode] = {
                        "follow_interval_s": args.interval,
                        "listen_notify": mode == "notify",
                        "pause_before_each_s": [0.0, jitter],
                        **measure(a, b, n, mode, timeout=args.interval + 10, jitter=jitter),
                    }
                finally:
                    a.stop()
                    b.stop()
                print(mode, json.dumps(runs[mode]), flush=True)
        finally:
            pg.stop()
    result = {
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "what": "two replicas on one PostgreSQL log (local, Unix socket); events posted to A one at a time, "
        "B polled until it applied each (see the module docstring for the three delays); polling only: "
        "a random pause of up to the interval before each event",
        "runs": runs,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "wall_s": round(time.perf_counter() - started, 1),
        "hardware": hardware(),
        "versions": {**versions(), **{n: metadata.version(n) for n in ("fastapi", "uvicorn", "httpx", "psycopg")}},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
