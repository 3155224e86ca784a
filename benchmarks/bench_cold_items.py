"""Item cold start on a leave-one-out split: a share of items is removed from training.

Usage: python benchmarks/bench_cold_items.py [--dataset scientific] [--models seqrec sasrec]
       [--share 0.1] [--newest] [--epochs N] [--patience N]

The held-out items are a random share of the catalog, or with ``--newest`` (datasets with real
timestamps) the share whose first interaction is latest: the items released after a cut time,
as in a temporal split, while users' earlier histories stay (a global temporal cut would leave
most test users of ml-latest-small without any history, so their rows say nothing about items).

Every interaction with a held-out item is dropped from the training rows (the items stay in the
catalog, with their text); validation and test are the usual LOO tasks, so some targets are items
the model never saw. The runner's ``cold_items`` / ``warm_items`` slices then compare Recall@10
on those targets with the rest; full ranking, seen items removed. An ID-only model cannot rank a
held-out item at all. A SeqRec with a calibrated ``new_item_offset_`` is also evaluated without it
(the same weights; ``without_new_item_offset`` in the result), with the offset of the other
calibration objectives (``<objective>_new_item_offset`` for each one it was not trained with), and
calibrated the other way on the new-item affinity slope (``with_new_item_affinity`` or
``without_new_item_affinity``, whichever its config does not do). With ``new_item_trend`` the model
is first told of the events after training (the validation and test windows and every row of the
held-out items: a live system's log, which it counts only before each request) and re-calibrated;
``without_new_item_trend`` is the same weights and log calibrated without the trend. Writes
``benchmarks/results/cold/<dataset>__<model>.json`` (``cold-newest/`` with ``--newest``; a share other
than 0.1 and a seed other than 0 add ``__share<percent>`` and ``__seed<N>`` to the name).
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from pathlib import Path
from typing import Any

import numpy as np

from interestlm.core.tables import Dataset
from interestlm.data.registry import load_dataset
from interestlm.evaluate.runner import EvaluationConfig, evaluate_fitted, fit_model, make_split
from interestlm.evaluate.split import Split, hold_out_items, hold_out_newest
from interestlm.models.calibrate import OBJECTIVES, Objective
from interestlm.models.seqrec import SeqRec

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run_baselines import model_settings, resolve, result_path  # noqa: E402


def newest_setup(dataset_name: str, share: float) -> tuple[dict[str, Any], dict[str, dict[str, Any]], Dataset, Split]:
    """config.toml, its model settings for the dataset, the dataset, and its leave-one-out split
    with the newest ``share`` of items held out of training (``--newest``)."""
    raw = tomllib.loads((HERE / "config.toml").read_text(encoding="utf-8"))
    dataset = load_dataset(dataset_name)
    split = hold_out_newest(make_split(dataset, "loo"), dataset.interactions, share)
    return raw, model_settings(raw, dataset_name), dataset, split


def after_training_events(dataset: Dataset, split: Split) -> tuple[np.ndarray, np.ndarray]:
    """The events outside ``split``'s training rows, as a live system logs them after training:
    the validation and test windows and every row of an item without training rows; (items,
    seconds), in time order."""
    inter = dataset.interactions
    logged = np.bincount(split.train.interactions.item, minlength=split.train.n_items)[inter.item] == 0
    logged[split.valid_rows] = logged[split.test_rows] = True
    order = np.argsort(inter.timestamp[logged], kind="stable")
    return inter.item[logged][order].astype(np.int64), inter.timestamp[logged][order].astype(np.float64)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", default="scientific")
    parser.add_argument("--models", nargs="+", default=["seqrec"])
    parser.add_argument("--share", type=float, default=0.1)
    parser.add_argument("--newest", action="store_true", help="hold out the items that appeared last, not random ones")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=None, help="cap on training epochs (CPU budget)")
    parser.add_argument("--patience", type=int, default=None)
    parser.add_argument("--config", type=Path, default=HERE / "config.toml")
    args = parser.parse_args()
    raw = tomllib.loads(args.config.read_text(encoding="utf-8"))
    settings = model_settings(raw, args.dataset)
    dataset = load_dataset(args.dataset)
    loo = make_split(dataset, "loo")
    if args.newest:
        split = hold_out_newest(loo, dataset.interactions, args.share)
    else:
        split = hold_out_items(loo, args.share, args.seed)
    held_how = "newest" if args.newest else f"random, seed {args.seed}"
    out_dir = HERE / "results" / ("cold-newest" if args.newest else "cold")
    out_dir.mkdir(parents=True, exist_ok=True)
    for model in args.models:
        # A variant ([variants.NAME] in config.toml) runs its base model with its own settings.
        base, params = resolve(model, raw, settings)
        for p in (params, *settings.values()):
            p.update({k: v for k, v in (("epochs", args.epochs), ("patience", args.patience)) if v is not None})
        config = EvaluationConfig(split="loo", ks=(5, 10, 20), seed=args.seed, models={**settings, base: params})
        model_obj, model_config, fit_seconds = fit_model(dataset, split, base, config)
        result = evaluate_fitted(dataset, split, base, model_obj, model_config, fit_seconds, config)
        if isinstance(model_obj, SeqRec) and model_obj.config.new_item_trend and split.valid is not None:
            # The events after training, as a live system logs them: the validation and test
            # windows and every row of the held-out items. The model counts them before each request.
            log_items, log_times = after_training_events(dataset, split)
            model_obj.observe(log_items, log_times)
            model_obj.calibrate_new_items(split.valid)
            result = evaluate_fitted(dataset, split, base, model_obj, model_config, fit_seconds, config)
            result["live_log_events"] = len(log_items)
        offset = getattr(model_obj, "new_item_offset_", 0.0)
        affinity = getattr(model_obj, "new_item_affinity_", 0.0)
        trend = getattr(model_obj, "new_item_trend_", 0.0)
        if isinstance(model_obj, SeqRec):
            result["new_item_offset"], result["new_item_affinity"], result["new_item_trend"] = offset, affinity, trend
            # The same weights with no offset on new items, with the offsets of the other
            # calibration objectives, and with or without the affinity slope: what each trades
            # between new and warm targets.
            own = model_obj.config.new_item_affinity
            others = [o for o in OBJECTIVES if o != model_obj.config.new_item_objective]
            again_with: list[tuple[str, Objective | None, bool]] = [("without_new_item_offset", None, False)]
            again_with += [(f"{o}_new_item_offset", o, own) for o in others]
            flipped = "without_new_item_affinity" if own else "with_new_item_affinity"
            again_with.append((flipped, model_obj.config.new_item_objective, not own))
            for key, objective, with_affinity in again_with:
                if objective is None:
                    model_obj.new_item_offset_ = model_obj.new_item_affinity_ = model_obj.new_item_trend_ = 0.0
                else:
                    model_obj.calibrate_new_items(split.valid, objective=objective, affinity=with_affinity)
                again = evaluate_fitted(dataset, split, base, model_obj, model_config, fit_seconds, config)
                result[key] = {k: again[k] for k in ("metrics", "slices")} | {
                    "offset": model_obj.new_item_offset_,
                    "affinity": model_obj.new_item_affinity_,
                    "trend": model_obj.new_item_trend_,
                }
            if model_obj.config.new_item_trend:
                # The same weights and log, calibrated without the trend weight.
                model_obj.calibrate_new_items(split.valid, trend=False)
                again = evaluate_fitted(dataset, split, base, model_obj, model_config, fit_seconds, config)
                result["without_new_item_trend"] = {k: again[k] for k in ("metrics", "slices")} | {
                    "offset": model_obj.new_item_offset_,
                    "affinity": model_obj.new_item_affinity_,
                }
            model_obj.new_item_offset_, model_obj.new_item_affinity_ = offset, affinity
            model_obj.new_item_trend_ = trend
        if base != model:
            result["model"], result["variant_of"] = model, base
        result["split"] = f"loo, {args.share:.0%} of items held out of training ({held_how})"
        result["notes"] = {k: int(v) for k, v in split.notes.items()}
        # The default share keeps the plain name; other shares (and seeds) are told apart in it.
        share = "" if args.share == 0.1 else f"__share{round(100 * args.share)}"
        out = result_path(out_dir, args.dataset, f"{model}{share}", args.seed)
        out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        s = result["slices"]
        print(
            f"{args.dataset} {model} recall@10={result['metrics']['recall@10']:.4f} "
            f"cold={s['cold_items']['metrics']['recall@10']:.4f} (n={s['cold_items']['n_users']}) "
            f"warm={s['warm_items']['metrics']['recall@10']:.4f} (n={s['warm_items']['n_users']}) "
            f"new_item_offset={offset:.4f} new_item_affinity={affinity:.4f} new_item_trend={trend:.4f}",
            file=sys.stderr,
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
