"""Sweep the new-item score offset of one trained seqrec by hand, on validation and on test.

Usage: python benchmarks/offset_sweep.py [--dataset ml-100k] [--model seqrec-content-cos] [--share 0.2]

The split is ``bench_cold_items.py --newest``'s (leave-one-out, the newest ``share`` of items held
out of training). For each offset: NDCG@10 overall and Recall@10 on unseen and on warm targets, for
validation and test, and the share of top-10 slots that unseen items fill. It shows what the
calibration on validation rows sees against what test would reward (SEQREC.md, session 9).
Writes ``results/offset-sweep/<dataset>__<model>__share<pct>.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from interestlm.core.metrics import ranking_metrics
from interestlm.core.protocol import EvalTask
from interestlm.evaluate.runner import EvaluationConfig, fit_model
from interestlm.models.ranking import rank_task
from interestlm.models.seqrec import SeqRec

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_cold_items import newest_setup  # noqa: E402
from run_baselines import resolve  # noqa: E402

OFFSETS = (-1.0, -0.5, -0.25, 0.0, 0.1, 0.2, 0.25, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)


def _sweep(model: SeqRec, task: EvalTask, new: np.ndarray) -> list[dict[str, float]]:
    """One row per offset: overall NDCG@10, unseen / warm Recall@10 and the unseen share of top 10s."""
    rows = []
    for offset in OFFSETS:
        model.new_item_offset_ = offset
        top = rank_task(model, task, 10)
        # Rows left without a target of a kind drop out of that kind's mean (as in Split.slices).
        rows.append({
            "offset": offset,
            "ndcg@10": ranking_metrics(top, task.targets, (10,))["ndcg@10"],
            "unseen recall@10": ranking_metrics(top, [t[new[t]] for t in task.targets], (10,))["recall@10"],
            "warm recall@10": ranking_metrics(top, [t[~new[t]] for t in task.targets], (10,))["recall@10"],
            "unseen share of top-10 slots": float(new[top[top >= 0]].mean()),
        })  # fmt: skip
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--model", default="seqrec-content-cos")
    parser.add_argument("--share", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    raw, settings, dataset, split = newest_setup(args.dataset, args.share)
    base, params = resolve(args.model, raw, settings)
    config = EvaluationConfig(split="loo", ks=(10,), seed=args.seed, models={**settings, base: params})
    model, _, _ = fit_model(dataset, split, base, config)
    if not isinstance(model, SeqRec) or split.valid is None:
        raise SystemExit(f"{args.model} is not a seqrec model, or the split has no validation rows")
    new = model.new_items()
    result = {
        "dataset": args.dataset, "model": args.model, "share": args.share, "seed": args.seed,
        "calibrated offset": model.new_item_offset_,
        "unseen target share": {
            name: float(np.mean([new[t].any() for t in task.targets]))
            for name, task in (("valid", split.valid), ("test", split.test))
        },
        "valid": _sweep(model, split.valid, new),
        "test": _sweep(model, split.test, new),
    }  # fmt: skip
    out = HERE / "results" / "offset-sweep"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{args.dataset}__{args.model}__share{round(100 * args.share)}.json"
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    for v, t in zip(result["valid"], result["test"], strict=True):
        print(
            f"offset {v['offset']:+.2f}  valid ndcg {v['ndcg@10']:.4f} unseen {v['unseen recall@10']:.3f}  "
            f"test ndcg {t['ndcg@10']:.4f} unseen {t['unseen recall@10']:.3f} warm {t['warm recall@10']:.3f} "
            f"unseen slots {t['unseen share of top-10 slots']:.3f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
