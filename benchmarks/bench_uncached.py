"""Uncached recommendation lists over HTTP: p50/p99 at a fixed request rate, before and after.

Issue 23's goal: an uncached top-10 list over HTTP p99 <= 25 ms at 50 requests/s. The server runs
with ``--cache-size 0`` (every request ranks, explains and encodes its list) after ``--warm`` built
every profile. Each ``--code`` tree (e.g. the commit before a change and the working tree) is
served in turn by a real ``interestlm serve`` subprocess on loopback, alternated ``--rounds``
times so both see the same machine load; the open-loop load generator is bench_serve's.

    python benchmarks/bench_uncached.py --artifacts DIR --code before=/path/to/old/src after=src
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import statistics
import tempfile
from pathlib import Path
from typing import Any

from bench_serve import KEY, load, start_server, stop_server
from interestlm.evaluate.runner import hardware, versions

RESULTS = Path(__file__).resolve().parent / "results" / "speed" / "bench_uncached.json"


def serve_once(
    src: Path,
    artifacts: Path,
    users: list[str],
    rate: float,
    seconds: float,
    blas: int,
    seed: int,
    workers: int = 1,
) -> dict[str, Any]:
    """One server from ``src`` with no list cache and ``workers`` compute threads, loaded with
    recommendation requests only."""
    work = Path(tempfile.mkdtemp(prefix="bench-uncached-"))
    keys = work / "keys"
    keys.write_text(KEY + "\n", encoding="utf-8")
    saved = dict(os.environ)
    os.environ.update(
        {
            "PYTHONPATH": str(src.resolve()),
            "OPENBLAS_NUM_THREADS": str(blas),
            "INTERESTLM_COMPUTE_WORKERS": str(workers),
        }
    )
    try:
        proc, url, _ = start_server(
            artifacts, work / "store.sqlite3", keys, blas, warm=True, extra=["--cache-size", "0"]
        )
    finally:
        os.environ.clear()
        os.environ.update(saved)
    try:
        return asyncio.run(load(url, users, [], rate, seconds, seed, (("recommend", 1.0),)))
    finally:
        stop_server(proc)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--artifacts", type=Path, required=True)
    p.add_argument("--code", nargs="+", required=True, help="NAME=SRC_DIR pairs, served in turn")
    p.add_argument("--rate", type=float, default=50.0)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--blas-threads", type=int, nargs="+", default=[1])
    p.add_argument("--workers", type=int, nargs="+", default=[1], help="compute threads per server")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args()
    import pyarrow.parquet as pq

    users = [str(u) for u in pq.read_table(args.artifacts / "users.parquet").column(0).to_pylist()]
    codes = dict(pair.split("=", 1) for pair in args.code)
    runs: dict[str, list[dict[str, Any]]] = {}
    for r in range(args.rounds):
        for blas, workers, (name, src) in itertools.product(args.blas_threads, args.workers, codes.items()):
            label = f"{name}, blas {blas}" + (f", {workers} workers" if workers != 1 else "")
            run = serve_once(Path(src), args.artifacts, users, args.rate, args.seconds, blas, seed=r, workers=workers)
            run["load_average"] = [round(x, 2) for x in os.getloadavg()]
            runs.setdefault(label, []).append(run)
            print(label, json.dumps(run["recommend"]), run["load_average"], flush=True)
    summary = {
        label: {
            "p50_ms_median": statistics.median(x["recommend"]["p50_ms"] for x in rs),
            "p99_ms_median": statistics.median(x["recommend"]["p99_ms"] for x in rs),
            "errors": [x["errors"] for x in rs],
        }
        for label, rs in runs.items()
    }
    result = {
        "benchmark": "uncached lists over HTTP (--cache-size 0)",
        "rate_per_s": args.rate,
        "seconds_per_run": args.seconds,
        "code": codes,
        "summary": summary,
        "runs": runs,
        "hardware": hardware(),
        "versions": versions(),
        "note": "shared 2-core machine; trees alternated run by run; medians over rounds",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
