"""Start-up time of the service against the length of its event log, with and without a snapshot.

1. Full replay: ``create_app`` on a log of ``--replay-rows`` events (random users and items of the
   artifacts), no snapshot: seconds per row. Run it with ``--label before`` on the base checkout
   (``PYTHONPATH=<base>/src``; it has no snapshots) for the before figure; a million rows would
   take that many times longer.
2. With a snapshot (``--label after`` only): a log of ``--log-rows`` (default 1,000,000) events is
   written straight into a SQLite store; the snapshot is the real one a server wrote after
   applying the first ``--replay-rows`` of those events (every user touched), re-stamped at seq
   ``log_rows - tail_rows`` of the long log. Its restore cost depends on the users and items it
   holds, not on how many events it summarises, so the start-up measured (load the artifacts,
   restore, replay the ``--tail-rows`` tail) is the one a million-event log with a snapshot every
   ``tail_rows`` rows has at worst. The snapshot's write time is reported too.

    python benchmarks/bench_replay.py --artifacts DIR [--label after]

Results merge into ``benchmarks/results/serve/bench_replay.json`` under ``--label``.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from interestlm.evaluate.runner import hardware, versions

RESULTS = Path(__file__).resolve().parent / "results" / "serve" / "bench_replay.json"
KINDS = ("view", "click", "like", "dislike")


def events(users: list[str], items: list[str], n: int, seed: int) -> list[tuple[str, str]]:
    """``(user_id, body JSON)`` for ``n`` events, timestamps increasing."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        body = {"item_id": rng.choice(items), "kind": rng.choice(KINDS), "value": None, "text": None,
                "timestamp": 1_600_000_000 + i}  # fmt: skip
        out.append((rng.choice(users), json.dumps(body, separators=(",", ":"))))
    return out


def write_log(path: Path, fingerprint: str, rows: list[tuple[str, str]]) -> None:
    """A store holding ``rows`` as event rows (through the Store for the schema, then bulk insert)."""
    from interestlm.serve.store import Store

    Store(path, synchronous="NORMAL").close()
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('artifacts', ?)", (fingerprint,))
        conn.executemany("INSERT INTO log (op, user_id, body, received_at) VALUES ('event', ?, ?, 0)", rows)
    conn.close()


def start(artifacts: Path, store: Path, **extra: Any) -> tuple[float, Any]:
    from interestlm.serve import ServeSettings, create_app

    settings = ServeSettings(api_keys=("bench-key-0123456789",), store_path=store, synchronous="NORMAL", **extra)
    t = time.perf_counter()
    app = create_app(artifacts, settings=settings)
    return time.perf_counter() - t, app


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=Path, required=True)
    parser.add_argument("--label", default="after")
    parser.add_argument("--replay-rows", type=int, default=5_000)
    parser.add_argument("--log-rows", type=int, default=1_000_000)
    parser.add_argument("--tail-rows", type=int, default=2_000)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    import pandas as pd

    from interestlm.serve.service import artifacts_fingerprint

    users = [str(u) for u in pd.read_parquet(args.artifacts / "users.parquet")["user_id"]]
    items = [str(i) for i in pd.read_parquet(args.artifacts / "items.parquet")["item_id"]]
    fingerprint = artifacts_fingerprint(args.artifacts)
    result: dict[str, Any] = {"measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        load_only, _ = start(args.artifacts, Path(tmp) / "empty.sqlite3")
        result["start_empty_log_s"] = round(load_only, 2)
        short = Path(tmp) / "short.sqlite3"
        write_log(short, fingerprint, events(users, items, args.replay_rows, seed=0))
        seconds, app = start(args.artifacts, short, **({"snapshot_every": 0} if args.label != "before" else {}))
        per_row = (seconds - load_only) / args.replay_rows
        result["full_replay"] = {
            "rows": args.replay_rows,
            "start_s": round(seconds, 2),
            "replay_ms_per_row": round(per_row * 1000, 3),
            "projected_start_s_for_log_rows": round(load_only + per_row * args.log_rows, 1),
        }
        print(json.dumps(result, indent=1), flush=True)
        if args.label != "before":
            service = app.state.service
            service.snapshot_dir = Path(tmp) / "short-snapshot"
            t = time.perf_counter()
            service.snapshot()
            result["snapshot_write_s"] = round(time.perf_counter() - t, 3)
            long = Path(tmp) / "long.sqlite3"
            t = time.perf_counter()
            write_log(long, fingerprint, events(users, items, args.log_rows, seed=1))
            result["write_long_log_s"] = round(time.perf_counter() - t, 1)
            # The long log's own identity (given at its first start) goes into the re-stamped snapshot.
            conn = sqlite3.connect(long)
            with conn:
                conn.execute("INSERT INTO meta (key, value) VALUES ('store_id', 'bench-long-store')")
            conn.close()
            from interestlm.serve.snapshot import snapshot_dir_for

            target = snapshot_dir_for(long)
            shutil.copytree(service.snapshot_dir, target)
            meta = json.loads((target / "snapshot.json").read_text())
            meta.update(seq=args.log_rows - args.tail_rows, store_id="bench-long-store")
            (target / "snapshot.json").write_text(json.dumps(meta))
            seconds, app = start(args.artifacts, long)
            svc = app.state.service
            assert svc.snapshot_seq == args.log_rows - args.tail_rows and svc.replayed_rows == args.tail_rows
            result["with_snapshot"] = {
                "log_rows": args.log_rows,
                "tail_rows": args.tail_rows,
                "profiles_in_snapshot": len((target / "profiles.jsonl").read_text().splitlines()),
                "start_s": round(seconds, 2),
            }
        result["wall_s"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(result, indent=1))
    previous = json.loads(args.out.read_text()) if args.out.exists() else {}
    previous.setdefault("runs", {})[args.label] = result
    previous.update(
        {"benchmark": "bench_replay", "artifacts": str(args.artifacts), "hardware": hardware(), "versions": versions()}
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(previous, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
