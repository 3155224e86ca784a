"""The Ray engine of fit and evaluate gives the local engine's answers (one local Ray instance).

Fit: the same item and picture vectors, the same fusion weights, the same profiles (written through
the artifacts' own profile format and compared byte for byte) and the same top-10 lists. Evaluate:
the same metrics. The sequence model trained with Ray Train (DDP over two processes) is not
bit-identical; its test metrics must fall inside the local seed-to-seed spread.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from interestlm.artifacts import save_profiles
from interestlm.config import RecommenderConfig
from interestlm.core.tables import Dataset
from interestlm.data.images import attach_images
from interestlm.engine import RayEngine
from interestlm.evaluate.runner import EvaluationConfig, run_evaluation
from interestlm.parallel import LOCAL, EncodeImages, EncodeTexts, Engine, build_profiles, encode_images, encode_texts
from interestlm.recommender import Recommender
from interestlm.testing.genres import planted_genres
from interestlm.testing.pictures import poster_folder

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def ray_engine() -> Iterator[RayEngine]:
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        # Small shards, so even the tiny fixture spreads over several shards and both workers.
        yield RayEngine(workers=2, shard_size=16)
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    data = planted_genres()
    out, _ = attach_images(data, poster_folder(data, tmp_path_factory.mktemp("posters")))
    return out


def _config() -> RecommenderConfig:
    return RecommenderConfig(encoder="minilm", image_encoder="pixels", collaborative="ease")


def test_shard_functions_give_each_item_the_same_answer_in_any_shard(
    ray_engine: RayEngine, dataset: Dataset, tmp_path: Path
) -> None:
    texts = [f"{t} {' '.join(c)}" for t, c in zip(dataset.catalog.titles, dataset.catalog.categories, strict=True)]
    local = encode_texts(LOCAL, EncodeTexts("minilm"), texts)
    remote = encode_texts(ray_engine, EncodeTexts("minilm"), texts)
    assert remote.shape == local.shape and remote.dtype == np.float32
    np.testing.assert_allclose(remote, local, atol=1e-5)
    # A broken file in the third shard: its failure is reported at its position in the whole list.
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a picture")
    sources = [p for p in dataset.catalog.images if p][:40]
    sources[37] = str(broken)
    pictures = {e.name: encode_images(e, EncodeImages("pixels"), sources) for e in (LOCAL, ray_engine)}
    np.testing.assert_array_equal(pictures["ray"].vectors, pictures["local"].vectors)
    assert pictures["ray"].ok.tolist() == pictures["local"].ok.tolist()
    assert [j for j, _ in pictures["ray"].failures] == [j for j, _ in pictures["local"].failures] == [37]


def _profile_files(engine: Engine, rec: Recommender, folder: Path) -> dict[str, bytes]:
    state = rec.state_
    profiles = build_profiles(engine, state.builder, state.user_ids, state.histories)
    save_profiles(folder, profiles)
    with np.load(folder / "profile_vectors.npz") as npz:
        arrays = {k: npz[k].tobytes() for k in sorted(npz.files)}
    return {"profiles.jsonl": (folder / "profiles.jsonl").read_bytes(), **arrays}


def test_fit_on_ray_equals_local(ray_engine: RayEngine, dataset: Dataset, tmp_path: Path) -> None:
    local = Recommender(_config()).fit(dataset)
    remote = Recommender(_config()).fit(dataset, engine=ray_engine)
    a, b = local.state_, remote.state_
    np.testing.assert_allclose(b.item_vectors, a.item_vectors, atol=1e-5)
    assert a.item_pictures is not None and b.item_pictures is not None
    np.testing.assert_array_equal(b.item_pictures.vectors, a.item_pictures.vectors)
    weights = {e: rec.fusion_.weights for e, rec in (("local", local), ("ray", remote))}
    assert weights["ray"].keys() == weights["local"].keys()
    assert all(abs(weights["ray"][s] - weights["local"][s]) < 1e-4 for s in weights["local"]), weights
    # Profiles: every user's, built on each engine, written in the artifacts' format.
    files = {e.name: _profile_files(e, local, tmp_path / e.name) for e in (LOCAL, ray_engine)}
    assert files["ray"].keys() == files["local"].keys()
    assert all(files["ray"][name] == files["local"][name] for name in files["local"]), "profiles differ"
    for user in a.user_ids:
        assert [r.item_id for r in remote.recommend(user, 10, explain=False)] == [
            r.item_id for r in local.recommend(user, 10, explain=False)
        ], user


def test_evaluate_on_ray_gives_the_local_metrics(ray_engine: RayEngine, dataset: Dataset) -> None:
    config = EvaluationConfig(
        ks=(5, 10), batch_size=16, models={"interest": {"encoder": "hashing", "collaborative": "ease"}}
    )
    local = run_evaluation(dataset, ["ease", "interest"], config)
    remote = run_evaluation(dataset, ["ease", "interest"], config, ray_engine)
    for a, b in zip(local, remote, strict=True):
        assert b["n_users"] == a["n_users"] > 16  # several shards
        assert b["metrics"] == a["metrics"], a["model"]
        assert b["slices"] == a["slices"], a["model"]
    assert local[1]["metrics"]["hr@10"] > 0.3  # planted tastes: a list that finds nothing proves nothing


def _cli(*args: str) -> None:
    run = subprocess.run([sys.executable, "-m", "interestlm.cli", *args, "-q"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]


def test_cli_fit_and_evaluate_take_the_ray_engine(tmp_path: Path) -> None:
    for engine in ("local", "ray"):
        out = tmp_path / engine
        _cli("fit", "--dataset", "ml-latest-small-sample", "--out", str(out / "artifacts"), "--engine", engine,
             "--workers", "2")  # fmt: skip
        _cli("evaluate", "--dataset", "ml-latest-small-sample", "--model", "pop", "ease", "--json",
             str(out / "eval.json"), "--engine", engine)  # fmt: skip
    vectors = {e: np.load(tmp_path / e / "artifacts" / "vectors.npy") for e in ("local", "ray")}
    np.testing.assert_allclose(vectors["ray"], vectors["local"], atol=1e-5)
    results = {e: json.loads((tmp_path / e / "eval.json").read_text()) for e in ("local", "ray")}
    for a, b in zip(results["local"], results["ray"], strict=True):
        assert b["metrics"] == a["metrics"], a["model"]
