"""Recall of the candidate stage against full ranking, and what it saves, in one run.

Above ``RecommenderConfig.candidates_above`` items the ranker scores only each user's candidates
(FAISS per interest and short-term vector, concept index, co-occurrence, popularity). This fits
the recommender once, then for sampled users compares the top-10 of full ranking with the top-10
ranked from ``n_candidates`` candidates (for several sizes): the share of the full top-10 that the
candidates contain, the overlap of the two top-10 lists, and the median ranking time per user of
each path (same machine, same run). Writes ``benchmarks/results/candidates/<dataset>.json``.

Usage: python benchmarks/bench_candidates.py [--dataset toys | --artifacts DIR] [--users 300] [--sizes 200 500 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from encoder_cache import default_cache_dir
from interestlm.config import recommender_config
from interestlm.data.registry import load_dataset
from interestlm.evaluate.runner import hardware, versions
from interestlm.rank.ranker import REFERENCE_ITEMS
from interestlm.recommender import Recommender
from interestlm.retrieve.candidates import CandidateStage

HERE = Path(__file__).resolve().parent


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """Wall and process CPU seconds of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", default="ml-latest-small")
    parser.add_argument("--artifacts", type=Path, default=None, help="load this saved recommender instead of fitting")
    parser.add_argument(
        "--synthetic",
        type=float,
        default=None,
        metavar="SCALE",
        help="fit on synthetic data of SCALE x ml-latest-small (hashing-256 encoder, as bench_scale.py)",
    )
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 500, 1000])
    parser.add_argument("--cache-dir", default=default_cache_dir())
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--index", choices=("exact", "flat", "hnsw"), default="exact", help="the stage's vector index")
    args = parser.parse_args()
    import tomllib

    if args.artifacts is not None:
        rec = Recommender.load(args.artifacts)
    elif args.synthetic is not None:
        from interestlm.config import RecommenderConfig
        from interestlm.testing.synthetic import synthetic

        args.dataset = f"synthetic-{args.synthetic:g}x"
        data = synthetic(args.synthetic, seed=args.seed).dataset
        rec = Recommender(RecommenderConfig(encoder="hashing-256", rating_model=False, progress=False)).fit(data)
    else:
        raw = tomllib.loads((HERE / "config.toml").read_text())
        settings = dict(raw.get("models", {}).get("interest", {}))
        settings.update(raw.get("datasets", {}).get(args.dataset, {}).get("models", {}).get("interest", {}))
        dataset = load_dataset(args.dataset)
        config = recommender_config({"recommender": {**settings, "cache_dir": args.cache_dir}})
        rec = Recommender(config).fit(dataset)
    state = rec.state_
    rng = np.random.default_rng(args.seed)
    users = rng.choice(len(state.user_ids), min(args.users, len(state.user_ids)), replace=False)
    profiles = [rec.profile(state.user_ids[u]) for u in users.tolist()]

    full_ranker = replace(state.ranker, candidates=None)
    t_full: list[float] = []
    full_top: list[set[int]] = []
    for p in profiles:
        t = time.perf_counter()
        full_top.append({r.item for r in full_ranker.rank([p], 10)[0]})
        t_full.append(time.perf_counter() - t)
    full_batch = timed(lambda: full_ranker.rank(profiles, 10))

    sizes = {}
    for size in args.sizes:
        stage = CandidateStage.build(
            state.item_vectors,
            state.item_concepts,
            state.train.sequences(),
            n_candidates=size,
            space_vectors=state.space.vectors_,
            index_kind=args.index,
        )
        staged = replace(state.ranker, candidates=stage, candidates_above=0)
        contained, overlap, t_cand = [], [], []
        found = stage.retrieve_many(profiles)
        for p, top, cands in zip(profiles, full_top, found, strict=True):
            t = time.perf_counter()
            got = {r.item for r in staged.rank([p], 10)[0]}
            t_cand.append(time.perf_counter() - t)
            contained.append(len(top & set(cands.tolist())) / max(len(top), 1))
            overlap.append(len(top & got) / max(len(top), 1))
        wall, cpu = timed(lambda staged=staged: staged.rank(profiles, 10))
        sizes[str(size)] = {
            "full_top10_in_candidates": float(np.mean(contained)),
            "top10_overlap_with_full": float(np.mean(overlap)),
            "ms_per_user_median": 1000 * statistics.median(t_cand),
            "batch_users_per_s": len(profiles) / wall,
            "batch_users_per_cpu_s": len(profiles) / cpu,
        }
        print(size, sizes[str(size)], flush=True)
    result = {
        "dataset": args.dataset,
        "n_items": len(state.catalog),
        "users": len(profiles),
        "full_ranking_ms_per_user_median": 1000 * statistics.median(t_full),
        "full_ranking_batch_users_per_s": len(profiles) / full_batch[0],
        "full_ranking_batch_users_per_cpu_s": len(profiles) / full_batch[1],
        "candidates": sizes,
        "reference_items": REFERENCE_ITEMS,
        "index": args.index,
        "candidate_batch": state.ranker.candidate_batch,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default"),
        "hardware": hardware(),
        "versions": versions(),
        "note": "one process; per-user times rank one profile per call (a request), batch rates rank all "
        "sampled profiles in one call; shared 2-core machine",
    }
    out = HERE / "results" / "candidates" / f"{args.dataset}{'' if args.index == 'exact' else '__' + args.index}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k not in ("hardware", "versions")}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
