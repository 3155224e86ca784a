"""Rating prediction beside ranking: RMSE / MAE of every rating model, and click AUC on MIND.

Usage: python benchmarks/bench_rating.py [--tables ml100k random-mi cold ablation loo random-mls mind]
       [--seeds 0 1 2] [--cache-dir DIR]

Tables (each writes ``benchmarks/results/rating/<name>.json`` with hardware and versions):

* ``ml100k``: the official folds u1 … u5 of MovieLens-100K, every model of
  ``interestlm.evaluate.rating.rating_models`` (Surprise-default baselines, ``fused``, ``interest``).
* ``random-mi`` / ``random-mls``: musical-instruments / ml-latest-small, random 80/20 of the
  ratings, three seeds.
* ``cold``: a tenth of the rated items held out whole (ml-100k, ml-latest-small,
  musical-instruments; seed 0); the baseline that knows no item mean is ``baseline``
  (μ + b_u for an unseen item).
* ``ablation``: FusedRating with one input added at a time, on ml-100k u1 and
  musical-instruments (seed 0; there also the item text without its review snippets).
* ``loo``: musical-instruments leave-one-out (each user's last rating), the split of the
  sequence model's rating head (RMSE 1.050 at the base commit: the "before" number).
* ``mind``: click AUC on the MIND sample's impressions (see :func:`mind_auc`).

Medians are not needed here: each model's fit is deterministic for its seed; the spread over
seeds / folds is reported beside each mean.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from interestlm.core.metrics import auc, mae, rmse, row_auc
from interestlm.core.tables import KIND_CODE, Dataset
from interestlm.data.registry import default_data_root, load_dataset
from interestlm.evaluate.rating import (
    ablation_models,
    content_features,
    dataset_ratings,
    evaluate_rating,
    rating_models,
    summarise,
)
from interestlm.evaluate.runner import hardware, versions
from interestlm.models.rating_fused import FusedRating, RatingBlend, item_features

HERE = Path(__file__).resolve().parent
OUT = HERE / "results" / "rating"

#: What the base commit (8270b2d) could do: no rating API; the sequence model's optional rating
#: head on musical-instruments leave-one-out (benchmarks/results/speed/musical-instruments__rating_head.json).
BEFORE = {
    "commit": "8270b2d",
    "rating_api": False,
    "musical-instruments_loo": {"seqrec_rating_head": {"rmse": 1.049584553973822, "mae": 0.7389819373443796},
                                "global_mean": {"rmse": 0.9903582774443411},
                                "user_mean_shrunk": {"rmse": 0.9682730189398634}},
}  # fmt: skip

#: Published references on MovieLens-100K (Surprise: 5-fold random CV; GC-MC / GLocal-K: u1).
PUBLISHED = {
    "surprise_5fold": {"svd": 0.934, "svdpp": 0.919, "knn-baseline": 0.931, "baseline": 0.944},
    "u1": {"GC-MC": 0.905, "GLocal-K": 0.890},
}


#: The data root (``--data-root``; default ``../shared/data`` from the working directory).
DATA_ROOT: list[Path] = []

#: The 1/5/15-minute load average when the current table started (the machine is shared: fit
#: times depend on it; the RMSEs do not).
LOAD_AT_START: list[list[float]] = []


def load(name: str) -> Dataset:
    """A named dataset from the data root."""
    return load_dataset(name, data_root=DATA_ROOT[0] if DATA_ROOT else None)


def write(name: str, payload: dict[str, Any]) -> None:
    """Write one table's JSON (with hardware and versions) and say where."""
    OUT.mkdir(parents=True, exist_ok=True)
    load = {"at_start": LOAD_AT_START[-1] if LOAD_AT_START else None,
            "at_end": [round(x, 2) for x in os.getloadavg()]}  # fmt: skip
    payload = {**payload, "hardware": hardware(), "versions": versions(), "load_average": load, "before": BEFORE}
    path = OUT / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {path}", file=sys.stderr, flush=True)


def _log(results: list[dict[str, Any]]) -> None:
    for r in results:
        print(
            f"{r['dataset']:<20} {r['split']:<10} seed {r['seed']} {r['model']:<18} "
            f"RMSE {r['metrics']['rmse']:.4f} MAE {r['metrics']['mae']:.4f}  fit {r['seconds']['fit']:.1f}s",
            file=sys.stderr, flush=True,
        )


def _slim(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k not in ("hardware", "versions")} for r in results]


def table_ml100k(cache_dir: Path | None) -> None:
    """ml-100k, folds u1 … u5, every model."""
    ds = load("ml-100k")
    results: list[dict[str, Any]] = []
    for fold in ("u1", "u2", "u3", "u4", "u5"):
        runs = evaluate_rating(ds, fold, cache_dir=cache_dir, data_root=DATA_ROOT[0])
        _log(runs)
        results += runs
    write("ml-100k__folds", {
        "dataset": "ml-100k", "splits": ["u1", "u2", "u3", "u4", "u5"], "published": PUBLISHED,
        "u1": summarise([r for r in results if r["split"] == "u1"]),
        "mean_u1_u5": summarise(results), "runs": _slim(results),
    })  # fmt: skip


