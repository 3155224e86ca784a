"""Generate the README's results table from benchmarks/results/*.json.

Replaces the text between ``<!-- results:start -->`` and ``<!-- results:end -->`` in README.md.
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
START, END = "<!-- results:start -->", "<!-- results:end -->"
ORDER = ("pop", "itemknn", "ease", "als", "bpr", "sasrec", "bsarec", "seqrec", "interest")
COLUMNS = ("recall@10", "hr@10", "ndcg@10", "recall@20", "ndcg@20", "mrr@10", "coverage@10", "ild@10")


def table() -> str:
    # Evaluation results only: speed benchmarks live in results/speed/.
    rows = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(RESULTS.glob("*__*.json"))]
    rows.sort(key=lambda r: (r["dataset"], ORDER.index(r["model"]) if r["model"] in ORDER else 99, r["model"]))
    head = ["dataset", "model", "test users", *COLUMNS, "fit s", "eval s", "device"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        m = r["metrics"]
        cells = [r["dataset"], r["model"], str(r["n_users"])]
        cells += [f"{m[c]:.4f}" if c in m else "–" for c in COLUMNS]
        cells += [f"{r['seconds']['fit']:.1f}", f"{r['seconds']['evaluate']:.1f}", _device(r)]
        lines.append("| " + " | ".join(cells) + " |")
    weights = [
        (r["dataset"], r["model"], r["model_report"]["fusion_weights"])
        for r in rows
        if "fusion_weights" in r.get("model_report", {})
    ]
    if weights:
        names = list(dict.fromkeys(n for _, _, w in weights for n in w))
        lines += ["", "Learned fusion weights of `interest` (signals z-scored per user; `new_item` is 0/1):", ""]
        lines.append("| dataset | model | " + " | ".join(names) + " |")
        lines.append("|" + "---|" * (len(names) + 2))
        for dataset, model, w in weights:
            row = " | ".join(f"{w[n]:+.3f}" if n in w else "–" for n in names)
            lines.append(f"| {dataset} | {model} | {row} |")
    return "\n".join(lines)


def _device(result: dict[str, object]) -> str:
    """Device of one result with its CPU model: the results come from more than one machine."""
    device = str(result.get("device", "cpu"))
    hw = result.get("hardware")
    cpu = hw.get("cpu") if isinstance(hw, dict) else None
    if not cpu:
        return device
    cores = hw.get("cores", "?") if isinstance(hw, dict) else "?"
    name = str(cpu).removesuffix(" Processor").replace("(R)", "")
    return f"{device} ({name}, {cores} cores)"


def splice(start: str, end: str, body: str) -> Path:
    """README.md with the text between the markers ``start`` and ``end`` replaced by ``body``."""
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    if start not in text or end not in text:
        raise SystemExit(f"{readme}: markers {start} / {end} not found")
    before, rest = text.split(start, 1)
    _, after = rest.split(end, 1)
    readme.write_text(before + start + "\n" + body + "\n" + end + after, encoding="utf-8")
    return readme


def main() -> int:
    print(f"updated {splice(START, END, table())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
