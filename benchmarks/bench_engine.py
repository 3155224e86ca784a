"""Local vs Ray engine: wall time per stage on ml-latest-small, and the Ray-trained sequence model's
metrics against the local seed-to-seed spread.

Stages (each run on both engines in one process, one Ray instance of ``--workers`` CPUs started
once, its start-up timed on its own):

* ``encode``: ``--texts`` item texts with MiniLM and no vector cache (a cold encode; a warm cache
  would time the cache);
* ``fit``: the whole fit with a warm vector cache (``--cache``), so it times the other stages;
* ``profiles``: every user's profile from the fitted builder;
* ``recommend_all``: every user's top-10 into a table (Ray: actors loading the saved artifacts);
* ``evaluate_rank``: full-catalogue ranking of the leave-one-out test users (the ranking stage of
  ``evaluate``, with the fitted model: a speed measurement);
* ``seqrec``: the sequence model on ``--seqrec-dataset`` for a fixed number of epochs, locally
  for ``--seqrec-seeds`` seeds and once with Ray Train (DDP), with test HR@10 / NDCG@10.

On a 2-core machine shared with other jobs Ray can only add overhead (process start-up, moving
the model and the shards between processes); the point of the engine is identical answers and
the ability to scale out. The load average is recorded before each stage.

Usage: python benchmarks/bench_engine.py [--dataset ml-latest-small] [--stages encode fit ...]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from encoder_cache import default_cache_dir
from interestlm.config import RecommenderConfig
from interestlm.data.registry import load_dataset
from interestlm.engine import RayEngine, recommend_all_local, recommend_all_ray
from interestlm.evaluate.runner import hardware, versions
from interestlm.evaluate.split import leave_one_out
from interestlm.models.ranking import evaluate_task
from interestlm.models.seqrec import SeqRec, SeqRecConfig
from interestlm.parallel import LOCAL, EncodeTexts, Engine, build_profiles, encode_texts, rank_rows
from interestlm.recommender import Recommender
from interestlm.text import item_texts

HERE = Path(__file__).resolve().parent
STAGES = ("encode", "fit", "profiles", "recommend_all", "evaluate_rank", "seqrec")


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _timed(fn: Any) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", default="ml-latest-small")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--texts", type=int, default=2048, help="texts encoded cold per engine")
    parser.add_argument(
        "--cache",
        default=default_cache_dir(),
        help="warm vector cache for the fit stage",
    )
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    parser.add_argument("--seqrec-dataset", default="ml-latest-small-sample")
    parser.add_argument("--seqrec-seeds", type=int, default=3)
    parser.add_argument("--seqrec-epochs", type=int, default=4)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "speed" / "bench_engine.json")
    args = parser.parse_args()

    dataset = load_dataset(args.dataset)
    users = [str(u) for u in dataset.interactions.user_ids.tolist()]
    result: dict[str, Any] = {
        "dataset": dataset.name,
        "n_items": dataset.n_items,
        "n_users": len(users),
        "workers": args.workers,
        "stages": {},
    }
    stages: dict[str, Any] = result["stages"]
    ray = RayEngine(workers=args.workers)
    load = _load()
    ray_start, _ = _timed(ray.start)
    result["ray_start_seconds"] = round(ray_start, 2)
    result["load_average_at_ray_start"] = load
    engines: tuple[Engine, ...] = (LOCAL, ray)
    config = RecommenderConfig(encoder="minilm", cache_dir=args.cache)
    fitted: Recommender | None = None
    try:
        if "encode" in args.stages:
            texts = item_texts(dataset.catalog)[: args.texts]
            row: dict[str, Any] = {"n_texts": len(texts)}
            vectors = {}
            for engine in engines:
                row[f"load_average_before_{engine.name}"] = _load()
                seconds, vectors[engine.name] = _timed(lambda e=engine: encode_texts(e, EncodeTexts("minilm"), texts))
                row[f"{engine.name}_seconds"] = round(seconds, 2)
                row[f"{engine.name}_texts_per_second"] = round(len(texts) / seconds, 1)
            row["max_abs_vector_difference"] = float(np.abs(vectors["ray"] - vectors["local"]).max())
            stages["encode"] = row
        if {"fit", "profiles", "recommend_all", "evaluate_rank"} & set(args.stages):
            row = {}
            fits: dict[str, Recommender] = {}
            for engine in engines if "fit" in args.stages else (LOCAL,):
                row[f"load_average_before_{engine.name}"] = _load()
                seconds, fits[engine.name] = _timed(
                    lambda e=engine: Recommender(config).fit(dataset, engine=e)  # type: ignore[misc]
                )
                row[f"{engine.name}_seconds"] = round(seconds, 2)
            fitted = fits["local"]
            if "ray" in fits:
                lists_equal = all(
                    [r.item_id for r in fits["ray"].recommend(u, 10, explain=False)]
                    == [r.item_id for r in fitted.recommend(u, 10, explain=False)]
                    for u in users
                )
                row["same_top10_lists_for_every_user"] = lists_equal
                row["same_fusion_weights"] = fits["ray"].fusion_.weights == fitted.fusion_.weights
                stages["fit"] = row
        if "profiles" in args.stages and fitted is not None:
            state = fitted.state_
            row = {"n_users": len(state.user_ids)}
            built = {}
            for engine in engines:
                row[f"load_average_before_{engine.name}"] = _load()
                seconds, built[engine.name] = _timed(
                    lambda e=engine: build_profiles(e, state.builder, state.user_ids, state.histories)
                )
                row[f"{engine.name}_seconds"] = round(seconds, 2)
            row["same_profiles"] = all(
                np.array_equal(a.history.items, b.history.items) and [i.items for i in a.interests] == [
                    i.items for i in b.interests
                ]
                for a, b in zip(built["local"], built["ray"], strict=True)
            )
            stages["profiles"] = row
        if "recommend_all" in args.stages and fitted is not None:
            row = {}
            with tempfile.TemporaryDirectory(prefix="bench-engine-") as tmp:
                artifacts = fitted.save(Path(tmp) / "artifacts")
                row["load_average_before_local"] = _load()
                seconds, local_table = _timed(lambda: recommend_all_local(fitted, 10))
                row["local_seconds"] = round(seconds, 2)
                row["load_average_before_ray"] = _load()
                seconds, ray_table = _timed(
                    lambda: recommend_all_ray(artifacts, fitted.state_.user_ids, 10, workers=args.workers)
                )
                row["ray_seconds"] = round(seconds, 2)
            row["same_rows"] = ray_table.column("item_id").to_pylist() == local_table.column("item_id").to_pylist()
            stages["recommend_all"] = row
        if "evaluate_rank" in args.stages and fitted is not None:
            task = leave_one_out(dataset).test
            row = {"n_users": len(task)}
            tops = {}
            for engine in engines:
                row[f"load_average_before_{engine.name}"] = _load()
                seconds, tops[engine.name] = _timed(lambda e=engine: rank_rows(e, fitted, task, 20, batch_size=256))
                row[f"{engine.name}_seconds"] = round(seconds, 2)
            row["same_top20"] = bool(np.array_equal(tops["ray"], tops["local"]))
            stages["evaluate_rank"] = row
        if "seqrec" in args.stages:
            stages["seqrec"] = _seqrec(args, ray)
    finally:
        ray.close()
    result.update(
        hardware=hardware(),
        versions=versions(),
        note=(
            "shared 2-core machine (other jobs running: see the load averages); one run per stage and "
            "engine; Ray's start-up is timed apart. On 2 cores Ray adds process start-up and data "
            "movement to every stage: the engine is for identical answers on a cluster, not for speed here."
        ),
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return 0


def _seqrec(args: argparse.Namespace, ray: RayEngine) -> dict[str, Any]:
    """Local seeds vs one Ray Train run of the same small sequence model, fixed epochs."""
    data = load_dataset(args.seqrec_dataset)
    split = leave_one_out(data)
    config = SeqRecConfig(
        encoder="hashing", max_len=50, hidden=32, n_layers=1, n_heads=2, dropout=0.2, lr=2e-3,
        batch_size=64, epochs=args.seqrec_epochs, patience=0, num_threads=2,
    )  # fmt: skip
    row: dict[str, Any] = {"dataset": data.name, "epochs": args.seqrec_epochs, "local": []}
    for seed in range(args.seqrec_seeds):
        load = _load()
        seconds, model = _timed(lambda s=seed: SeqRec(config, seed=s).fit(split.train, valid=split.valid))
        metrics = evaluate_task(model, split.test, ks=(10,))
        row["local"].append({"seed": seed, "seconds": round(seconds, 2), "load_average_before": load, **metrics})
    load = _load()
    seconds, model = _timed(lambda: ray.fit(SeqRec(config, seed=0), split.train, split.valid))
    metrics = evaluate_task(model, split.test, ks=(10,))
    row["ray"] = {"seed": 0, "seconds": round(seconds, 2), "load_average_before": load, **metrics}
    for metric in ("hr@10", "ndcg@10"):
        seeds = [r[metric] for r in row["local"]]
        row[f"{metric}_local_range"] = [min(seeds), max(seeds)]
        row[f"{metric}_local_median"] = statistics.median(seeds)
        row[f"{metric}_ray_within_local_range"] = min(seeds) <= row["ray"][metric] <= max(seeds)
        if len(seeds) > 1:
            # The band tests/test_engine_fit.py uses: mean +- 3 standard deviations of the local seeds.
            mean, sd = statistics.mean(seeds), statistics.stdev(seeds)
            row[f"{metric}_local_mean_3sd"] = [mean - 3 * sd, mean + 3 * sd]
            row[f"{metric}_ray_within_local_mean_3sd"] = mean - 3 * sd <= row["ray"][metric] <= mean + 3 * sd
    return row


if __name__ == "__main__":
    raise SystemExit(main())
