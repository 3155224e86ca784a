"""Run models on a dataset split and collect results in the documented JSON shape.

One result per model::

    {"dataset": ..., "model": ..., "split": ..., "n_users": ..., "metrics": {"hr@10": ...},
     "seconds": {"fit": ..., "evaluate": ...}, "versions": {...}, ...}

Extra keys (``config``, ``device``, ``valid_metrics``, ``slices``, ``hardware``) are additions.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import numpy as np

from interestlm import models
from interestlm.core.errors import ConfigError
from interestlm.core.metrics import beyond_accuracy, intra_list_diversity, item_user_counts, ranking_metrics
from interestlm.core.progress import step
from interestlm.core.protocol import EvalTask, Model
from interestlm.core.tables import Dataset
from interestlm.evaluate.split import Split, leave_one_out, temporal_split
from interestlm.parallel import LOCAL, Engine, rank_rows

#: Packages whose versions are recorded with every result.
_VERSIONED = ("interestlm", "numpy", "scipy", "scikit-learn", "torch", "implicit", "pandas", "pyarrow")

#: Models with randomness: they take the run's seed unless their config sets one.
_SEEDED_MODELS = ("sasrec", "seqrec", "bsarec", "als", "bpr", "interest")

#: Dataset names whose sequences are long (MovieLens): SASRec looks further back there.
_LONG_SEQUENCE_DATASETS = ("ml-", "movielens")


@dataclass(frozen=True, kw_only=True)
class EvaluationConfig:
    """What to run: split, cut-offs, seed, and per-model configuration overrides."""

    split: str = "loo"
    ks: tuple[int, ...] = (5, 10, 20)
    seed: int = 0
    batch_size: int = 512
    models: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    slices: bool = True
    progress: bool = False


    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise ConfigError(f"[evaluate] split={self.split!r}: choose one of {', '.join(SPLITS)}")
        if not self.ks or any(int(k) < 1 for k in self.ks):
            raise ConfigError(f"[evaluate] ks must be positive cut-offs, got {list(self.ks)}")
        if self.batch_size < 1:
            raise ConfigError(f"[evaluate] batch_size must be >= 1, got {self.batch_size}")


#: Split names accepted by :func:`make_split`.
SPLITS: tuple[str, ...] = ("loo", "temporal")

_EVALUATE_KEYS = {"split", "ks", "seed", "batch_size", "slices", "progress"}


def evaluation_config(raw: Mapping[str, Any], **overrides: Any) -> EvaluationConfig:
    """Build an :class:`EvaluationConfig` from a parsed TOML mapping plus explicit overrides.

    Unknown keys in ``[evaluate]`` are an error (a typo must not silently change nothing).
    """
    section = dict(raw.get("evaluate", {}))
    unknown = set(section) - _EVALUATE_KEYS
    if unknown:
        raise ConfigError(f"unknown [evaluate] keys: {sorted(unknown)}; known: {sorted(_EVALUATE_KEYS)}")
    model_tables = raw.get("models", {})
    if not isinstance(model_tables, dict) or not all(isinstance(v, dict) for v in model_tables.values()):
        raise ConfigError("[models.NAME] sections must be tables of model parameters")
    section.update({k: v for k, v in overrides.items() if v is not None})
    if "ks" in section:
        section["ks"] = tuple(int(k) for k in section["ks"])
    return EvaluationConfig(models=model_tables, **section)


def make_model(name: str, **config: Any) -> Model:
    """A new, unfitted model by name: the models of :mod:`interestlm.models`, and ``interest``
    (the product itself, :class:`~interestlm.recommender.Recommender`, configured by the
    ``[recommender]`` table's keys)."""
    if name == "interest":
        from interestlm.config import recommender_config
        from interestlm.recommender import Recommender

        return Recommender(recommender_config({"recommender": config}))
    return models.make_model(name, **config)


#: Every model name :func:`make_model` accepts.
MODEL_NAMES: tuple[str, ...] = (*models.BASELINES, "interest")


def versions() -> dict[str, str]:
    """Installed versions of the packages that shape the numbers, plus Python's."""
    out = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def hardware() -> dict[str, Any]:
    """The machine the numbers were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform()}


def default_model_config(dataset_name: str, model: str) -> dict[str, Any]:
    """Dataset-dependent defaults: the sequential models read 200 items on MovieLens, 50 elsewhere."""
    if model in ("sasrec", "seqrec", "bsarec"):
        long = any(dataset_name.lower().startswith(p) for p in _LONG_SEQUENCE_DATASETS)
        return {"max_len": 200 if long else 50}
    return {}


def make_split(dataset: Dataset, split: str) -> Split:
    """The named split of ``dataset`` ("loo" or "temporal")."""
    if split == "loo":
        return leave_one_out(dataset)
    if split == "temporal":
        return temporal_split(dataset)
    raise ConfigError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")


def _task_metrics(
    model: Model, task: EvalTask, split: Split, config: EvaluationConfig, engine: Engine = LOCAL
) -> dict[str, float]:
    # Users are ranked in shards on the engine; the metrics are computed here from all the lists.
    topk = rank_rows(engine, model, task, max(config.ks), batch_size=config.batch_size, progress=config.progress)
    out = ranking_metrics(topk, task.targets, config.ks)
    train = split.train
    popularity = item_user_counts(train.interactions.user, train.interactions.item, train.n_items)
    n_train_users = len(np.unique(train.interactions.user))
    # One item representation for every model (text-free baselines included): an item's column of
    # training interactions, so intra-list diversity is comparable across models.
    item_profiles = train.matrix().T.tocsr()
    for k in config.ks:
        extra = beyond_accuracy(topk, k, n_items=train.n_items, item_popularity=popularity, n_users=n_train_users)
        out.update({f"{name}@{k}": value for name, value in extra.items()})
        out[f"ild@{k}"] = intra_list_diversity(topk, item_profiles, k)
    return out


def evaluate_model(
    dataset: Dataset, split: Split, model_name: str, config: EvaluationConfig, engine: Engine = LOCAL
) -> dict[str, Any]:
    """Fit one model on ``split.train`` and evaluate it by full ranking on the test stage
    (``engine``: where the parallel stages run; the metrics are the same)."""
    model, model_config, fit_seconds = fit_model(dataset, split, model_name, config, engine)
    return evaluate_fitted(dataset, split, model_name, model, model_config, fit_seconds, config, engine)


def fit_model(
    dataset: Dataset, split: Split, model_name: str, config: EvaluationConfig, engine: Engine = LOCAL
) -> tuple[Model, dict[str, Any], float]:
    """The model built from its defaults and ``config``, fitted on ``split.train`` (early stopping
    on ``split.valid``) by ``engine``; with the settings it was built with and the seconds fitting took."""
    model_config = default_model_config(dataset.name, model_name)
    model_config.update(config.models.get(model_name, {}))
    if model_name in _SEEDED_MODELS:
        model_config.setdefault("seed", config.seed)
    model = make_model(model_name, **model_config)
    t0 = time.perf_counter()
    with step(f"{model_name}: fit on {split.name} train ({len(split.train.interactions):,} interactions)"):
        model = engine.fit(model, split.train, split.valid)
    return model, model_config, time.perf_counter() - t0


def evaluate_fitted(
    dataset: Dataset,
    split: Split,
    model_name: str,
    model: Model,
    model_config: dict[str, Any],
    fit_seconds: float,
    config: EvaluationConfig,
    engine: Engine = LOCAL,
) -> dict[str, Any]:
    """The result object of a model fitted by :func:`fit_model`: test metrics, slices, timing, report."""
    t1 = time.perf_counter()
    with step(f"{model_name}: rank the whole catalogue for {len(split.test):,} test users"):
        metrics = _task_metrics(model, split.test, split, config, engine)
    eval_seconds = time.perf_counter() - t1
    result: dict[str, Any] = {
        "dataset": dataset.name,
        "model": model_name,
        "split": split.name,
        "n_users": len(split.test),
        "metrics": metrics,
        "seconds": {"fit": round(fit_seconds, 3), "evaluate": round(eval_seconds, 3)},
        "versions": versions(),
        "hardware": hardware(),
        "device": str(getattr(model, "device_", "cpu")),
        "config": {k: v for k, v in model_config.items()},
        "seed": config.seed,
    }
    report = getattr(model, "report", None)
    if callable(report):
        # Models that can say more about themselves (learned fusion weights, grounding rate).
        result["model_report"] = report()
    history = getattr(model, "history_", None)
    if history:
        # Iterative models: how long training ran and where early stopping found the best.
        epoch_seconds = [float(h["seconds"]) for h in history if "seconds" in h]
        result["training"] = {
            "epochs_run": len(history),
            "best_epoch": int(getattr(model, "best_epoch_", len(history))),
            "seconds_per_epoch_median": float(np.median(epoch_seconds)) if epoch_seconds else None,
            "history": history,
        }
        stop_reason = getattr(model, "stop_reason_", None)
        if stop_reason is not None:
            # "patience" (early stopping), "epochs" (the epoch cap) or "time" (max_train_seconds).
            result["training"]["stop_reason"] = stop_reason
    if config.slices:
        slices: dict[str, dict[str, Any]] = {}
        for name, task in split.slices().items():
            if len(task) == 0:
                continue
            topk = rank_rows(engine, model, task, max(config.ks), batch_size=config.batch_size)
            slices[name] = {"n_users": len(task), "metrics": ranking_metrics(topk, task.targets, config.ks)}
        result["slices"] = slices
    return result


def run_evaluation(
    dataset: Dataset, model_names: Sequence[str], config: EvaluationConfig, engine: Engine = LOCAL
) -> list[dict[str, Any]]:
    """Evaluate several models on one split of ``dataset`` (the split is built once); ``engine``
    ranks the users in shards and trains the sequence models (``interestlm.engine.RayEngine``)."""
    with step(f"{config.split} split of {dataset.name}"):
        split = make_split(dataset, config.split)
    return [evaluate_model(dataset, split, name, config, engine) for name in model_names]
