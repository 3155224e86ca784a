"""The README's rating tables, generated from ``benchmarks/results/rating/*.json``.

Usage: python benchmarks/rating_table.py   (prints Markdown; paste under "Predicting ratings")
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "rating"
MODELS = ("global-mean", "baseline", "svd", "svdpp", "knn-baseline", "autorec", "fused", "interest")
#: The in-run baselines the stack must beat on each seed.
BASELINES = ("global-mean", "baseline", "svd", "svdpp", "knn-baseline", "autorec")


def _read(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _cell(entry: dict[str, float] | None, spread: bool) -> str:
    if entry is None:
        return "—"
    text = f"{entry['rmse']:.4f}"
    return text + (f" ±{entry['rmse_spread'] / 2:.4f}" if spread and entry.get("n", 1) > 1 else "")


def per_seed(table: dict[str, Any], label: str) -> None:
    """One random-split table by seed: every model's RMSE, and the stack's margin to the best
    in-run baseline of that seed (negative: below every baseline)."""
    seeds = table["seeds"]
    rmse = {(r["model"], r["seed"]): r["metrics"]["rmse"] for r in table["runs"]}
    print(f"\n{label}, RMSE by seed (80/20):\n")
    print("| model | " + " | ".join(f"seed {s}" for s in seeds) + " |")
    print("|---|" + "---:|" * len(seeds))
    for model in MODELS:
        cells = [f"{rmse[(model, s)]:.4f}" if (model, s) in rmse else "—" for s in seeds]
        print(f"| {model} | " + " | ".join(cells) + " |")
    margins = [rmse[("interest", s)] - min(rmse[(b, s)] for b in BASELINES if (b, s) in rmse) for s in seeds]
    print("| interest − best baseline | " + " | ".join(f"{m:+.4f}" for m in margins) + " |")


def main() -> int:
    columns: list[tuple[str, dict[str, Any], bool]] = []
    folds = _read("ml-100k__folds")
    if folds:
        columns += [("ml-100k u1", folds["u1"], False), ("ml-100k u1…u5", folds["mean_u1_u5"], True)]
    pairs = (("ml-latest-small__random", "ml-latest-small"), ("musical-instruments__random", "musical-instr."))
    for name, label in pairs:
        table = _read(name)
        if table:
            columns.append((f"{label} 80/20 ×{len(table['seeds'])}", table["summary"], True))
    print("| model (RMSE) | " + " | ".join(c[0] for c in columns) + " |")
    print("|---|" + "---:|" * len(columns))
    for model in MODELS:
        print(f"| {model} | " + " | ".join(_cell(c[1].get(model), c[2]) for c in columns) + " |")
    for name, label in pairs:
        table = _read(name)
        if table:
            per_seed(table, label)
    cold = _read("cold_items")
    if cold:
        print("\nCold items (a tenth of the rated items held out whole; RMSE):\n")
        names = list(cold["datasets"])
        print("| model | " + " | ".join(names) + " |")
        print("|---|" + "---:|" * len(names))
        for model in ("global-mean", "baseline", "svd", "fused"):
            cells = [_cell(cold["datasets"][n]["summary"].get(model), False) for n in names]
            print(f"| {model} | " + " | ".join(cells) + " |")
    ablation = _read("ablation")
    if ablation:
        print("\nAblation (each row adds one input to the row above; RMSE):\n")
        tables = ablation["tables"]
        rows = list(dict.fromkeys(k for t in tables.values() for k in t))
        print("| inputs | " + " | ".join(tables) + " |")
        print("|---|" + "---:|" * len(tables))
        for row in rows:
            print(f"| {row} | " + " | ".join(_cell(t.get(row), False) for t in tables.values()) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
