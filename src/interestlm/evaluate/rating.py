"""The rating task: predict held-out ratings, score RMSE and MAE.

Splits: the official MovieLens-100K folds (``u1`` … ``u5``, ``ua``, ``ub``: their ``.base`` /
``.test`` files say which ``u.data`` rows train and which test), a random 80/20 split of the
rated rows (``random``, by ``seed``) elsewhere, and ``cold-items``: a random tenth of the rated
items is held out whole, so every test rating is of an item with no training rating.

Models: the classic baselines of :mod:`interestlm.models.rating`, ``fused``
(:class:`~interestlm.models.rating_fused.FusedRating`), ``autorec`` and ``interest`` (the ridge
stack of :func:`~interestlm.models.rating_stack.interest_stack`: what ``Recommender.predict``
serves, fitted the same way). Content features come from
the item text (with training reviews where the dataset has them) encoded by the configured
encoder, plus the items' categories. One result per model, in the runner's JSON shape with
``metrics: {"rmse", "mae"}``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from interestlm.core.metrics import mae, rmse
from interestlm.core.tables import Dataset
from interestlm.data.readers.movielens import ML100K_SPLITS, read_movielens_100k_split
from interestlm.data.registry import DATASETS, default_data_root
from interestlm.encode import make_encoder
from interestlm.evaluate.runner import hardware, versions
from interestlm.models.rating import (
    SVD,
    BaselineOnly,
    GlobalMean,
    KNNBaseline,
    Ratings,
    SVDpp,
    ratings_from_interactions,
)
from interestlm.models.rating_autorec import AutoRec
from interestlm.models.rating_fused import FusedRating, RatingBlend, item_features
from interestlm.models.rating_stack import interest_stack
from interestlm.text.templates import item_texts, review_snippets

#: Split names :func:`rating_split` accepts.
RATING_SPLITS: tuple[str, ...] = (*ML100K_SPLITS, "random", "cold-items")

Factory = Callable[[], Any]


#: Standalone model name -> its name inside :func:`interest_stack` (same settings and seed).
STACK_MEMBERS = {"svdpp": "svdpp", "knn-baseline": "knn_item", "baseline": "baseline", "autorec": "autorec",
                 "fused": "fused"}  # fmt: skip


def rating_models(seed: int = 0) -> dict[str, Factory]:
    """Every model of the rating table, by name: the baselines at Surprise's defaults, then ours."""
    return {
        "global-mean": GlobalMean,
        "baseline": BaselineOnly,
        "svd": lambda: SVD(seed=seed),
        "svdpp": lambda: SVDpp(seed=seed),
        "knn-baseline": lambda: KNNBaseline(sim="pearson_baseline", user_based=None),
        "autorec": lambda: AutoRec(seed=seed),
        "fused": lambda: FusedRating(seed=seed),
        "interest": lambda: interest_stack(seed),
    }


def ablation_models(seed: int = 0) -> dict[str, Factory]:
    """FusedRating with one input added at a time: which inputs move RMSE."""
    return {
        "biases": BaselineOnly,
        "biases+factors": lambda: FusedRating(seed=seed, use_content=False, use_implicit=False),
        "+implicit": lambda: FusedRating(seed=seed, use_content=False),
        "+text/categories": lambda: FusedRating(seed=seed, use_taste=False),
        "+profile taste": lambda: FusedRating(seed=seed),
        "+blend": lambda: interest_stack(seed),
    }


def dataset_ratings(dataset: Dataset) -> tuple[Ratings, npt.NDArray[np.int64]]:
    """The rated rows of ``dataset`` (:func:`~interestlm.models.rating.ratings_from_interactions`)."""
    return ratings_from_interactions(dataset.interactions, len(dataset.catalog))


def rating_split(
    dataset: Dataset, ratings: Ratings, rows: npt.NDArray[np.int64], split: str, *, seed: int = 0,
    data_root: Path | None = None, test_fraction: float = 0.2, cold_fraction: float = 0.1,
) -> npt.NDArray[np.bool_]:
    """A test mask over ``ratings`` for the named split (see the module docstring)."""
    if split in ML100K_SPLITS:
        if dataset.name != "ml-100k":
            raise ValueError(f"split {split!r} is one of ml-100k's official folds; dataset is {dataset.name!r}")
        root = data_root if data_root is not None else default_data_root()
        _, test_pairs = read_movielens_100k_split(root / DATASETS["ml-100k"].location, split)
        users = {u: k for k, u in enumerate(dataset.interactions.user_ids.tolist())}
        items = dataset.catalog.index_of()
        n_items = len(dataset.catalog)
        wanted = {users[u] * n_items + items[i] for u, i in test_pairs}
        keys = ratings.user.astype(np.int64) * n_items + ratings.item
        mask = np.fromiter((int(k) in wanted for k in keys), dtype=bool, count=len(keys))
        if int(mask.sum()) != len(test_pairs):
            raise ValueError(f"{split}.test has {len(test_pairs)} pairs, {int(mask.sum())} found in u.data")
        return mask
    rng = np.random.default_rng(seed)
    if split == "random":
        return rng.random(len(ratings)) < test_fraction
    if split == "cold-items":
        rated = np.unique(ratings.item)
        held = rng.choice(rated, size=max(1, round(cold_fraction * len(rated))), replace=False)
        return np.isin(ratings.item, held)
    raise ValueError(f"unknown rating split {split!r}: choose one of {', '.join(RATING_SPLITS)}")


