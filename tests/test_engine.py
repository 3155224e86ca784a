"""Every user's list at once: the local engine and a local Ray instance write the same rows."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from interestlm.config import RecommenderConfig
from interestlm.engine import recommend_all_local, recommend_all_ray, shards
from interestlm.recommender import Recommender
from interestlm.testing.planted import planted_topics


@pytest.fixture(scope="module")
def fitted() -> Recommender:
    data = planted_topics(n_topics=4, items_per_topic=25, n_users=60, history_len=12, seed=3)
    return Recommender(RecommenderConfig(encoder="hashing", collaborative="ease")).fit(data)


def test_shards_cover_every_user_once_in_order() -> None:
    users = [str(i) for i in range(10)]
    assert shards(users, 4) == [users[:4], users[4:8], users[8:]]
    with pytest.raises(ValueError, match="shard size"):
        shards(users, 0)


def test_local_rows_are_each_users_list(fitted: Recommender) -> None:
    table = recommend_all_local(fitted, 5, shard_size=16)
    users = fitted.state_.user_ids
    assert table.num_rows == 5 * len(users)
    assert table.column("user_id").to_pylist() == [u for u in users for _ in range(5)]
    assert table.column("rank").to_pylist() == list(range(1, 6)) * len(users)
    first = [r.item_id for r in fitted.recommend(users[0], 5, explain=False)]
    assert table.column("item_id").to_pylist()[:5] == first


@pytest.mark.integration
def test_ray_writes_the_rows_of_the_local_engine(fitted: Recommender, tmp_path: Path) -> None:
    import ray

    artifacts = fitted.save(tmp_path / "artifacts")
    local = recommend_all_local(fitted, 10, shard_size=16)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        remote = recommend_all_ray(artifacts, fitted.state_.user_ids, 10, workers=2, shard_size=16)
    finally:
        ray.shutdown()
    for name in ("user_id", "rank", "item_id"):
        assert remote.column(name).to_pylist() == local.column(name).to_pylist(), name
    # Worker processes run BLAS on one thread: float32 sums may differ in the last bits.
    np.testing.assert_allclose(remote.column("score").to_numpy(), local.column("score").to_numpy(), rtol=1e-5)


@pytest.mark.integration
def test_cli_all_users_to_parquet_on_both_engines(fitted: Recommender, tmp_path: Path) -> None:
    artifacts = fitted.save(tmp_path / "artifacts")
    tables = {}
    for engine in ("local", "ray"):
        out = tmp_path / f"{engine}.parquet"
        done = subprocess.run(
            [sys.executable, "-m", "interestlm.cli", "recommend", "--artifacts", str(artifacts), "--all-users",
             "--out", str(out), "--engine", engine, "-q"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        tables[engine] = pq.read_table(out)
    assert tables["local"].column_names == ["user_id", "rank", "item_id", "score"]
    assert tables["ray"].column("item_id").to_pylist() == tables["local"].column("item_id").to_pylist()
    bad = subprocess.run(
        [sys.executable, "-m", "interestlm.cli", "recommend", "--artifacts", str(artifacts), "--all-users"],
        capture_output=True, text=True, check=False,
    )
    assert bad.returncode == 2 and "--all-users needs --out" in bad.stderr
