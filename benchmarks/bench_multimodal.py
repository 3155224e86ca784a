"""Pictures as a second modality: text only / image only / text + image, on ml-latest-small with posters.

Usage: python benchmarks/bench_multimodal.py [--variants text image text+image] [--splits loo cold]
       [--cache-dir DIR] [--share 0.1] [--seed 0]

The interest recommender is fitted three ways (``RecommenderConfig.image_content``): ``off``
(text only, today's recommender), ``only`` (the posters are the item vectors; items without one
get zero vectors; concepts from genres stay), ``signal`` (text vectors plus the ``visual`` signal,
its weight learned like the others on validation). Splits, full ranking over all 9,742 movies with
the user's training items removed:

- ``loo``: the runner's leave-one-out split; Recall@10 / NDCG@10 on all test users and on those
  whose target has a poster.
- ``cold``: the same split with 10 % of the poster-bearing movies (seeded) held out of training
  entirely (every training row dropped; they keep their text and poster). Reported on the LOO test
  targets that are cold (few users: a small sample) and on a larger cold task: every user who
  interacted with a cold movie anywhere, their cold movies as targets, ranked from their training
  history (full catalogue, and among the cold movies only).

Also measured: picture encoding throughput (images/s, the fit's added cost) and the alignment of
pictures to text (how often a poster's nearest text neighbours through the learned map share its
genres, against random pairs). Nothing is tuned on test. Writes
``benchmarks/results/multimodal/ml-latest-small__interest.json`` (and ``alignment.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from encoder_cache import default_cache_dir
from interestlm.core.metrics import ranking_metrics
from interestlm.core.protocol import EvalTask
from interestlm.data.images import attach_images
from interestlm.data.registry import load_dataset
from interestlm.evaluate.runner import EvaluationConfig, fit_model, make_split
from interestlm.evaluate.split import Split, without_items
from interestlm.models.ranking import rank_task
from interestlm.testing import shared_data

OUT = Path(__file__).parent / "results" / "multimodal"
VARIANTS = {"text": "off", "image": "only", "text+image": "signal", "text+image, pictures in the space": "signal"}


def cold_task(split: Split, held: np.ndarray, dataset_items: np.ndarray, dataset_users: np.ndarray) -> EvalTask:
    """Every user who interacted with a held-out item (anywhere in the log): targets are those items,
    the history is the user's training rows, the training items are excluded."""
    train = split.train.interactions
    held_set = np.zeros(split.train.n_items, dtype=bool)
    held_set[held] = True
    users, histories, targets = [], [], []
    order = train.time_order()
    by_user: dict[int, list[int]] = {}
    for r in order.tolist():
        by_user.setdefault(int(train.user[r]), []).append(int(train.item[r]))
    for u in np.unique(dataset_users[held_set[dataset_items]]).tolist():
        hist = by_user.get(int(u), [])
        if not hist:
            continue
        tgt = np.unique(dataset_items[(dataset_users == u) & held_set[dataset_items]])
        users.append(u)
        histories.append(np.asarray(hist, dtype=np.int32))
        targets.append(tgt.astype(np.int32))
    rows = np.repeat(np.arange(len(users)), [len(h) for h in histories])
    cols = np.concatenate(histories) if histories else np.zeros(0, np.int32)
    exclude = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(len(users), split.train.n_items))
    return EvalTask(
        name="cold items", users=np.asarray(users, np.int32), histories=histories, targets=targets, exclude=exclude
    )


def metrics_of(
    model: Any, task: EvalTask, rows: np.ndarray | None = None, *, only: np.ndarray | None = None
) -> dict[str, float]:
    """Recall / NDCG at 10 and 20 of ``task`` (``rows`` of it); ``only`` restricts the ranking to those items."""
    if rows is not None:
        task = task.subset(rows)
    if only is not None:
        mask = np.ones(task.exclude.shape[1], dtype=np.float32)
        mask[only] = 0.0
        exclude = sp.csr_matrix(task.exclude.maximum(sp.csr_matrix(np.repeat(mask[None, :], len(task), axis=0))))
        task = EvalTask(
            name=task.name, users=task.users, histories=task.histories, targets=task.targets, exclude=exclude
        )
    topk = rank_task(model, task, 20, batch_size=256)
    m = ranking_metrics(topk, task.targets, (10, 20))
    return {k: float(v) for k, v in m.items() if k.split("@")[0] in ("recall", "ndcg")} | {"users": len(task)}


