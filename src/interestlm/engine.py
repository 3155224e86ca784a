"""Recommendations for every user at once, on this machine or on a Ray cluster.

The users are cut into fixed shards (``shard_size`` users, in the fitted order); each shard is
ranked by the one ranker in one batch, so both engines compute exactly the same lists:
``local`` loops over the shards in this process; ``ray`` maps them over Ray Data actors, each of
which loads the saved artifacts once (loading refits nothing and memory-maps the large arrays,
so the workers of one machine share them through the page cache). The result is one row per user
and rank: ``user_id, rank, item_id, score`` (ranks from 1), users in the fitted order.

:class:`RayEngine` is the Ray side of the pipeline's engine hook (``interestlm.parallel.Engine``):
``map_shards`` maps a stage's shard function over Ray Data actors (fit: texts and pictures encoded,
profiles built; evaluation: users ranked), ``fit`` trains a sequence model with Ray Train
(``TorchTrainer``, DDP on ``workers`` processes) and a Recommender with every stage on Ray.
"""

from __future__ import annotations

import logging
import pickle
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import numpy as np

from interestlm.core.progress import bar, step
from interestlm.core.protocol import EvalTask, TrainData

if TYPE_CHECKING:
    import pyarrow as pa

    from interestlm.models.transformer import SequentialModel
    from interestlm.recommender import Recommender

T = TypeVar("T")
R = TypeVar("R")
M = TypeVar("M")
S = TypeVar("S", bound="SequentialModel[Any]")

Engine = Literal["local", "ray"]
ENGINES: tuple[str, ...] = ("local", "ray")
#: Users ranked together in one batch (the same in both engines, so their lists are identical).
SHARD_SIZE = 256


def shards(items: Sequence[T], size: int = SHARD_SIZE) -> list[list[T]]:
    """``items`` (users, texts...) cut into consecutive lists of ``size`` (the last may be shorter)."""
    if size < 1:
        raise ValueError(f"shard size must be >= 1, got {size}")
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def recommend_shard(rec: Recommender, user_ids: Sequence[str], k: int) -> dict[str, np.ndarray]:
    """Columns ``user_id, rank, item_id, score`` of the top-``k`` lists of ``user_ids`` (one batch)."""
    lists = rec.recommend_many([rec.profile(u) for u in user_ids], k, explain=False)
    users = [u for u, recs in zip(user_ids, lists, strict=True) for _ in recs]
    return {
        "user_id": np.asarray(users, dtype=object),
        "rank": np.asarray([r for recs in lists for r in range(1, len(recs) + 1)], dtype=np.int32),
        "item_id": np.asarray([x.item_id for recs in lists for x in recs], dtype=object),
        "score": np.asarray([x.score for recs in lists for x in recs], dtype=np.float64),
    }


def _table(parts: Sequence[dict[str, Any]]) -> pa.Table:
    import pyarrow as pa

    columns = {
        "user_id": pa.array([u for p in parts for u in p["user_id"].tolist()], pa.string()),
        "rank": pa.array(np.concatenate([p["rank"] for p in parts]) if parts else [], pa.int32()),
        "item_id": pa.array([i for p in parts for i in p["item_id"].tolist()], pa.string()),
        "score": pa.array(np.concatenate([p["score"] for p in parts]) if parts else [], pa.float64()),
    }
    return pa.table(columns)


def recommend_all_local(rec: Recommender, k: int, *, shard_size: int = SHARD_SIZE) -> pa.Table:
    """Every known user's top-``k`` in this process."""
    users = shards(list(rec.state_.user_ids), shard_size)
    with step(f"recommend top-{k} for {len(rec.state_.user_ids):,} users (local, {len(users)} shards)"):
        parts = [recommend_shard(rec, s, k) for s in bar(users, desc="recommend", unit="shard")]
    return _table(parts)


class _ShardWorker:
    """A Ray Data actor: loads the artifacts once, then ranks one shard per call."""

    def __init__(self, artifacts: str, k: int) -> None:
        from interestlm.recommender import Recommender

        self.rec = Recommender.load(artifacts)
        self.k = k

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out: dict[str, list[np.ndarray]] = {"shard": [], "user_id": [], "rank": [], "item_id": [], "score": []}
        for shard, users in zip(batch["shard"].tolist(), batch["users"], strict=True):
            part = recommend_shard(self.rec, [str(u) for u in users], self.k)
            out["shard"].append(np.full(len(part["rank"]), shard, dtype=np.int64))
            for name, column in part.items():
                out[name].append(column)
        return {name: np.concatenate(parts) for name, parts in out.items()}


