"""Human-facing output of evaluation runs: a terminal table, a Markdown report with plots."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

#: Metrics shown in tables, in this order, when present.
TABLE_METRICS = ("hr", "recall", "ndcg", "mrr", "precision", "map", "coverage")


def metric_columns(results: Sequence[dict[str, Any]], ks: Sequence[int] | None = None) -> list[str]:
    """Column keys such as ``ndcg@10`` present in every result, in a stable, readable order."""
    common = set.intersection(*(set(r["metrics"]) for r in results)) if results else set()
    if ks is None:
        ks = sorted({int(key.split("@")[1]) for key in common if "@" in key})
    return [f"{m}@{k}" for m in TABLE_METRICS for k in ks if f"{m}@{k}" in common]


def markdown_table(results: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    """A Markdown table: one row per result with the chosen metric columns and seconds."""
    columns = list(columns) if columns is not None else metric_columns(results)
    head = ["dataset", "model", "split", "users", *columns, "fit s", "eval s", "device"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        cells = [
            r["dataset"],
            r["model"],
            r["split"],
            str(r["n_users"]),
            *(f"{r['metrics'][c]:.4f}" for c in columns),
            f"{r['seconds']['fit']:.1f}",
            f"{r['seconds']['evaluate']:.1f}",
            str(r.get("device", "cpu")),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def print_table(results: Sequence[dict[str, Any]]) -> None:
    """Print the comparison table to the terminal with rich."""
    from rich.console import Console
    from rich.table import Table

    # The terminal gets the headline columns; the JSON and Markdown report carry everything.
    columns = [c for c in metric_columns(results) if c.split("@")[0] in ("recall", "ndcg")]
    table = Table(title=f"{results[0]['dataset']} · split={results[0]['split']} · full ranking")
    for name in ["model", "users", *columns, "fit s", "eval s"]:
        table.add_column(name, justify="left" if name == "model" else "right")
    for r in results:
        table.add_row(
            r["model"],
            str(r["n_users"]),
            *(f"{r['metrics'][c]:.4f}" for c in columns),
            f"{r['seconds']['fit']:.1f}",
            f"{r['seconds']['evaluate']:.1f}",
        )
    Console(width=max(Console().width, 140)).print(table)


def plot_ndcg_at_k(results: Sequence[dict[str, Any]], path: Path) -> Path:
    """Line plot of NDCG@K against K, one line per model; returns the PNG path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for r in results:
        ks = sorted(int(key.split("@")[1]) for key in r["metrics"] if key.startswith("ndcg@"))
        ax.plot(ks, [r["metrics"][f"ndcg@{k}"] for k in ks], marker="o", label=r["model"])
    ax.set_xlabel("K")
    ax.set_ylabel("NDCG@K")
    ax.set_title(f"{results[0]['dataset']} ({results[0]['split']}, full ranking)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


#: Slices with fewer test users are listed in the report's table but not plotted: a bar over a
#: handful of users (the sample's 4-user slice) is noise drawn as if it were a finding.
MIN_PLOT_USERS = 20


def plot_slices(results: Sequence[dict[str, Any]], path: Path, metric: str = "ndcg@10") -> Path | None:
    """Grouped bars of ``metric`` per slice (history-length buckets, cold users/items), each slice
    labelled with its number of test users; slices under :data:`MIN_PLOT_USERS` users are left out."""
    sizes: dict[str, int] = {}
    for r in results:
        for name, s in r.get("slices", {}).items():
            sizes[name] = max(sizes.get(name, 0), int(s.get("n_users", 0)))
    names = sorted(n for n, size in sizes.items() if size >= MIN_PLOT_USERS)
    if not names:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(9.0, 4.5))
    width = 0.8 / max(1, len(results))
    x = np.arange(len(names))
    for i, r in enumerate(results):
        values = [r.get("slices", {}).get(n, {}).get("metrics", {}).get(metric, 0.0) for n in names]
        ax.bar(x + i * width, values, width, label=r["model"])
    labels = [f"{n}\n({sizes[n]:,} users)" for n in names]
    ax.set_xticks(x + width * (len(results) - 1) / 2, labels, rotation=0, fontsize=8)
    ax.set_ylabel(metric.upper())
    ax.set_xlabel(f"slice of the test users (slices under {MIN_PLOT_USERS} users not drawn)")
    ax.set_title(f"{results[0]['dataset']}: {metric} per slice ({results[0]['split']}, full ranking)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="model")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_report(results: Sequence[dict[str, Any]], path: Path) -> Path:
    """Markdown report with the comparison table, per-slice table and plots next to it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    stem = path.with_suffix("")
    ndcg_png = plot_ndcg_at_k(results, stem.with_name(stem.name + "_ndcg_at_k.png"))
    slices_png = plot_slices(results, stem.with_name(stem.name + "_slices.png"))
    first = results[0]
    lines = [
        f"# Evaluation: {first['dataset']}",
        "",
        f"Split `{first['split']}`, full ranking over the whole catalog with each user's seen items removed "
        f"(no sampled negatives); {first['n_users']} test users; seed {first.get('seed', 0)}.",
        "",
        markdown_table(results),
        "",
        f"![NDCG@K per model]({ndcg_png.name})",
        "",
    ]
    if any(r.get("slices") for r in results):
        slice_rows = ["| model | slice | users | hr@10 | ndcg@10 |", "|---|---|---|---|---|"]
        for r in results:
            for name, s in sorted(r.get("slices", {}).items()):
                m = s["metrics"]
                hr, nd = m.get("hr@10", 0.0), m.get("ndcg@10", 0.0)
                slice_rows.append(f"| {r['model']} | {name} | {s['n_users']} | {hr:.4f} | {nd:.4f} |")
        note = f"Slices with fewer than {MIN_PLOT_USERS} test users are in the table, not in the plot."
        plot = [f"![NDCG@10 per slice]({slices_png.name})", ""] if slices_png is not None else []
        lines += ["## Slices", "", *slice_rows, "", note, "", *plot]
    versions = first.get("versions", {})
    hw = first.get("hardware", {})
    lines += [
        "## Environment",
        "",
        f"- hardware: {hw.get('cpu', '?')}, {hw.get('cores', '?')} cores",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()),
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def write_results(results: Sequence[dict[str, Any]], path: Path) -> Path:
    """One model: the result object; several: ``{"dataset", "split", "n_users", "runs": [...]}``."""
    payload: dict[str, Any]
    if len(results) == 1:
        payload = results[0]
    else:
        first = results[0]
        payload = {
            "dataset": first["dataset"], "split": first["split"], "n_users": first["n_users"], "runs": list(results)
        }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return path