def alignment(dataset: Any, text_vectors: np.ndarray, image_vectors: np.ndarray, seed: int) -> dict[str, Any]:
    """Fit the picture -> text map on 80 % of the poster movies; for the other 20 %, the genre Jaccard
    of each one with its 10 nearest text neighbours (among all movies, itself excluded) through the
    map, against the raw image neighbours, the true text neighbours and random pairs."""
    from interestlm.encode.align import ImageTextMap

    has = np.flatnonzero(np.linalg.norm(image_vectors, axis=1) > 0)
    rng = np.random.default_rng(seed)
    test = rng.choice(has, len(has) // 5, replace=False)
    train_mask = np.zeros(len(text_vectors), dtype=bool)
    train_mask[has] = True
    train_mask[test] = False
    fitted = ImageTextMap.fit(np.where(train_mask[:, None], image_vectors, 0), text_vectors)
    assert fitted is not None
    genres = [set(c) - {"(no genres listed)"} for c in dataset.catalog.categories]

    def jaccard(a: int, b: int) -> float:
        u = genres[a] | genres[b]
        return len(genres[a] & genres[b]) / len(u) if u else 0.0

    def neighbours(query: np.ndarray, space: np.ndarray, exclude_self: np.ndarray) -> list[list[int]]:
        sims = query @ space.T
        sims[np.arange(len(query)), exclude_self] = -np.inf
        return np.argsort(-sims, axis=1)[:, :10].tolist()

    mapped = fitted(image_vectors[test])
    out: dict[str, Any] = {"n_fit": int(train_mask.sum()), "n_test": len(test)}
    for name, nn in (
        ("mapped_picture_to_text", neighbours(mapped, text_vectors, test)),
        (
            "picture_to_picture",
            neighbours(
                image_vectors[test],
                np.where(train_mask[:, None] | np.isin(np.arange(len(text_vectors)), test)[:, None], image_vectors, 0),
                test,
            ),
        ),
        ("text_to_text", neighbours(text_vectors[test], text_vectors, test)),
    ):
        out[name] = float(np.mean([jaccard(int(t), j) for t, row in zip(test, nn, strict=True) for j in row]))
        share = [np.mean([bool(genres[int(t)] & genres[j]) for j in row]) for t, row in zip(test, nn, strict=True)]
        out[name + "_share_any_genre"] = float(np.mean(share))
    pairs = rng.choice(len(text_vectors), (5000, 2))
    out["random_pairs"] = float(np.mean([jaccard(int(a), int(b)) for a, b in pairs]))
    out["random_pairs_share_any_genre"] = float(np.mean([bool(genres[int(a)] & genres[int(b)]) for a, b in pairs]))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS)[:3], choices=list(VARIANTS))
    parser.add_argument("--splits", nargs="+", default=["loo", "cold"], choices=["loo", "cold"])
    parser.add_argument("--cache-dir", default=default_cache_dir())
    parser.add_argument("--share", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(OUT / "ml-latest-small__interest.json"))
    parser.add_argument("--merge", action="store_true", help="add these runs to the --out file's runs")
    args = parser.parse_args()

    root = shared_data("ml-latest-small").parent
    dataset = load_dataset("ml-latest-small", data_root=root)
    dataset, report = attach_images(dataset, root / "movielens-posters")
    print(report.summary(), file=sys.stderr)
    poster = np.asarray([bool(p) for p in dataset.catalog.images])

    # Throughput: a cold run of the encoder on every poster (no cache), and the text encoder's
    # cached vectors for the alignment measurement.
    from interestlm.encode import make_encoder
    from interestlm.encode.image import EfficientNetLiteEncoder
    from interestlm.text import item_texts

    encoder = EfficientNetLiteEncoder(model_dir=Path(args.cache_dir) / "models", threads=2)
    encoder.session()
    paths = [p for p in dataset.catalog.images if p]
    t0 = time.perf_counter()
    pictures = encoder.encode_images(paths)
    encode_seconds = time.perf_counter() - t0
    image_vectors = np.zeros((len(dataset.catalog), encoder.dim), np.float32)
    image_vectors[poster] = pictures.vectors
    text_vectors = make_encoder("minilm", cache_dir=args.cache_dir, threads=1).encode(
        item_texts(dataset.catalog, reviews=None)
    )
    align = alignment(dataset, np.asarray(text_vectors), image_vectors, args.seed)
    print(json.dumps(align, indent=1), file=sys.stderr)

    base = make_split(dataset, "loo")
    held = np.random.default_rng(args.seed).choice(
        np.flatnonzero(poster), round(args.share * poster.sum()), replace=False
    )
    splits = {"loo": base, "cold": without_items(base, held)}
    inter = dataset.interactions
    results: dict[str, Any] = {
        "dataset": "ml-latest-small",
        "model": "interest",
        "posters": {
            "items_with_posters": int(poster.sum()),
            "items": len(poster),
            "unreadable": len(report.unreadable),
        },
        "encoding": {
            "images": len(paths),
            "seconds": encode_seconds,
            "images_per_second": len(paths) / encode_seconds,
            "threads": 2,
            "includes": "JPEG decoding and resizing (2 decode threads), onnxruntime EfficientNet-Lite0",
        },
        "alignment": align,
        "cold_items": {"held_out": len(held), "share_of_poster_items": args.share, "seed": args.seed},
        "protocol": "leave-one-out, full ranking over all items, training items removed; validation = the "
        "runner's LOO validation (fusion weights); test never read for any choice",
        "hardware": {
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "load": os.getloadavg(),
        },
        "runs": {},
    }
    if args.merge and Path(args.out).is_file():
        results["runs"] = json.loads(Path(args.out).read_text(encoding="utf-8"))["runs"]
    for split_name in args.splits:
        split = splits[split_name]
        test = split.test
        target_poster = np.asarray([bool(poster[t].any()) for t in test.targets])
        cold_mask = np.zeros(len(poster), dtype=bool)
        cold_mask[held] = True
        target_cold = np.asarray([bool(cold_mask[t].any()) for t in test.targets])
        for variant in args.variants:
            config = EvaluationConfig(
                split="loo",
                seed=args.seed,
                models={
                    "interest": {
                        "encoder": "minilm",
                        "encoder_threads": 1,
                        "cache_dir": args.cache_dir,
                        "concepts": {"category_kind": "genre"},
                        "image_content": VARIANTS[variant],
                        "images_in_space": "space" in variant,
                        "seed": args.seed,
                    }
                },
            )
            model, _settings, fit_seconds = fit_model(dataset, split, "interest", config)
            run: dict[str, Any] = {"variant": variant, "image_content": VARIANTS[variant], "fit_seconds": fit_seconds}
            run["all"] = metrics_of(model, test)
            run["poster_targets"] = metrics_of(model, test, np.flatnonzero(target_poster))
            run["no_poster_targets"] = metrics_of(model, test, np.flatnonzero(~target_poster))
            state = getattr(model, "state_", None)
            if state is not None:
                run["fusion_weights"] = dict(state.ranker.fusion.weights)
            if split_name == "cold":
                run["loo_cold_targets"] = metrics_of(model, test, np.flatnonzero(target_cold))
                task = cold_task(split, held, inter.item, inter.user)
                run["cold_task_full_ranking"] = metrics_of(model, task)
                run["cold_task_among_cold_items"] = metrics_of(model, task, only=held)
            results["runs"][f"{split_name}/{variant}"] = run
            print(json.dumps({f"{split_name}/{variant}": run}, indent=1), file=sys.stderr)
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
