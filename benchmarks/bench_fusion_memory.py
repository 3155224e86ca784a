"""Memory and time of learning the fusion weights (``rank.ranker.fit_ranker``), before and after.

``fit_ranker`` scores every fusion user's profile against the whole catalogue for every signal,
fits the cold-item imputer and learns the fusion weights. Before issue 23's streaming path it held
all of those ``fusion_users x n_items x n_signals`` float32 matrices at once; after, at most about
``FUSION_BYTES`` of them (one batch of users) when they would not fit.

``prepare`` fits a recommender on the synthetic data (``interestlm.testing.synthetic``, as
``bench_scale.py`` does at the same scale and ``fusion_users``) up to the call of ``fit_ranker``,
and pickles that call's arguments (signal context, profiles, targets, exclusions). Then each
``--code`` tree runs that very call in a fresh subprocess with the tree's ``src`` first on the
path, trees alternating for ``--rounds``: seconds (wall and process CPU), the peak resident
memory during the call (sampled every 20 ms) and the memory before it, and the learned weights and
imputer coefficients, which must be the same in every tree. Results:
``benchmarks/results/scale/bench_fusion_memory.json``. ``NAME=SRC@BYTES`` runs a tree with that
signal budget (``fit_ranker(fusion_bytes=...)``), e.g. one that cuts the users where the signal
computation cuts them (multiples of ``batch_size``), for weights equal bit for bit: batches cut
elsewhere change the float32 signals by ~1e-6 (the products round differently), as changing
``batch_size`` does.

    python benchmarks/bench_fusion_memory.py --code before=/path/to/old/src after=src --rounds 2
    python benchmarks/bench_fusion_memory.py --dataset ml-latest-small --cache-dir DIR --code ...
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pickle
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "scale" / "bench_fusion_memory.json"
_PAGE = os.sysconf("SC_PAGE_SIZE")


class _Stop(Exception):
    """Raised by the patched ``fit_ranker`` once its arguments are saved."""


def prepare(
    scale: float, fusion_users: int | None, seed: int, inputs: Path, dataset: str = "", cache_dir: str = ""
) -> dict[str, Any]:
    """Fit up to ``fit_ranker`` on synthetic data (or ``dataset`` with the default encoder and
    ``fusion_users``) and pickle its arguments to ``inputs``."""
    import interestlm.fitted as fitted
    from interestlm.config import RecommenderConfig
    from interestlm.recommender import Recommender

    sys.path.insert(0, str(HERE))
    from bench_scale import fusion_users as default_fusion_users

    if dataset:
        from interestlm.data.registry import load_dataset

        train = load_dataset(dataset)
        settings: dict[str, Any] = {"cache_dir": cache_dir or None}
        if fusion_users:
            settings["fusion_users"] = fusion_users
        about: dict[str, Any] = {"dataset": dataset}
    else:
        from interestlm.testing.synthetic import synthetic

        train = synthetic(scale, seed=seed).dataset
        settings = {"encoder": "hashing-256", "fusion_users": fusion_users or default_fusion_users(train.n_items)}
        about = {"scale": scale}
    saved: dict[str, Any] = {}

    def capture(*args: Any, **kwargs: Any) -> Any:
        with open(inputs, "wb") as fh:
            pickle.dump((args, kwargs), fh, protocol=pickle.HIGHEST_PROTOCOL)
        saved.update(n_profiles=len(args[1]), n_items=int(args[0].n_items), signals=list(kwargs["signals"]))
        raise _Stop

    fitted.fit_ranker = capture  # type: ignore[assignment]
    cfg = RecommenderConfig(encoder_threads=1, rating_model=False, seed=seed, **settings)
    with contextlib.suppress(_Stop):
        Recommender(cfg).fit(train)
    if not saved:
        raise RuntimeError("the fit never reached fit_ranker")
    return {**about, "seed": seed, "encoder": cfg.encoder, "fusion_users": cfg.fusion_users,
            "n_users": train.interactions.n_users, "inputs_mb": round(inputs.stat().st_size / 2**20, 1),
            **saved}  # fmt: skip


def _rss() -> int:
    with open("/proc/self/statm", encoding="ascii") as fh:
        return int(fh.read().split()[1]) * _PAGE


def child(inputs: Path, fusion_bytes: int | None) -> dict[str, Any]:
    """Run the saved ``fit_ranker`` call once in this process (this tree's code), with the
    signal memory budget ``fusion_bytes`` when given (trees from before it have no budget)."""
    import numpy as np

    from interestlm.rank import fit_ranker

    with open(inputs, "rb") as fh:
        args, kwargs = pickle.load(fh)
    if fusion_bytes is not None:
        kwargs["fusion_bytes"] = fusion_bytes
    start_rss = _rss()
    peak = [start_rss]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.02):
            peak[0] = max(peak[0], _rss())

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    t0, c0 = time.perf_counter(), time.process_time()
    ranker = fit_ranker(*args, **kwargs)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    stop.set()
    thread.join()
    peak[0] = max(peak[0], _rss())
    return {
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu, 2),
        "rss_before_mb": round(start_rss / 2**20, 1),
        "peak_rss_mb": round(peak[0] / 2**20, 1),
        "peak_above_start_mb": round((peak[0] - start_rss) / 2**20, 1),
        "n_users": len(args[1]),
        "n_items": int(args[0].n_items),
        "fusion_bytes": fusion_bytes,
        "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default"),
        "fusion_weights": ranker.fusion.weights,
        "imputer_coefficients": ranker.imputer.coefficients,
        "numpy": np.__version__,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def _flat(coefficients: dict[str, dict[str, float]]) -> dict[str, float]:
    return {f"{t}.{n}": v for t, row in coefficients.items() for n, v in row.items()}


def _relative(got: dict[str, float], want: dict[str, float]) -> float:
    """Largest ``|got - want| / max(|want|, 1e-12)`` over the names (inf when the names differ)."""
    if got.keys() != want.keys():
        return float("inf")
    return max((abs(got[k] - want[k]) / max(abs(want[k]), 1e-12) for k in want), default=0.0)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--code", nargs="+", default=[], help="NAME=SRC_DIR[@FUSION_BYTES], measured in turn")
    p.add_argument("--dataset", default="", help="a registry dataset instead of the synthetic data")
    p.add_argument("--cache-dir", default="", help="encoder cache for --dataset")
    p.add_argument("--fusion-bytes", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--scale", type=float, default=10.0)
    p.add_argument("--fusion-users", type=int, default=None, help="default: bench_scale's for the catalogue")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rounds", type=int, default=2, help="trees alternated this many times")
    p.add_argument("--inputs", type=Path, default=Path("/tmp/bench_fusion_memory_inputs.pkl"))
    p.add_argument("--prepare-only", action="store_true", help="only write --inputs")
    p.add_argument("--reuse", action="store_true", help="reuse --inputs when a prepare wrote them")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(args.inputs, args.fusion_bytes)))
        return 0
    from interestlm.evaluate.runner import hardware, versions

    meta = args.inputs.with_suffix(".json")
    if args.reuse and args.inputs.exists() and meta.exists():
        prepared = json.loads(meta.read_text(encoding="utf-8"))
    else:
        started = time.perf_counter()
        prepared = prepare(args.scale, args.fusion_users, args.seed, args.inputs, args.dataset, args.cache_dir)
        prepared["prepare_seconds"] = round(time.perf_counter() - started, 1)
        meta.write_text(json.dumps(prepared) + "\n", encoding="utf-8")
    print("prepared", json.dumps(prepared), flush=True)
    if args.prepare_only:
        return 0
    runs: dict[str, list[dict[str, Any]]] = {}
    for _ in range(args.rounds):
        for pair in args.code:
            name, spec = pair.split("=", 1)
            src, _, budget = spec.partition("@")
            env = {**os.environ, "PYTHONPATH": str(Path(src).resolve())}
            cmd = [sys.executable, __file__, "--child", "--inputs", str(args.inputs)]
            cmd += ["--fusion-bytes", budget] if budget else []
            out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
            runs.setdefault(name, []).append(json.loads(out.strip().splitlines()[-1]))
            brief = {k: v for k, v in runs[name][-1].items() if k != "imputer_coefficients"}
            print(name, json.dumps(brief), flush=True)
    summary = {
        name: {key: statistics.median(r[key] for r in rs) for key in ("seconds", "cpu_seconds", "peak_rss_mb",
                                                                       "peak_above_start_mb")}
        for name, rs in runs.items()
    }  # fmt: skip
    every = [r for rs in runs.values() for r in rs]
    first = every[0]
    result = {
        "benchmark": "issue 23: memory of learning the fusion weights (fit_ranker)",
        "data": prepared,
        "code": dict(pair.split("=", 1) for pair in args.code),
        "median": summary,
        # Against the first tree's first run: 0.0 where the numbers are the same, bit for bit.
        "max_relative_difference": {
            name: {
                "fusion_weights": max(_relative(r["fusion_weights"], first["fusion_weights"]) for r in rs),
                "imputer_coefficients": max(
                    _relative(_flat(r["imputer_coefficients"]), _flat(first["imputer_coefficients"])) for r in rs
                ),
            }
            for name, rs in runs.items()
        },
        "runs": runs,
        "hardware": hardware(),
        "versions": versions(),
        "note": "shared 2-core machine; code trees measured in turn in fresh processes on the same pickled inputs",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
