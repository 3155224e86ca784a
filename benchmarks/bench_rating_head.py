"""The seqrec rating head (multi-task): does it predict ratings, and what does it do to ranking?

Usage: python benchmarks/bench_rating_head.py [--dataset musical-instruments] [--weight 0.5]
       [--epochs N]

One leave-one-out split, one seed, two fits of the same seqrec settings (``[models.seqrec]`` and
the dataset's overrides in config.toml): without the head (``rating_weight = 0``) and with it.
Ranking: Recall / NDCG @10 on the test items (full ranking, seen items removed). Ratings: RMSE
and MAE of the head on each test user's held-out rating, beside the training global mean and the
user's training mean shrunk towards it (5 pseudo-ratings, as the profiles do). Writes
``benchmarks/results/speed/<dataset>__rating_head.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import tomllib
from pathlib import Path

import numpy as np

from interestlm.core.metrics import mae, rmse
from interestlm.data.registry import load_dataset
from interestlm.evaluate.runner import make_split
from interestlm.models.ranking import evaluate_task
from interestlm.models.seqrec import SeqRec, SeqRecConfig

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run_baselines import model_settings  # noqa: E402

PRIOR = 5.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", default="musical-instruments")
    parser.add_argument("--weight", type=float, default=0.5)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--config", type=Path, default=HERE / "config.toml")
    args = parser.parse_args()
    raw = tomllib.loads(args.config.read_text(encoding="utf-8"))
    params = dict(model_settings(raw, args.dataset).get("seqrec", {}))
    if args.epochs is not None:
        params["epochs"] = args.epochs
    dataset = load_dataset(args.dataset)
    split = make_split(dataset, "loo")
    assert split.valid is not None
    inter = dataset.interactions
    # Each test user's held-out rating (LOO: one test row per user).
    held = {int(inter.user[r]): float(inter.rating[r]) for r in split.test_rows.tolist()}
    users = split.test.users.tolist()
    truth = np.asarray([held[u] for u in users])
    known = ~np.isnan(truth)
    train = split.train.interactions
    rated = ~np.isnan(train.rating)
    global_mean = float(train.rating[rated].mean())
    sums = np.bincount(train.user[rated], weights=train.rating[rated], minlength=train.n_users)
    counts = np.bincount(train.user[rated], minlength=train.n_users)
    user_mean = (sums + PRIOR * global_mean) / (counts + PRIOR)
    targets = np.asarray([int(t[0]) for t in split.test.targets])
    result: dict[str, object] = {
        "dataset": args.dataset,
        "split": "loo",
        "n_test_users": len(users),
        "n_rated_test_rows": int(known.sum()),
        "baselines": {
            "global_mean": {"rmse": rmse(np.full(known.sum(), global_mean), truth[known]),
                            "mae": mae(np.full(known.sum(), global_mean), truth[known])},
            "user_mean_shrunk": {"rmse": rmse(user_mean[np.asarray(users)][known], truth[known]),
                                 "mae": mae(user_mean[np.asarray(users)][known], truth[known])},
        },
        "runs": {},
    }  # fmt: skip
    runs: dict[str, object] = {}
    for weight in (0.0, args.weight):
        config = SeqRecConfig.from_json({**SeqRecConfig().to_json(), **params, "rating_weight": weight})
        start = time.perf_counter()
        model = SeqRec(config).fit(split.train, valid=split.valid)
        fit_s = time.perf_counter() - start
        metrics = evaluate_task(model, split.test, ks=(10,))
        run: dict[str, object] = {
            "recall@10": metrics["recall@10"],
            "ndcg@10": metrics["ndcg@10"],
            "best_epoch": model.best_epoch_,
            "epochs_run": len(model.history_),
            "fit_seconds": round(fit_s, 1),
        }
        if weight > 0:
            predicted = model.predict_ratings(split.test.histories, targets)
            run["rmse"] = rmse(predicted[known], truth[known])
            run["mae"] = mae(predicted[known], truth[known])
        runs[f"rating_weight={weight:g}"] = run
        print(args.dataset, f"rating_weight={weight:g}", json.dumps(run), file=sys.stderr, flush=True)
    result["runs"] = runs
    result["config"] = params
    out = HERE / "results" / "speed" / f"{args.dataset}__rating_head.json"
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
