"""Item pictures as a second modality of seqrec (issue 24), on ml-latest-small's posters.

Usage: python benchmarks/bench_multimodal_seqrec.py [--variants text image text+image]
       [--splits loo cold] [--epochs 40] [--max-len 50] [--loss sampled] [--batch-size 64]
       [--modality-dropout P] [--seed N] [--suffix NAME] [--log PATH]

Variants: ``text`` (seqrec as today: text + concepts + dropped-out IDs), ``image`` (text off:
pictures + concepts + IDs), ``text+image``. Splits: ``loo`` (the runner's leave-one-out, full
ranking, seen items removed) and ``cold``: the LOO split with 10 % of the poster-bearing items
(seeded random, seed 0) held out of training (:func:`~interestlm.evaluate.split.without_items`,
the path ``bench_cold_items.py`` takes, so the runner's ``cold_items`` / ``warm_items`` slices
apply). Besides the runner's metrics and slices each result has ``poster_targets`` (test rows
whose target has a poster) and, on ``cold``, ``cold_poster_targets`` and the larger cold task of
``bench_multimodal.py`` (every user of a held-out movie, ranked among the held-out movies and in
the full catalogue). Validation NDCG@10 picks
the epoch; test is read once per run. The CPU budget (one for every variant) is in the JSON: the
full seqrec run on this data (CE loss, max_len 200) takes 77 minutes on one core, so the budget
is max_len 50, sampled softmax (256 shared negatives; ~6-8 s an epoch against ~50 s for CE),
batch 64, at most 40 epochs, evaluated every epoch, patience 10, one torch thread.

Writes ``benchmarks/results/multimodal/ml-latest-small__seqrec__<variant>__<split>.json`` and
``summary.json`` (every result file there, re-read). Progress goes to ``--log``.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from bench_multimodal import cold_task, metrics_of
from encoder_cache import default_cache_dir
from interestlm.core.metrics import ranking_metrics
from interestlm.core.protocol import EvalTask
from interestlm.core.tables import Dataset
from interestlm.data.images import attach_images
from interestlm.data.registry import load_dataset
from interestlm.evaluate.runner import EvaluationConfig, evaluate_fitted, make_split
from interestlm.evaluate.split import Split, without_items
from interestlm.models.ranking import rank_task
from interestlm.models.seqrec import SeqRec, SeqRecConfig, catalog_image_vectors, item_content
from interestlm.testing import shared_data

HERE = Path(__file__).resolve().parent
CACHE = default_cache_dir()
OUT = HERE / "results" / "multimodal"
DATASET = "ml-latest-small"
VARIANTS = {"text": {"text": True, "image": False}, "image": {"text": False, "image": True},
            "text+image": {"text": True, "image": True}}  # fmt: skip
log = logging.getLogger("bench_multimodal")


def budget(epochs: int, max_len: int, loss: str, batch_size: int) -> dict[str, Any]:
    """The reduced training budget every variant gets (ml-latest-small's seqrec settings otherwise)."""
    return {
        "max_len": max_len, "batch_size": batch_size, "loss": loss, "n_negatives": 256,
        "dropout": 0.2, "lr": 0.002, "epochs": epochs, "eval_every": 1,
        "patience": 10, "num_threads": 1, "n_experts": 1, "category_kind": "genre", "encoder": "minilm",
        "encoder_threads": 1, "seed": 0,
    }  # fmt: skip


def cold_split(loo: Split, has_poster: np.ndarray, share: float, seed: int) -> tuple[Split, np.ndarray]:
    """``loo`` without the training rows of a random ``share`` of the poster-bearing items."""
    posters = np.flatnonzero(has_poster)
    held = np.sort(np.random.default_rng(seed).choice(posters, round(share * len(posters)), replace=False))
    return without_items(loo, held), held


def target_rows(task: EvalTask, keep_item: np.ndarray) -> EvalTask:
    """The rows of ``task`` whose (first) target is an item where ``keep_item``."""
    return task.subset(np.fromiter((bool(keep_item[t[0]]) for t in task.targets), dtype=bool, count=len(task)))


def metrics_on(model: SeqRec, task: EvalTask) -> dict[str, Any]:
    """Metrics @10, @50 and @100 of ``model`` on ``task`` (full ranking, seen items removed): the
    cold poster targets are a few dozen rows, where @10 moves in steps of one hit."""
    topk = rank_task(model, task, 100)
    return {"n_users": len(task), "metrics": ranking_metrics(topk, task.targets, (10, 50, 100))}


def run_one(dataset: Dataset, split: Split, split_name: str, variant: str, settings: dict[str, Any],
            held: np.ndarray | None) -> dict[str, Any]:  # fmt: skip
    cfg = SeqRecConfig(**settings, **VARIANTS[variant], cache_dir=CACHE)
    t0 = time.perf_counter()
    # Text and poster vectors from the content-addressed cache ($INTERESTLM_CACHE).
    content = item_content(dataset.catalog, split.train.interactions, replace(cfg, image=False))
    if cfg.image:
        images = catalog_image_vectors(dataset.catalog, "efficientnet-lite0", cache_dir=CACHE)
        content = replace(content, image_vectors=images)
    content_seconds = time.perf_counter() - t0
    model = SeqRec(cfg, content=content)
    t0 = time.perf_counter()
    model.fit(split.train, valid=split.valid)
    fit_seconds = time.perf_counter() - t0
    eval_config = EvaluationConfig(split="loo", ks=(10,), seed=0)
    result = evaluate_fitted(dataset, split, "seqrec", model, {**settings, **VARIANTS[variant]}, fit_seconds,
                             eval_config)  # fmt: skip
    has_poster = np.asarray([bool(p) for p in dataset.catalog.images])
    result["poster_targets"] = metrics_on(model, target_rows(split.test, has_poster))
    result["no_poster_targets"] = metrics_on(model, target_rows(split.test, ~has_poster))
    if held is not None:
        cold = np.zeros(len(has_poster), dtype=bool)
        cold[held] = True
        result["cold_poster_targets"] = metrics_on(model, target_rows(split.test, cold))
        result["held_out_items"] = len(held)
        # The larger cold task of bench_multimodal.py (the interest recommender's table), same items.
        inter = dataset.interactions
        task = cold_task(split, held, inter.item, inter.user)
        result["cold_task_full_ranking"] = metrics_of(model, task)
        result["cold_task_among_cold_items"] = metrics_of(model, task, only=held)
    result["variant"], result["split"] = variant, split_name
    result["budget"] = settings | {"note": "one reduced CPU budget for all variants; valid NDCG@10 picks the epoch"}
    result["seconds"]["content"] = round(content_seconds, 3)
    result["items_with_poster"] = int(has_poster.sum())
    return result


def summarise() -> dict[str, Any]:
    """One row per result file in ``OUT``."""
    rows = []
    for path in sorted(OUT.glob(f"{DATASET}__seqrec__*.json")):
        r = json.loads(path.read_text())
        slices = r.get("slices", {})
        rows.append({
            "variant": r["variant"], "split": r["split"], "seed": r["budget"]["seed"],
            "modality_dropout": r["budget"].get("modality_dropout", SeqRecConfig().modality_dropout),
            "recall@10": r["metrics"]["recall@10"], "ndcg@10": r["metrics"]["ndcg@10"],
            "poster_recall@10": r["poster_targets"]["metrics"]["recall@10"],
            "no_poster_recall@10": r["no_poster_targets"]["metrics"]["recall@10"],
            "cold_poster_recall@10": r.get("cold_poster_targets", {}).get("metrics", {}).get("recall@10"),
            "cold_poster_recall@50": r.get("cold_poster_targets", {}).get("metrics", {}).get("recall@50"),
            "cold_poster_recall@100": r.get("cold_poster_targets", {}).get("metrics", {}).get("recall@100"),
            "cold_task_among_cold_recall@10": r.get("cold_task_among_cold_items", {}).get("recall@10"),
            "cold_recall@10": slices.get("cold_items", {}).get("metrics", {}).get("recall@10"),
            "cold_n": slices.get("cold_items", {}).get("n_users"),
            "fit_seconds": r["seconds"]["fit"], "best_epoch": r["training"]["best_epoch"],
            "epochs_run": r["training"]["epochs_run"], "valid_ndcg@10": r["model_report"].get("best_score"),
            "new_item_offset": r["model_report"]["new_item_offset"],
        })  # fmt: skip
    return {"dataset": DATASET, "rows": rows}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--splits", nargs="+", default=["loo", "cold"], choices=["loo", "cold"])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--max-len", type=int, default=50)
    parser.add_argument("--loss", default="sampled", choices=["ce", "sampled"])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--modality-dropout", type=float, default=None)
    parser.add_argument("--seed", type=int, default=0, help="the model's seed (the held-out items stay seed 0)")
    parser.add_argument("--suffix", default="", help="added to the result names (ablations)")
    parser.add_argument("--summary-only", action="store_true", help="only rewrite summary.json")
    parser.add_argument("--log", type=Path, default=OUT / "run.log")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    if args.summary_only:
        (OUT / "summary.json").write_text(json.dumps(summarise(), indent=2) + "\n", encoding="utf-8")
        return 0
    logging.basicConfig(filename=args.log, level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    root = shared_data(DATASET).parent
    dataset, report = attach_images(load_dataset(DATASET, data_root=root), root / "movielens-posters")
    log.info("%s", report.summary())
    has_poster = np.asarray([bool(p) for p in dataset.catalog.images])
    loo = make_split(dataset, "loo")
    settings = budget(args.epochs, args.max_len, args.loss, args.batch_size)
    settings["seed"] = args.seed
    if args.modality_dropout is not None:
        settings["modality_dropout"] = args.modality_dropout
    for split_name in args.splits:
        split, held = (loo, None) if split_name == "loo" else cold_split(loo, has_poster, 0.1, 0)
        for variant in args.variants:
            log.info("start %s %s", variant, split_name)
            result = run_one(dataset, split, split_name, variant, settings, held)
            result["variant"] = variant + args.suffix
            result["model_report"]["best_score"] = result["training"]["history"] and max(
                h.get("valid_ndcg@10", 0.0) for h in result["training"]["history"]
            )
            name = f"{DATASET}__seqrec__{variant}{args.suffix}__{split_name}.json"
            (OUT / name).write_text(json.dumps(result, indent=2, default=float) + "\n", encoding="utf-8")
            log.info("done %s %s recall@10=%.4f ndcg@10=%.4f poster=%.4f cold=%s fit=%.0fs best_epoch=%d",
                     variant, split_name, result["metrics"]["recall@10"], result["metrics"]["ndcg@10"],
                     result["poster_targets"]["metrics"]["recall@10"],
                     result.get("cold_poster_targets", {}).get("metrics", {}).get("recall@10"),
                     result["seconds"]["fit"], result["training"]["best_epoch"])  # fmt: skip
            (OUT / "summary.json").write_text(json.dumps(summarise(), indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
