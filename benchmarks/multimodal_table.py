"""Generate the README's pictures table from benchmarks/results/multimodal/*.json.

Replaces the text between ``<!-- multimodal:start -->`` and ``<!-- multimodal:end -->`` in README.md:
one row per model and variant (text / image / text + image), leave-one-out and the cold-item split.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from make_table import splice

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "multimodal"
START, END = "<!-- multimodal:start -->", "<!-- multimodal:end -->"
VARIANTS = ("text", "image", "text+image", "text+image, pictures in the space")


def _cell(run: dict[str, Any], key: str, metric: str = "recall@10") -> str:
    entry = run.get(key)
    if not isinstance(entry, dict) or metric not in entry:
        return "–"
    return f"{entry[metric]:.4f}"


def _rows(model: str, runs: dict[str, dict[str, Any]]) -> list[str]:
    lines = []
    for variant in VARIANTS:
        loo, cold = runs.get(f"loo/{variant}"), runs.get(f"cold/{variant}")
        if loo is None and cold is None:
            continue
        loo, cold = loo or {}, cold or {}
        cells = [
            model,
            variant,
            _cell(loo, "all"),
            _cell(loo, "all", "ndcg@10"),
            _cell(loo, "poster_targets"),
            _cell(cold, "all"),
            _cell(cold, "loo_cold_targets"),
            _cell(cold, "cold_task_among_cold_items"),
            _cell(cold, "cold_task_full_ranking"),
            f"{loo['fit_seconds']:.0f}" if "fit_seconds" in loo else "–",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def table() -> str:
    """The markdown table (and its notes) from the result files present."""
    head = [
        "model",
        "content",
        "LOO R@10",
        "LOO N@10",
        "LOO R@10, poster targets",
        "cold split R@10",
        "cold LOO targets R@10",
        "cold task R@10 (among cold)",
        "cold task R@10 (full)",
        "fit s",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for path in sorted(RESULTS.glob("ml-latest-small__*.json")):
        result = json.loads(path.read_text(encoding="utf-8"))
        if "runs" in result:
            lines += _rows(str(result.get("model", path.stem.split("__")[1])), result["runs"])
    interest = RESULTS / "ml-latest-small__interest.json"
    if interest.is_file():
        r = json.loads(interest.read_text(encoding="utf-8"))
        enc, align = r["encoding"], r["alignment"]
        rate = f"{enc['images_per_second']:.0f} images/s ({enc['images']:,} posters, {enc['threads']} threads"
        bench = RESULTS / "encode_images.json"
        if bench.is_file():
            b = json.loads(bench.read_text(encoding="utf-8"))
            rate = (
                f"a median {b['median_onnxruntime']:.0f} images/s against {b['median_torch']:.1f} for the same "
                f"network in torch ({b['threads']} threads"
            )
        lines += [
            "",
            f"Pictures are encoded at {rate}, decoding included). Mapped into the text space, a poster's 10 nearest "
            f"text neighbours share its genres with Jaccard {align['mapped_picture_to_text']:.3f} "
            f"(picture neighbours {align['picture_to_picture']:.3f}, true text neighbours "
            f"{align['text_to_text']:.3f}, random pairs {align['random_pairs']:.3f}).",
        ]
    lines += _seqrec_rows()
    return "\n".join(lines)


def _base_variant(variant: str) -> str:
    """``text+image-seed1`` -> ``text+image``; ablations (``text+image-md0``) keep their name."""
    return re.sub(r"-seed\d+$", "", variant)


def _mean_range(runs: list[dict[str, Any]], key: str) -> str:
    """``key``'s mean over ``runs`` and its range ("–" when no run has it)."""
    values = [float(r[key]) for r in runs if r.get(key) is not None]
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{sum(values) / len(values):.4f} ({min(values):.4f}–{max(values):.4f})"


def _seqrec_rows() -> list[str]:
    """The sequence model's runs (``summary.json`` of ``bench_multimodal_seqrec.py``): a reduced CPU
    budget, one row per run, then each variant's mean and range over its seeds."""
    summary = RESULTS / "summary.json"
    if not summary.is_file():
        return []
    rows = sorted(
        json.loads(summary.read_text(encoding="utf-8"))["rows"],
        key=lambda r: (r["split"] != "loo", _base_variant(r["variant"]), r["seed"], r["variant"]),
    )
    head = [
        "seqrec content",
        "split",
        "seed",
        "R@10",
        "N@10",
        "R@10, poster targets",
        "R@10, cold poster targets",
        "cold task R@10 (among cold)",
        "fit s",
        "best / run epochs",
    ]
    out = [
        "",
        "The sequence model (`seqrec`) under one reduced budget (max_len 50, sampled softmax, at most 40",
        "epochs, patience 10; the full 77-minute run reaches R@10 0.123):",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((_base_variant(r["variant"]), r["split"]), []).append(r)
        cold = r.get("cold_poster_recall@10")
        task = r.get("cold_task_among_cold_recall@10")
        cells = [
            r["variant"],
            r["split"],
            str(r["seed"]),
            f"{r['recall@10']:.4f}",
            f"{r['ndcg@10']:.4f}",
            f"{r['poster_recall@10']:.4f}",
            "–" if cold is None else f"{cold:.4f}",
            "–" if task is None else f"{task:.4f}",
            f"{r['fit_seconds']:.0f}",
            f"{r['best_epoch']} / {r['epochs_run']}",
        ]
        out.append("| " + " | ".join(cells) + " |")
    out += [
        "",
        "Mean over seeds (min–max):",
        "",
        "| seqrec content | split | seeds | R@10 | N@10 | R@10, poster targets | cold task R@10 (among cold) |",
        "|---|---|---|---|---|---|---|",
    ]
    for (variant, split), runs in groups.items():
        seeds = ", ".join(str(r["seed"]) for r in runs)
        keys = ("recall@10", "ndcg@10", "poster_recall@10", "cold_task_among_cold_recall@10")
        cells = [variant, split, seeds, *(_mean_range(runs, key) for key in keys)]
        out.append("| " + " | ".join(cells) + " |")
    return out


def main() -> int:
    splice(START, END, table())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