def content_features(
    dataset: Dataset, train_rows: npt.NDArray[np.int64], *, encoder: str = "minilm",
    cache_dir: Path | None = None, threads: int | None = 1,
) -> npt.NDArray[np.float64]:
    """The items' content features: encoded item text (training reviews only) and categories."""
    reviews = review_snippets(dataset.interactions.select(train_rows), len(dataset.catalog))
    texts = item_texts(dataset.catalog, reviews=reviews)
    vectors = make_encoder(encoder, cache_dir=cache_dir, threads=threads).encode(texts)
    return item_features(vectors, dataset.catalog.categories)


def evaluate_rating(
    dataset: Dataset,
    split: str,
    *,
    models: Mapping[str, Factory] | None = None,
    seed: int = 0,
    data_root: Path | None = None,
    encoder: str = "minilm",
    cache_dir: Path | None = None,
    features: npt.NDArray[np.float64] | None = None,
    reuse_stack: bool = False,
) -> list[dict[str, Any]]:
    """Fit each model on the split's training ratings and score its test ratings.

    With the default models (or ``reuse_stack`` when ``models`` are taken from
    :func:`rating_models` of the same seed), the standalone rows of the stack's members reuse
    the members the stack refitted on all the training ratings (marked ``fitted_inside``).
    """
    ratings, rows = dataset_ratings(dataset)
    test = rating_split(dataset, ratings, rows, split, seed=seed, data_root=data_root)
    train_part, test_part = ratings.take(~test), ratings.take(test)
    chosen = dict(models if models is not None else rating_models(seed))
    results = []
    fitted_models: dict[str, tuple[Any, float]] = {}
    # The stack is fitted first: its members, refitted on all the training ratings, are exactly the
    # standalone models of the same names (same settings and seed), so they are not fitted twice.
    order = sorted(chosen, key=lambda name: name != "interest")
    for name in order:
        start = time.perf_counter()
        model = chosen[name]()
        reused = name in fitted_models
        if reused:
            model, fit_seconds = fitted_models[name]
        elif isinstance(model, FusedRating | RatingBlend):
            if features is None:  # encoded once, and only when a model reads content
                features = content_features(dataset, rows[~test], encoder=encoder, cache_dir=cache_dir)
            model.fit(train_part, features=features)
        else:
            model.fit(train_part)
        if name == "interest" and isinstance(model, RatingBlend) and (models is None or reuse_stack):
            elapsed = time.perf_counter() - start
            for member, alias in STACK_MEMBERS.items():
                if member in chosen and alias in model.models_:  # a member may be left out
                    fitted_models[member] = (model.models_[alias], elapsed)
        fitted = time.perf_counter()
        fit_time = fit_seconds if reused else fitted - start
        pred = model.predict(test_part.user, test_part.item)
        done = time.perf_counter()
        results.append({
            "dataset": dataset.name,
            "model": name,
            "split": split,
            "task": "rating",
            "seed": seed,
            "n_train": len(train_part),
            "n_test": len(test_part),
            "metrics": {"rmse": rmse(pred, test_part.rating), "mae": mae(pred, test_part.rating)},
            "seconds": {"fit": round(fit_time, 3), "evaluate": round(done - fitted, 3)},
            "versions": versions(),
            "hardware": hardware(),
            **({"fitted_inside": "interest"} if reused else {}),
        })
    return sorted(results, key=lambda r: list(chosen).index(r["model"]))


def summarise(results: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """Per model: mean, spread (max − min) and count of RMSE and MAE over the results given."""
    out: dict[str, dict[str, float]] = {}
    for name in dict.fromkeys(r["model"] for r in results):
        rows = [r for r in results if r["model"] == name]
        entry: dict[str, float] = {"n": float(len(rows))}
        for metric in ("rmse", "mae"):
            values = np.array([r["metrics"][metric] for r in rows])
            entry[metric] = float(values.mean())
            entry[f"{metric}_spread"] = float(values.max() - values.min())
        out[name] = entry
    return out