def recommend_all_ray(
    artifacts: Path | str,
    user_ids: Sequence[str],
    k: int,
    *,
    address: str | None = None,
    workers: int = 2,
    shard_size: int = SHARD_SIZE,
) -> pa.Table:
    """Every user's top-``k`` on Ray: a local Ray instance (``workers`` CPUs) or the cluster at
    ``address``; each of ``workers`` actors loads ``artifacts`` and ranks whole shards."""
    import pyarrow as pa

    ray = _ray()
    started_here = _start_ray(address, workers)
    try:
        user_shards = shards(list(user_ids), shard_size)
        with step(f"recommend top-{k} for {len(user_ids):,} users (ray, {workers} workers, {len(user_shards)} shards)"):
            items = [{"shard": i, "users": np.asarray(s, dtype=object)} for i, s in enumerate(user_shards)]
            ds = ray.data.from_items(items, override_num_blocks=max(1, len(items)))
            ranked = ds.map_batches(
                _ShardWorker,
                fn_constructor_args=(str(artifacts), k),
                batch_size=1,
                batch_format="numpy",
                compute=ray.data.ActorPoolStrategy(size=workers),
                num_cpus=1,
            )
            table = pa.concat_tables(ray.get(ranked.to_arrow_refs()))
        # Ray Data does not keep the shards' order: put them back (stable within a shard).
        order = np.argsort(table.column("shard").to_numpy(), kind="stable")
        return table.take(pa.array(order)).drop_columns(["shard"])
    finally:
        if started_here:
            ray.shutdown()


def write_parquet(table: pa.Table, path: Path | str) -> Path:
    """Write ``table`` as one Parquet file (parent folders created)."""
    import pyarrow.parquet as pq

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, out)
    return out


# ---------------------------------------------------------------------- the Ray engine of the pipeline


def _ray() -> Any:
    """The ``ray`` module, quiet (an ``ImportError`` saying how to install it when absent)."""
    try:
        import ray
    except ImportError:
        raise ImportError("--engine ray needs Ray: pip install -e '.[ray]'") from None
    # Ray Data reports every second at INFO; interestlm's own step lines say what runs.
    logging.getLogger("ray").setLevel(logging.WARNING)
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    logging.getLogger("ray.train").setLevel(logging.WARNING)
    ray.data.DataContext.get_current().enable_progress_bars = False
    return ray


def _start_ray(address: str | None, workers: int) -> bool:
    """Connect to the cluster at ``address``, or start a local Ray instance of ``workers`` CPUs,
    unless Ray is running in this process already; True when started here (stop it after)."""
    ray = _ray()
    if ray.is_initialized():
        return False
    if address:
        ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
    else:
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    return True


class _MapWorker:
    """A Ray Data actor: takes the shard function once, then runs it on one shard per row.

    Shards travel as pickled bytes (Arrow binary columns), so any Python payload (histories,
    profiles, picture results) crosses unchanged; pickle is the transport here, never storage.
    """

    def __init__(self, fn: Any) -> None:
        self.fn = fn

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        results = [pickle.dumps(self.fn(pickle.loads(blob)), protocol=5) for blob in batch["payload"]]
        return {"shard": batch["shard"], "result": np.asarray(results, dtype=object)}


