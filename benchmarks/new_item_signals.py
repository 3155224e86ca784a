"""What tells which new items a user chooses next, read off the split alone (no model).

Usage: python benchmarks/new_item_signals.py [--dataset ml-100k] [--share 0.2]

The split is ``bench_cold_items.py --newest``'s (leave-one-out, the newest ``share`` of items held
out of training). For validation and test rows it reports:

* how often the target is a new item, by the share of new items among the user's last 5 and 10
  history items (what ``new_item_affinity`` reads);
* Recall@10 among the new items alone when they are ranked by their interactions in the live log
  (every event outside training) during the 7, 30 or 3,650 days before each request, strictly
  before it, seen items removed (what ``new_item_trend`` reads).

Writes ``results/new-items/<dataset>__share<pct>.json``; SEQREC.md, session 10, quotes it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from interestlm.core.protocol import EvalTask
from interestlm.data.registry import load_dataset
from interestlm.evaluate.runner import make_split
from interestlm.evaluate.split import hold_out_newest
from interestlm.models.calibrate import recent_new_share, window_counts

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_cold_items import after_training_events  # noqa: E402

#: Bins of the recent new-item share, each (lo, hi]: with 5 items, 0, 1, 2, 3 and 4-5 of them new.
SHARE_BINS = ((-1.0, 0.0, "none"), (0.0, 0.2, "up to 20 %"), (0.2, 0.4, "20-40 %"), (0.4, 0.6, "40-60 %"),
              (0.6, 1.0, "over 60 %"))  # fmt: skip
WINDOWS_DAYS = (7, 30, 3650)


def _by_share(task: EvalTask, new: np.ndarray, window: int) -> list[dict[str, float | int | str]]:
    """The share of rows whose target is new, per bin of the recent new-item share."""
    share = recent_new_share(task.histories, new, window)
    target_new = np.array([bool(new[t].any()) for t in task.targets])
    out: list[dict[str, float | int | str]] = []
    for lo, hi, name in SHARE_BINS:
        rows = (share > lo + 1e-6) & (share <= hi + 1e-6)
        out.append({"recent new share": name, "rows": int(rows.sum()),
                    "target new": float(target_new[rows].mean()) if rows.any() else float("nan")})  # fmt: skip
    return out


def _live_count_recall(task: EvalTask, new: np.ndarray, log_item: np.ndarray, log_time: np.ndarray, days: int) -> float:
    """Recall@10 of new targets among new items ranked by their live-log count before the request."""
    assert task.times is not None
    hits = total = 0
    for j in range(len(task)):
        targets = task.targets[j][new[task.targets[j]]]
        if not len(targets):
            continue
        counts = window_counts(log_item, log_time, len(new), task.times[j : j + 1], days * 86400.0)[0].astype(float)
        counts[~new] = -1.0
        counts[task.exclude[j].indices] = -1.0
        top = np.argsort(-counts, kind="stable")[:10]
        hits += int(np.isin(targets, top[counts[top] > 0]).sum())
        total += len(targets)
    return hits / total if total else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--share", type=float, default=0.2)
    args = parser.parse_args()
    dataset = load_dataset(args.dataset)
    split = hold_out_newest(make_split(dataset, "loo"), dataset.interactions, args.share)
    new = np.bincount(split.train.interactions.item, minlength=split.train.n_items) == 0
    log_item, log_time = after_training_events(dataset, split)
    result: dict[str, object] = {"dataset": args.dataset, "share": args.share, "new items": int(new.sum()),
                                 "live log events": len(log_item)}  # fmt: skip
    for task in (split.valid, split.test):
        assert task is not None
        result[task.name] = {
            "new targets": int(sum(bool(new[t].any()) for t in task.targets)),
            "target new by recent share (last 5)": _by_share(task, new, 5),
            "target new by recent share (last 10)": _by_share(task, new, 10),
            "recall@10 among new items by live count": {
                f"{d} days": _live_count_recall(task, new, log_item, log_time, d) for d in WINDOWS_DAYS
            },
        }
    out_dir = HERE / "results" / "new-items"
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{args.dataset}__share{round(100 * args.share)}.json"
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