def table_random(cache_dir: Path | None, seeds: list[int], names: tuple[str, ...]) -> None:
    """Random 80/20 splits of the ratings, several seeds."""
    for name in names:
        ds = load(name)
        results: list[dict[str, Any]] = []
        for seed in seeds:
            runs = evaluate_rating(ds, "random", seed=seed, cache_dir=cache_dir)
            _log(runs)
            results += runs
        write(f"{name}__random", {
            "dataset": name, "split": "random 80/20", "seeds": seeds, "summary": summarise(results),
            "runs": _slim(results),
        })  # fmt: skip


def table_cold(cache_dir: Path | None) -> None:
    """Cold items: a tenth of the rated items held out whole."""
    out: dict[str, Any] = {}
    for name in ("ml-100k", "ml-latest-small", "musical-instruments"):
        ds = load(name)
        models = {k: v for k, v in rating_models(0).items() if k in ("global-mean", "baseline", "svd", "fused")}
        runs = evaluate_rating(ds, "cold-items", models=models, seed=0, cache_dir=cache_dir)
        _log(runs)
        out[name] = {"summary": summarise(runs), "runs": _slim(runs)}
    write("cold_items", {"split": "cold-items (10% of rated items held out whole), seed 0", "datasets": out})


def table_ablation(cache_dir: Path | None) -> None:
    """Which inputs move RMSE: one input added at a time."""
    out: dict[str, Any] = {}
    ds = load("ml-100k")
    runs = evaluate_rating(ds, "u1", models=ablation_models(0), cache_dir=cache_dir, data_root=DATA_ROOT[0])
    _log(runs)
    out["ml-100k_u1"] = summarise(runs)
    mi = load("musical-instruments")
    runs = evaluate_rating(mi, "random", models=ablation_models(0), seed=0, cache_dir=cache_dir)
    _log(runs)
    out["musical-instruments_random_seed0"] = summarise(runs)
    # The same, with item text built without the training reviews (titles are absent there).
    _ratings, _rows = dataset_ratings(mi)
    from interestlm.encode import make_encoder
    from interestlm.text.templates import item_texts

    vectors = make_encoder("minilm", cache_dir=cache_dir, threads=1).encode(item_texts(mi.catalog))
    plain = item_features(vectors, mi.catalog.categories)
    runs = evaluate_rating(
        mi, "random", seed=0, features=plain,
        models={"+text/categories (no reviews)": lambda: FusedRating(seed=0, use_taste=False),
                "+profile taste (no reviews)": lambda: FusedRating(seed=0)},
    )  # fmt: skip
    _log(runs)
    out["musical-instruments_random_seed0"].update(summarise(runs))
    write("ablation", {"note": "each row adds one input to the row above it", "tables": out})


def table_loo(cache_dir: Path | None) -> None:
    """musical-instruments leave-one-out: the split where the sequence model's head scored 1.050."""
    from interestlm.evaluate.runner import make_split

    ds = load("musical-instruments")
    split = make_split(ds, "loo")
    ratings, rows = dataset_ratings(ds)
    test = np.isin(rows, split.test_rows)
    train_part, test_part = ratings.take(~test), ratings.take(test)
    features = content_features(ds, rows[~test], cache_dir=cache_dir)
    out: dict[str, Any] = {}
    for name, make in rating_models(0).items():
        start = time.perf_counter()
        model = make()
        if isinstance(model, FusedRating | RatingBlend):
            model.fit(train_part, features=features)
        else:
            model.fit(train_part)
        pred = model.predict(test_part.user, test_part.item)
        out[name] = {"rmse": rmse(pred, test_part.rating), "mae": mae(pred, test_part.rating),
                     "fit_seconds": round(time.perf_counter() - start, 2)}  # fmt: skip
        print("musical-instruments loo", name, out[name], file=sys.stderr, flush=True)
    write("musical-instruments__loo", {"dataset": "musical-instruments", "split": "loo (last rating per user)",
                                       "n_test": len(test_part), "models": out})  # fmt: skip