class RayEngine:
    """The pipeline's engine on Ray (see ``interestlm.parallel.Engine``): a local Ray instance of
    ``workers`` CPUs, or the cluster at ``address``; each Ray Data actor and each Ray Train worker
    takes one CPU (``use_gpu``: a GPU per training worker). ``shard_size`` overrides the stages'
    shard sizes (``interestlm.parallel``); the answers do not depend on it.

    Use it as a context manager (Ray is stopped on exit when it was started here), or call
    :meth:`close`. Workers read the catalogue's picture files and the vector cache folder by path:
    on a cluster of several machines those must be on a shared file system.
    """

    name = "ray"

    def __init__(
        self, *, address: str | None = None, workers: int = 2, use_gpu: bool = False, shard_size: int | None = None
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        if shard_size is not None and shard_size < 1:
            raise ValueError(f"shard_size must be >= 1, got {shard_size}")
        self.shard_size = shard_size
        self.address = address
        self.workers = workers
        self.use_gpu = use_gpu
        self._started = False

    def __enter__(self) -> RayEngine:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def start(self) -> None:
        """Start (or join) Ray now rather than at the first stage."""
        self._started = _start_ray(self.address, self.workers) or self._started

    def close(self) -> None:
        """Stop Ray if this engine started it."""
        if self._started:
            _ray().shutdown()
            self._started = False

    def map_shards(self, fn: Callable[[list[T]], R], items: Sequence[T], *, shard_size: int) -> list[R]:
        """``fn`` over shards of ``shard_size`` items on Ray Data actors (one result per shard, in
        order). ``fn`` is sent once to each actor."""
        parts = shards(list(items), self.shard_size or shard_size)
        if not parts:
            return [fn([])]
        self.start()
        ray = _ray()
        rows = [{"shard": i, "payload": pickle.dumps(part, protocol=5)} for i, part in enumerate(parts)]
        mapped = ray.data.from_items(rows, override_num_blocks=len(rows)).map_batches(
            _MapWorker,
            fn_constructor_args=(fn,),
            batch_size=1,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=min(self.workers, len(rows))),
            num_cpus=1,
        )
        results: dict[int, R] = {}
        for batch in mapped.iter_batches(batch_size=None, batch_format="numpy"):
            for shard, blob in zip(batch["shard"].tolist(), batch["result"], strict=True):
                results[int(shard)] = pickle.loads(blob)
        return [results[i] for i in range(len(parts))]

    def fit(self, model: M, train: TrainData, valid: EvalTask | None) -> M:
        """A sequence model trained with Ray Train (DDP on ``workers`` processes); a Recommender
        fitted with every parallel stage on Ray; any other model fitted here."""
        from interestlm.models.transformer import SequentialModel
        from interestlm.recommender import Recommender

        if isinstance(model, Recommender):
            return model.fit(train, valid=valid, engine=self)
        if isinstance(model, SequentialModel):
            self.start()
            return train_sequential(model, train, valid, workers=self.workers, use_gpu=self.use_gpu)
        fitted: M = model.fit(train, valid=valid)  # type: ignore[attr-defined]
        return fitted


def _train_worker(config: dict[str, Any]) -> None:
    """One Ray Train worker: fit its replica on its share of every batch; rank 0 saves the result."""
    import ray.train

    from interestlm.models.parallel import DataParallel

    ray = _ray()
    context = ray.train.get_context()
    model = ray.get(config["model"])
    # One CPU per worker: more threads would only contend with the other replicas.
    model.config = replace(model.config, num_threads=config["threads"])
    model.parallel = DataParallel(rank=context.get_world_rank(), world=context.get_world_size())
    model.fit(ray.get(config["train"]), valid=ray.get(config["valid"]))
    model.parallel = None
    metrics = {"epochs": len(model.history_), "best_epoch": model.best_epoch_}
    if context.get_world_rank() == 0:
        with tempfile.TemporaryDirectory(prefix="interestlm-seq-") as directory:
            model.save(directory)
            ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(directory))
    else:
        ray.train.report(metrics)


def train_sequential(
    model: S, train: TrainData, valid: EvalTask | None, *, workers: int = 2, use_gpu: bool = False
) -> S:
    """``model`` trained by Ray Train's ``TorchTrainer`` on ``workers`` processes (DDP: each trains
    on its share of every batch, gradients averaged; early stopping on ``valid`` as in ``fit``).

    Returns a new model read from the saved result (``model`` itself is left unfitted) with
    ``model``'s config. Not bit-identical to a local fit (the batches are split), but within the
    seed-to-seed spread (``tests/test_engine_fit.py``). Ray Train keeps the result in a temporary
    folder of this machine: on a cluster of several machines that must be shared storage.
    """
    ray = _ray()
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    with tempfile.TemporaryDirectory(prefix="interestlm-train-") as storage:
        trainer = TorchTrainer(
            _train_worker,
            train_loop_config={
                "model": ray.put(model),
                "train": ray.put(train),
                "valid": ray.put(valid),
                "threads": 1,
            },
            scaling_config=ScalingConfig(num_workers=workers, use_gpu=use_gpu),
            run_config=RunConfig(storage_path=storage, name="sequence-model"),
        )
        with step(f"train {type(model).__name__} with Ray Train ({workers} workers, DDP)"):
            result = trainer.fit()
        if result.checkpoint is None:
            raise RuntimeError(f"Ray Train returned no model ({result.error})")
        with result.checkpoint.as_directory() as directory:
            trained = type(model).load(directory)
    trained.config = model.config
    return trained
