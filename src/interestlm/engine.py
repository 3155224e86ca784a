"""Recommendations for every user at once, on this machine or on a Ray cluster.

The users are cut into fixed shards (``shard_size`` users, in the fitted order); each shard is
ranked by the one ranker in one batch, so both engines compute exactly the same lists:
``local`` loops over the shards in this process; ``ray`` maps them over Ray Data actors, each of
which loads the saved artifacts once (loading refits nothing and memory-maps the large arrays,
so the workers of one machine share them through the page cache). The result is one row per user
and rank: ``user_id, rank, item_id, score`` (ranks from 1), users in the fitted order.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from interestlm.core.progress import bar, step

if TYPE_CHECKING:
    import pyarrow as pa

    from interestlm.recommender import Recommender

Engine = Literal["local", "ray"]
ENGINES: tuple[str, ...] = ("local", "ray")
#: Users ranked together in one batch (the same in both engines, so their lists are identical).
SHARD_SIZE = 256


def shards(user_ids: Sequence[str], size: int = SHARD_SIZE) -> list[list[str]]:
    """``user_ids`` cut into consecutive lists of ``size`` (the last may be shorter)."""
    if size < 1:
        raise ValueError(f"shard size must be >= 1, got {size}")
    return [list(user_ids[i : i + size]) for i in range(0, len(user_ids), size)]


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
    try:
        import ray
    except ImportError:
        raise ImportError("--engine ray needs Ray: pip install -e '.[ray]'") from None
    import pyarrow as pa

    # Ray Data reports every second at INFO; interestlm's own step lines say what runs.
    logging.getLogger("ray").setLevel(logging.WARNING)
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    ray.data.DataContext.get_current().enable_progress_bars = False
    started_here = not ray.is_initialized()
    if started_here:
        if address:
            ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
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
                concurrency=workers,
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
