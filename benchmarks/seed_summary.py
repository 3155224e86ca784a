"""Put the seeds of each benchmark pair side by side: mean, standard deviation, min and max.

Usage: python benchmarks/seed_summary.py [--metrics recall@10 ndcg@10 ...]

Reads seed 0 from ``results/<dataset>__<model>.json`` and the other seeds from
``results/seeds/<dataset>__<model>__seed<N>.json`` (``run_baselines.py --seed N``); every pair
with a second seed gets a row. Writes ``results/seeds/summary.json`` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
SEED_FILE = re.compile(r"^(?P<pair>.+__.+)__seed(?P<seed>\d+)\.json$")


def collect(results: Path) -> dict[str, dict[int, dict[str, Any]]]:
    """Results per ``dataset__model`` and seed, for the pairs run with more than one seed."""
    runs: dict[str, dict[int, dict[str, Any]]] = {}
    for path in sorted((results / "seeds").glob("*__seed*.json")):
        match = SEED_FILE.match(path.name)
        if match is None:
            continue
        runs.setdefault(match["pair"], {})[int(match["seed"])] = json.loads(path.read_text(encoding="utf-8"))
    for pair, seeds in runs.items():
        base = results / f"{pair}.json"
        if base.exists():
            seeds[0] = json.loads(base.read_text(encoding="utf-8"))
    return {pair: dict(sorted(seeds.items())) for pair, seeds in sorted(runs.items()) if len(seeds) > 1}


def summarise(seeds: dict[int, dict[str, Any]], metrics: list[str]) -> dict[str, Any]:
    """Mean, sample standard deviation, min and max of each metric over the seeds, and training time
    (medians over the seeds of the median epoch and of the training seconds up to the best epoch)."""
    out: dict[str, Any] = {"seeds": list(seeds), "metrics": {}}
    for metric in metrics:
        values = [float(r["metrics"][metric]) for r in seeds.values()]
        out["metrics"][metric] = {
            "mean": statistics.fmean(values),
            "std": statistics.stdev(values),
            "min": min(values),
            "max": max(values),
            "values": values,
        }
    trainings = [r["training"] for r in seeds.values() if "training" in r]
    if trainings:
        out["best_epochs"] = [t["best_epoch"] for t in trainings]
        out["seconds_per_epoch_median"] = statistics.median(t["seconds_per_epoch_median"] for t in trainings)
        out["seconds_to_best_median"] = statistics.median(
            sum(h["seconds"] for h in t["history"] if h["epoch"] <= t["best_epoch"]) for t in trainings
        )
    out["fit_seconds_median"] = statistics.median(r["seconds"]["fit"] for r in seeds.values())
    out["devices"] = sorted({f"{r['device']} ({r['hardware']['cpu']})" for r in seeds.values()})
    return out


def markdown(summary: dict[str, dict[str, Any]], metrics: list[str]) -> str:
    """One row per pair: each metric as mean ± std (min-max)."""
    head = "| dataset | model | seeds | " + " | ".join(metrics) + " | best epochs | s per epoch | s to best | device |"
    lines = [head, "|" + "---|" * (len(metrics) + 7)]
    for pair, row in summary.items():
        dataset, model = pair.split("__", 1)
        cells = [
            f"{m['mean']:.4f} ± {m['std']:.4f} ({m['min']:.4f}-{m['max']:.4f})"
            for m in (row["metrics"][name] for name in metrics)
        ]
        epochs = ", ".join(str(e) for e in row.get("best_epochs", [])) or "–"
        per_epoch = f"{row['seconds_per_epoch_median']:.1f}" if "seconds_per_epoch_median" in row else "–"
        to_best = f"{row['seconds_to_best_median']:.0f}" if "seconds_to_best_median" in row else "–"
        seeds = ", ".join(str(s) for s in row["seeds"])
        devices = "; ".join(row["devices"])
        tail = f" | {epochs} | {per_epoch} | {to_best} | {devices} |"
        lines.append(f"| {dataset} | {model} | {seeds} | " + " | ".join(cells) + tail)
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--metrics", nargs="+", default=["recall@10", "ndcg@10", "recall@20", "ndcg@20"])
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    summary = {pair: summarise(seeds, args.metrics) for pair, seeds in collect(args.results).items()}
    out = args.results / "seeds" / "summary.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(markdown(summary, args.metrics))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
