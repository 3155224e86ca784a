"""Recall of the candidate stage against full ranking, and what it saves, in one run.

Above ``RecommenderConfig.candidates_above`` items the ranker scores only each user's candidates
(FAISS per interest and short-term vector, concept index, co-occurrence, popularity). This fits
the recommender once, then for sampled users compares the top-10 of full ranking with the top-10
ranked from ``n_candidates`` candidates (for several sizes): the share of the full top-10 that the
candidates contain, the overlap of the two top-10 lists, and the median ranking time per user of
each path (same machine, same run). Writes ``benchmarks/results/candidates/<dataset>.json``.

Usage: python benchmarks/bench_candidates.py [--dataset toys] [--users 300] [--sizes 200 500 1000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from interestlm.config import recommender_config
from interestlm.data.registry import load_dataset
from interestlm.evaluate.runner import hardware, versions
from interestlm.recommender import Recommender
from interestlm.retrieve.candidates import CandidateStage

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", default="ml-latest-small")
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 500, 1000])
    parser.add_argument("--cache-dir", default="/work/wt/cache")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    import tomllib

    raw = tomllib.loads((HERE / "config.toml").read_text())
    settings = dict(raw.get("models", {}).get("interest", {}))
    settings.update(raw.get("datasets", {}).get(args.dataset, {}).get("models", {}).get("interest", {}))
    dataset = load_dataset(args.dataset)
    rec = Recommender(recommender_config({"recommender": {**settings, "cache_dir": args.cache_dir}})).fit(dataset)
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

    sizes = {}
    for size in args.sizes:
        stage = CandidateStage.build(
            state.item_vectors,
            state.item_concepts,
            state.train.sequences(),
            n_candidates=size,
            space_vectors=state.space.vectors_,
        )
        staged = replace(state.ranker, candidates=stage, candidates_above=0)
        contained, overlap, t_cand = [], [], []
        for p, top in zip(profiles, full_top, strict=True):
            t = time.perf_counter()
            got = {r.item for r in staged.rank([p], 10)[0]}
            t_cand.append(time.perf_counter() - t)
            cands = set(stage.retrieve(p).tolist())
            contained.append(len(top & cands) / max(len(top), 1))
            overlap.append(len(top & got) / max(len(top), 1))
        sizes[str(size)] = {
            "full_top10_in_candidates": float(np.mean(contained)),
            "top10_overlap_with_full": float(np.mean(overlap)),
            "ms_per_user_median": 1000 * statistics.median(t_cand),
        }
        print(size, sizes[str(size)], flush=True)
    result = {
        "dataset": args.dataset,
        "n_items": len(state.catalog),
        "users": len(profiles),
        "full_ranking_ms_per_user_median": 1000 * statistics.median(t_full),
        "candidates": sizes,
        "hardware": hardware(),
        "versions": versions(),
    }
    out = HERE / "results" / "candidates" / f"{args.dataset}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k not in ("hardware", "versions")}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
