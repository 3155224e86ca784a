"""Issue 23's single-machine goals on ml-latest-small, before and after, in one run.

For each ``--code`` tree (e.g. the commit before a change and the working tree), a fresh
subprocess with that tree's ``src`` first on the path measures:

* ``fit_seconds``: ``Recommender.fit`` (without the rating model) from a cold encoder cache, and
  ``encode_seconds``: encoding the same item texts again with the loaded model (the encoder's
  share of the fit);
* batch recommendation of every user's top-10, with and without explanations (users/s, median
  of ``--repeats``; wall clock and process CPU time, which a shared machine disturbs less);
* an uncached list for one user (``recommendations_json``, in-process): median and p99 ms.

The trees run in turn, so both see the same machine load (recorded). Results:
``benchmarks/results/speed/bench_speed.json``.

    python benchmarks/bench_speed.py --code before=/path/to/old/src after=src
    python benchmarks/bench_speed.py --code ... --artifacts DIR --rounds 3   # ranking only
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "speed" / "bench_speed.json"
#: Fit timings summarised across rounds (medians per tree).
MEDIANS = (
    "fit_seconds",
    "fit_cpu_seconds",
    "encode_seconds",
    "fit_seconds_without_encoding",
    "fit_cpu_seconds_without_encoding",
)


def child(
    dataset_name: str, repeats: int, misses: int, artifacts: str | None, fit_only: bool = False
) -> dict[str, Any]:
    """Every measurement of one code tree (runs in the subprocess); with ``artifacts``, the
    saved recommender is loaded instead of fitted (ranking measurements only); with
    ``fit_only``, the fit and encoding timings alone."""
    import random

    import numpy as np

    from interestlm.config import RecommenderConfig
    from interestlm.data.registry import load_dataset
    from interestlm.recommender import Recommender

    fit_seconds = encode_seconds = fit_cpu_seconds = encode_cpu_seconds = float("nan")
    if artifacts:
        rec = Recommender.load(artifacts)
        texts = rec.state_.item_texts
    else:
        dataset = load_dataset(dataset_name)
        started, cpu = time.perf_counter(), time.process_time()
        # The rating model is left out of both trees' fits (it is timed on its own: the stack
        # takes most of a fit, and trees before it fitted a different model).
        rec = Recommender(RecommenderConfig(encoder="minilm", progress=False, rating_model=False)).fit(dataset)
        fit_seconds, fit_cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
        texts = rec.state_.item_texts
        started, cpu = time.perf_counter(), time.process_time()
        rec.state_.encoder.encode(texts)
        encode_seconds, encode_cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    fit = {
        "n_items": len(texts),
        "fit_seconds": round(fit_seconds, 2),
        "fit_cpu_seconds": round(fit_cpu_seconds, 2),
        "encode_seconds": round(encode_seconds, 2),
        "encode_cpu_seconds": round(encode_cpu_seconds, 2),
        "encode_items_per_s": round(len(texts) / encode_seconds, 1),
        "fit_seconds_without_encoding": round(fit_seconds - encode_seconds, 2),
        "fit_cpu_seconds_without_encoding": round(fit_cpu_seconds - encode_cpu_seconds, 2),
    }
    if fit_only:
        return {**fit, "load_average": [round(x, 2) for x in os.getloadavg()]}

    users = rec.state_.user_ids
    profiles = [rec.profile(u) for u in users]
    batch: dict[str, Any] = {}
    for explain in (False, True):
        wall, cpu = [], []
        for _ in range(repeats):
            w, c = time.perf_counter(), time.process_time()
            rec.recommend_many(profiles, 10, explain=explain)
            wall.append(time.perf_counter() - w)
            cpu.append(time.process_time() - c)
        batch["with_explanations" if explain else "without_explanations"] = {
            "users_per_s": round(len(users) / statistics.median(wall), 1),
            "users_per_cpu_s": round(len(users) / statistics.median(cpu), 1),
        }
    chosen = random.Random(0).sample(users, min(misses, len(users)))
    times = []
    for user in chosen:
        t = time.perf_counter()
        rec.recommendations_json(user, 10)
        times.append((time.perf_counter() - t) * 1000)
    return {
        **fit,
        "n_users": len(users),
        "batch_top10": batch,
        "uncached_list_ms": {
            "median": round(float(np.median(times)), 2),
            "p99": round(float(np.percentile(times, 99)), 2),
        },
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--code", nargs="+", required=True, help="NAME=SRC_DIR pairs, measured in turn")
    p.add_argument("--dataset", default="ml-latest-small")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--misses", type=int, default=100)
    p.add_argument("--artifacts", default="", help="load this saved recommender instead of fitting")
    p.add_argument("--rounds", type=int, default=1, help="trees alternated this many times")
    p.add_argument("--fit-only", action="store_true", help="time the fit and encoding only (no ranking)")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(args.dataset, args.repeats, args.misses, args.artifacts or None, args.fit_only)))
        return 0
    from interestlm.evaluate.runner import hardware, versions

    runs: dict[str, list[dict[str, Any]]] = {}
    for _ in range(args.rounds):
        for pair in args.code:
            name, src = pair.split("=", 1)
            env = {**os.environ, "PYTHONPATH": str(Path(src).resolve())}
            cmd = [sys.executable, __file__, "--child", "--code", pair, "--dataset", args.dataset,
                   "--repeats", str(args.repeats), "--misses", str(args.misses),
                   "--artifacts", args.artifacts] + (["--fit-only"] if args.fit_only else [])  # fmt: skip
            out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
            runs.setdefault(name, []).append(json.loads(out.strip().splitlines()[-1]))
            print(name, json.dumps(runs[name][-1]), flush=True)
    result = {
        "benchmark": "issue 23 single-machine goals",
        "dataset": args.dataset,
        "code": dict(pair.split("=", 1) for pair in args.code),
        "artifacts": args.artifacts or None,
        "fit_only": args.fit_only,
        "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "unset"),
        "runs": runs,
        "medians": {
            name: {key: round(statistics.median(r[key] for r in rs), 2) for key in MEDIANS} for name, rs in runs.items()
        },
        "hardware": hardware(),
        "versions": versions(),
        "note": "shared 2-core machine; code trees measured in turn in fresh processes",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
