"""How often an item of each age is chosen, per item available at that age, in the training rows.

Usage: python benchmarks/item_age_rates.py [--dataset ml-100k] [--newest-share 0.2] [--sample 5000]

The question behind ``SeqRecConfig.freshness``: does an item's age (from ``Catalog.released`` to
the moment of the choice) tell how likely it is to be chosen? For a sample of training events
(seeded), each event's item falls in one age bucket (``interestlm.models.seqrec.age_buckets``) and
every item released by then and trained on is counted as available in its bucket; the rate of a
bucket is chosen / available, x 1000. A flat profile means age carries nothing a model could learn
from these rows. ``--newest-share`` first removes the training rows of the newest items, as
``bench_cold_items.py --newest`` does. Writes ``results/item-age/<dataset>[__share<pct>].json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from interestlm.data.registry import load_dataset
from interestlm.evaluate.runner import make_split
from interestlm.evaluate.split import hold_out_newest
from interestlm.models.seqrec import AGE_BUCKET_NAMES, AGE_BUCKETS, age_buckets

HERE = Path(__file__).resolve().parent
DAY = 86400.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--newest-share", type=float, default=0.0)
    parser.add_argument("--sample", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    dataset = load_dataset(args.dataset)
    split = make_split(dataset, "loo")
    if args.newest_share:
        split = hold_out_newest(split, dataset.interactions, args.newest_share)
    train = split.train.interactions
    warm = np.bincount(train.item, minlength=dataset.n_items) > 0
    released = torch.from_numpy((dataset.catalog.released[warm] / DAY).astype(np.float32))
    index = {int(i): j for j, i in enumerate(np.flatnonzero(warm))}
    rng = np.random.default_rng(args.seed)
    events = rng.choice(len(train), min(args.sample, len(train)), replace=False)
    now = torch.from_numpy((train.timestamp[events] / DAY).astype(np.float32))
    buckets = age_buckets(now, released).numpy()  # (events, warm items)
    available = np.bincount(buckets.ravel(), minlength=AGE_BUCKETS)
    columns = [index[int(i)] for i in train.item[events]]
    chosen = np.bincount(buckets[np.arange(len(events)), columns], minlength=AGE_BUCKETS)
    rows = [
        {"bucket": b, "age": AGE_BUCKET_NAMES[b], "chosen": int(chosen[b]),
         "available_per_event": available[b] / len(events),
         "rate_per_1000": round(1000 * chosen[b] / available[b], 3) if available[b] else None}
        for b in range(AGE_BUCKETS)
    ]  # fmt: skip
    result = {"dataset": args.dataset, "newest_share": args.newest_share, "events": len(events), "seed": args.seed,
              "buckets": rows}  # fmt: skip
    out = HERE / "results" / "item-age"
    out.mkdir(parents=True, exist_ok=True)
    share = f"__share{round(100 * args.newest_share)}" if args.newest_share else ""
    (out / f"{args.dataset}{share}.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    for r in rows:
        if r["available_per_event"]:
            print(f"{r['age']:>22s} chosen {r['chosen']:5d} available/event {r['available_per_event']:8.1f} "
                  f"rate x1000 {r['rate_per_1000']}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