def mind_auc(ds: Dataset, *, cache_dir: Path | None, test_fraction: float = 0.5) -> dict[str, Any]:
    """Click AUC on the MIND sample's impressions.

    An impression is the set of ``click`` / ``view`` rows a user has at one impression time. The
    later ``test_fraction`` of impression times are the test; the recommender is fitted on every
    earlier row (the users' histories and earlier impressions' clicks). Each test impression's
    shown items are scored by: the fused score of the fitted interest recommender (``score``),
    popularity (training clicks), and recency (the item's first appearance in the log: newer
    first). AUC per impression (impressions with a click and a non-click), averaged, and the AUC
    of all test entries pooled.
    """
    from interestlm.config import RecommenderConfig
    from interestlm.core.protocol import TrainData
    from interestlm.recommender import Recommender

    inter = ds.interactions
    shown = np.isin(inter.kind, [KIND_CODE["click"], KIND_CODE["view"]])
    impression_times = np.unique(inter.timestamp[shown])
    # History rows sit just before a user's first impression: the cut is on impression times only.
    cut = impression_times[int(len(impression_times) * (1 - test_fraction))]
    # Impression rows: at a time that is some user's impression time and carrying a view, or a
    # click at the same (user, time) as a view.
    key = inter.user.astype(np.int64) * (1 << 40) + inter.timestamp
    view_keys = set(key[inter.kind == KIND_CODE["view"]].tolist())
    is_impression = np.fromiter((k in view_keys for k in key.tolist()), dtype=bool, count=len(key))
    test = is_impression & (inter.timestamp >= cut)
    train_rows = np.flatnonzero(~test & ((inter.kind == KIND_CODE["click"]) | ~is_impression))
    train = inter.select(train_rows)
    rec = Recommender(RecommenderConfig(cache_dir=str(cache_dir) if cache_dir else None, encoder_threads=1,
                                        rating_model=False))  # fmt: skip
    start = time.perf_counter()
    rec.fit(TrainData(catalog=ds.catalog, interactions=train))
    fit_s = time.perf_counter() - start
    clicks = np.bincount(train.item[train.kind == KIND_CODE["click"]], minlength=len(ds.catalog)).astype(float)
    first_seen = np.full(len(ds.catalog), np.inf)
    np.minimum.at(first_seen, inter.item, inter.timestamp.astype(float))
    test_rows = np.flatnonzero(test)
    groups: dict[int, list[int]] = {}
    for r in test_rows.tolist():
        groups.setdefault(int(key[r]), []).append(r)
    per: dict[str, list[float]] = {"fused": [], "popularity": [], "recency": []}
    pooled: dict[str, list[float]] = {"fused": [], "popularity": [], "recency": []}
    labels_all: list[float] = []
    histories = train.per_user(train.item)
    n_both = 0
    for rows in groups.values():
        items = inter.item[rows]
        labels = (inter.kind[rows] == KIND_CODE["click"]).astype(float)
        u = int(inter.user[rows[0]])
        hist = histories[u] if u < len(histories) else np.zeros(0, np.int32)
        fused = rec.score(np.array([u], dtype=np.int32), [np.asarray(hist, dtype=np.int32)])[0][items]
        # Recency: a later first appearance in the log is a newer item, scored higher.
        scores = {"fused": fused, "popularity": clicks[items], "recency": first_seen[items]}
        for name, s in scores.items():
            pooled[name] += np.asarray(s, dtype=float).tolist()
        labels_all += labels.tolist()
        if 0 < labels.sum() < len(labels):
            n_both += 1
            for name, s in scores.items():
                per[name].append(float(row_auc(np.asarray(s, dtype=float)[None, :], labels[None, :])[0]))
    return {
        "n_impressions": len(np.unique(key[is_impression])),
        "n_test_impressions": len(groups),
        "n_test_impressions_with_both_labels": n_both,
        "n_test_entries": len(labels_all),
        "n_test_clicks": int(sum(labels_all)),
        "n_train_rows": len(train),
        "fit_seconds": round(fit_s, 1),
        "mean_impression_auc": {name: float(np.mean(v)) for name, v in per.items()},
        "pooled_auc": {name: auc(np.asarray(v), np.asarray(labels_all)) for name, v in pooled.items()},
    }


def table_mind(cache_dir: Path | None) -> None:
    """MIND sample click AUC (a format fixture, not the benchmark: see its README)."""
    ds = load("mind-sample")
    result = mind_auc(ds, cache_dir=cache_dir)
    print("mind", json.dumps(result), file=sys.stderr, flush=True)
    write("mind-sample__auc", {
        "dataset": "mind-sample",
        "limits": "5,000 behaviors rows sampled from MIND-small train by a third party; only 2,000 news "
                  "rows (284 of the 7,457 impression news ids have text): most shown items are text-less "
                  "ids, and no number here is comparable to a published MIND result",
        **result,
    })  # fmt: skip


TABLES: Mapping[str, Callable[..., None]] = {
    "ml100k": table_ml100k, "random-mi": table_random, "cold": table_cold, "ablation": table_ablation,
    "loo": table_loo, "random-mls": table_random, "mind": table_mind,
}  # fmt: skip


RANDOM_DATASETS = {"random-mi": ("musical-instruments",), "random-mls": ("ml-latest-small",)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tables", nargs="+", default=list(TABLES), choices=list(TABLES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--cache-dir", type=Path, default=None, help="encoder cache (e.g. artifacts/encoder-cache)")
    parser.add_argument("--data-root", type=Path, default=None, help="default: ../shared/data")
    args = parser.parse_args()
    DATA_ROOT.append(args.data_root or default_data_root())
    for name in args.tables:
        LOAD_AT_START.append([round(x, 2) for x in os.getloadavg()])
        start = time.perf_counter()
        if name.startswith("random"):
            table_random(args.cache_dir, args.seeds, RANDOM_DATASETS[name])
        else:
            TABLES[name](args.cache_dir)
        print(f"table {name}: {time.perf_counter() - start:.0f}s", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
