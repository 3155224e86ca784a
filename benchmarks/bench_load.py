"""How fast a saved recommender is usable: ``Recommender.load``, ``interestlm recommend`` end to end,
the service ready to answer ``/healthz``, and ``interestlm --help``. Writes
benchmarks/results/speed/bench_load.json.

Each measurement runs in a fresh subprocess (a cold interpreter, as a user meets it) and is
repeated; medians are reported. ``--before-src`` measures another source tree (e.g. a checkout of
the commit before this change) with its own artifacts in the same run, on the same machine, so
the two are comparable despite the noise of a shared host:

    python benchmarks/bench_load.py --artifacts ART_NEW --before-src ../base/src --before-artifacts ART_OLD
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from interestlm.evaluate.runner import hardware, versions

RESULTS = Path(__file__).resolve().parent / "results" / "speed" / "bench_load.json"
GOALS = {"load_seconds": 3.0, "recommend_cli_seconds": 5.0, "serve_ready_seconds": 10.0, "help_seconds": 1.0}
LOAD = (
    "import sys, time; t = time.perf_counter(); from interestlm.recommender import Recommender; "
    "i = time.perf_counter(); Recommender.load(sys.argv[1]); e = time.perf_counter(); "
    "print(e - t, e - i)"
)


def _env(src: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(src)
    return env


def _wall(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {done.stderr[-2000:]}")
    return seconds


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve_ready(artifacts: Path, env: dict[str, str], timeout: float = 600.0) -> float:
    """Seconds from starting ``interestlm serve`` to the first 200 from ``/healthz``."""
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        keys = Path(tmp) / "keys.txt"
        keys.write_text("bench-key-0123456789\n")
        store = str(Path(tmp) / "s.sqlite3")
        cmd = [sys.executable, "-m", "interestlm.cli", "serve", str(artifacts), "--port", str(port)]
        cmd += ["--api-keys", str(keys), "--store", store, "--log-level", "warning"]
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while time.perf_counter() - start < timeout:
                if proc.poll() is not None:
                    raise RuntimeError(f"the server exited with {proc.returncode}")
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1.0).status_code == 200:
                        return time.perf_counter() - start
                except httpx.HTTPError:
                    pass
                time.sleep(0.05)
            raise RuntimeError("the server never became ready")
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def measure(artifacts: Path, src: Path | None, user: str, repeats: int) -> dict[str, Any]:
    """Median seconds (and every sample) of each measurement for one source tree."""
    env = _env(src)
    names = ("import_and_load", "load", "recommend_cli", "serve_ready", "help")
    samples: dict[str, list[float]] = {k: [] for k in names}
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, "-c", LOAD, str(artifacts)], env=env, capture_output=True, text=True, check=True
        ).stdout.split()
        samples["import_and_load"].append(float(out[0]))
        samples["load"].append(float(out[1]))
        recommend = ["recommend", "--artifacts", str(artifacts), "--user", user, "-k", "10"]
        samples["recommend_cli"].append(_wall([sys.executable, "-m", "interestlm.cli", *recommend], env))
        samples["serve_ready"].append(_serve_ready(artifacts, env))
        samples["help"].append(_wall([sys.executable, "-m", "interestlm.cli", "--help"], env))
    return {
        "src": str(src) if src else "installed package",
        "artifacts": str(artifacts),
        "load_seconds": statistics.median(samples["load"]),
        "import_and_load_seconds": statistics.median(samples["import_and_load"]),
        "recommend_cli_seconds": statistics.median(samples["recommend_cli"]),
        "serve_ready_seconds": statistics.median(samples["serve_ready"]),
        "help_seconds": statistics.median(samples["help"]),
        "samples": samples,
    }


def main() -> None:
    """Measure, compare with the goals (and the before tree), write JSON."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--artifacts", type=Path, required=True, help="artifacts written by this tree's `interestlm fit`")
    ap.add_argument("--user", default="1")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--before-src", type=Path, default=None, help="another source tree to measure in the same run")
    ap.add_argument("--before-artifacts", type=Path, default=None, help="artifacts written by that tree")
    ap.add_argument("--before-repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    result: dict[str, Any] = {
        "benchmark": "bench_load",
        "goals_seconds": GOALS,
        "hardware": hardware(),
        "versions": versions(),
        "load_avg_at_start": os.getloadavg(),
    }
    if args.before_src is not None:
        before_artifacts = args.before_artifacts or args.artifacts
        result["before"] = measure(before_artifacts, args.before_src.resolve(), args.user, args.before_repeats)
        print("before", json.dumps({k: v for k, v in result["before"].items() if k.endswith("seconds")}))
    result["after"] = measure(args.artifacts, None, args.user, args.repeats)
    after = result["after"]
    print("after ", json.dumps({k: v for k, v in after.items() if k.endswith("seconds")}))
    result["goals_met"] = {k: after[k] <= v for k, v in GOALS.items()}
    if "before" in result:
        result["speedup"] = {k: result["before"][k] / after[k] for k in GOALS}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
