"""Where ``Recommender.fit`` spends its time on ml-latest-small: wall and CPU seconds per stage.

The fit's stages are the pipeline's :func:`interestlm.core.progress.step` blocks; a logging
handler on the ``interestlm.progress`` logger reads the wall clock and this process's CPU time
when each step's start and end lines are logged, so the library is measured unmodified (nested
steps are listed with their depth). The encoder reads a warm cache (``--cache-dir``; the first
run fills it), so encoding is a cache hit timed as its own stage. With ``--profile`` the fit runs
under cProfile as well and the functions with the most cumulative time are recorded (cProfile
slows Python-heavy code, so the stage table of that run is not comparable to one without it).

``--lists FILE`` writes the learned fusion weights and every user's top-10 (item ids) to compare
two code trees' outputs exactly (``--compare A B``).

Writes ``benchmarks/results/speed/bench_fit_stages.json`` with hardware, versions and the load
average before and after.

    OPENBLAS_NUM_THREADS unset: python benchmarks/bench_fit_stages.py [--profile]
    python benchmarks/bench_fit_stages.py --compare before.json after.json
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import logging
import os
import pstats
import time
from pathlib import Path
from typing import Any

from encoder_cache import default_cache_dir

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "speed" / "bench_fit_stages.json"


class StageClock(logging.Handler):
    """Wall and CPU seconds of each progress step, read when its start and end lines are logged."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.open: list[tuple[str, float, float]] = []
        self.stages: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        """``name ...`` opens a step, ``name: N.N s`` (or ``failed after``) closes the innermost one."""
        wall, cpu = time.perf_counter(), time.process_time()
        message = record.getMessage()
        if record.msg == "%s ...":
            self.open.append((str(record.args[0]) if record.args else message, wall, cpu))  # type: ignore[index]
        elif record.msg in ("%s: %.1f s", "%s: failed after %.1f s") and self.open:
            name, w0, c0 = self.open.pop()
            self.stages.append(
                {
                    "stage": name,
                    "depth": len(self.open),
                    "wall_s": round(wall - w0, 2),
                    "cpu_s": round(cpu - c0, 2),
                    "start_s": w0,
                }
            )


def top_functions(profile: cProfile.Profile, n: int) -> list[dict[str, Any]]:
    """The ``n`` functions with the most cumulative time (under the profiler's clock)."""
    stats = pstats.Stats(profile, stream=io.StringIO())
    rows = []
    for (filename, line, name), (_, calls, tottime, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append(
            {
                "function": f"{Path(filename).name}:{line}({name})",
                "calls": calls,
                "self_s": round(tottime, 2),
                "cumulative_s": round(cumtime, 2),
            }
        )
    rows.sort(key=lambda r: -r["cumulative_s"])
    return rows[:n]


def top10_lists(rec: Any) -> dict[str, list[str]]:
    """Every user's top-10 item ids (no explanations)."""
    users = rec.state_.user_ids
    ranked = rec.recommend_many([rec.profile(u) for u in users], 10)
    return {u: [r.item_id for r in recs] for u, recs in zip(users, ranked, strict=True)}


def compare(a: Path, b: Path) -> dict[str, Any]:
    """How two ``--lists`` files differ: fusion weights (max abs difference) and top-10 lists."""
    left, right = json.loads(a.read_text()), json.loads(b.read_text())
    wa, wb = left["fusion_weights"], right["fusion_weights"]
    la, lb = left["top10"], right["top10"]
    same_lists = sum(la[u] == lb.get(u) for u in la)
    same_sets = sum(set(la[u]) == set(lb.get(u, [])) for u in la)
    overlap = [len(set(la[u]) & set(lb.get(u, []))) / max(len(la[u]), 1) for u in la]
    return {
        "weights_same_names": sorted(wa) == sorted(wb),
        "weights_max_abs_diff": max((abs(wa[k] - wb.get(k, float("nan"))) for k in wa), default=0.0),
        "users": len(la),
        "identical_lists": same_lists,
        "identical_sets": same_sets,
        "mean_overlap_at_10": round(sum(overlap) / max(len(overlap), 1), 4),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", default="ml-latest-small")
    p.add_argument("--cache-dir", default=default_cache_dir())
    p.add_argument("--profile", action="store_true", help="also run under cProfile (slower)")
    p.add_argument("--top", type=int, default=40, help="functions recorded with --profile")
    p.add_argument("--lists", type=Path, help="write fusion weights and all top-10 lists here")
    p.add_argument("--compare", nargs=2, type=Path, metavar=("A", "B"), help="compare two --lists files")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args()
    if args.compare:
        print(json.dumps(compare(*args.compare), indent=2))
        return 0

    from interestlm.config import RecommenderConfig
    from interestlm.data.registry import load_dataset
    from interestlm.evaluate.runner import hardware, versions
    from interestlm.recommender import Recommender

    load_before = [round(x, 2) for x in os.getloadavg()]
    dataset = load_dataset(args.dataset)
    config = RecommenderConfig(encoder="minilm", progress=False, rating_model=False, cache_dir=args.cache_dir)
    clock = StageClock()
    log = logging.getLogger("interestlm.progress")
    log.addHandler(clock)
    log.setLevel(logging.INFO)
    profiler = cProfile.Profile() if args.profile else None
    wall, cpu = time.perf_counter(), time.process_time()
    if profiler is not None:
        profiler.enable()
    rec = Recommender(config).fit(dataset)
    if profiler is not None:
        profiler.disable()
    fit_wall, fit_cpu = time.perf_counter() - wall, time.process_time() - cpu
    log.removeHandler(clock)
    stages = sorted(clock.stages, key=lambda s: s.pop("start_s"))
    result: dict[str, Any] = {
        "benchmark": "fit stages (issue 23)",
        "dataset": args.dataset,
        "n_items": len(rec.state_.catalog),
        "n_users": len(rec.state_.user_ids),
        "n_interactions": len(dataset.interactions),
        "config": "encoder=minilm (warm cache), rating_model=False, defaults otherwise",
        "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "unset"),
        "profiled": bool(profiler),
        "fit_wall_s": round(fit_wall, 2),
        "fit_cpu_s": round(fit_cpu, 2),
        "stages": stages,
        "fusion_weights": {k: round(float(v), 6) for k, v in rec.fusion_.weights.items()},
        "load_average_before": load_before,
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "hardware": hardware(),
        "versions": versions(),
        "note": "shared 2-core machine; one fit; CPU seconds are this process's (all threads)",
    }
    if profiler is not None:
        result["top_cumulative"] = top_functions(profiler, args.top)
    if args.lists:
        lists = {"fusion_weights": dict(rec.fusion_.weights), "top10": top10_lists(rec)}
        args.lists.parent.mkdir(parents=True, exist_ok=True)
        args.lists.write_text(json.dumps(lists) + "\n", encoding="utf-8")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
