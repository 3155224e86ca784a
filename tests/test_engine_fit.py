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
from interestlm.config import RecommenderConfig, load_config, recommender_config
from interestlm.core.tables import Dataset
from interestlm.data.images import attach_images
from interestlm.data.registry import SAMPLE_DIR, load_dataset
from interestlm.engine import RayEngine
from interestlm.evaluate.runner import EvaluationConfig, run_evaluation
from interestlm.evaluate.split import leave_one_out
from interestlm.models.ranking import evaluate_task
from interestlm.models.seqrec import SeqRec, SeqRecConfig
from interestlm.parallel import LOCAL, EncodeImages, EncodeTexts, Engine, build_profiles, encode_images, encode_texts
from interestlm.recommender import Recommender
from interestlm.testing.genres import planted_genres
from interestlm.testing.pictures import poster_folder
from interestlm.testing.planted import planted_topics

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
    # The interest model: fitted with its stages on Ray, then ranked in shards by Ray workers.
    config = EvaluationConfig(
        ks=(5, 10), batch_size=16, slices=False, models={"interest": {"encoder": "hashing", "collaborative": "ease"}}
    )
    (local,) = run_evaluation(dataset, ["interest"], config)
    (remote,) = run_evaluation(dataset, ["interest"], config, ray_engine)
    assert remote["n_users"] == local["n_users"] > 16  # several shards
    assert remote["metrics"] == local["metrics"]
    assert remote["model_report"]["fusion_weights"] == local["model_report"]["fusion_weights"]
    assert local["metrics"]["hr@10"] > 0.3  # planted tastes: a list that finds nothing proves nothing


#: A small, fast sequence model (as tests/models/test_seqrec.py trains it).
FAST_SEQREC = SeqRecConfig(
    encoder="hashing", max_len=12, hidden=32, n_layers=1, n_heads=2, dropout=0.1, lr=5e-3,
    batch_size=16, epochs=20, num_threads=1,
)  # fmt: skip


def test_seqrec_trained_with_ray_train_scores_within_the_local_seed_spread(ray_engine: RayEngine) -> None:
    data = planted_topics(n_topics=4, items_per_topic=20, n_users=120, history_len=10, seed=3)
    split = leave_one_out(data)
    local = [
        evaluate_task(SeqRec(FAST_SEQREC, seed=seed).fit(split.train, valid=split.valid), split.test, ks=(10,))
        for seed in range(4)
    ]
    model = SeqRec(FAST_SEQREC, seed=0)
    trained = ray_engine.fit(model, split.train, split.valid)
    assert isinstance(trained, SeqRec) and trained is not model and trained.config == model.config
    assert 1 <= trained.best_epoch_ <= len(trained.history_) <= FAST_SEQREC.epochs
    remote = evaluate_task(trained, split.test, ks=(10,))
    for metric in ("hr@10", "ndcg@10"):
        seeds = np.array([m[metric] for m in local])
        # DDP splits every batch over the two workers: not the local run, one more draw of the same
        # training (mean +- 3 standard deviations of the local seeds; chance hr@10 is ~0.13 here).
        band = (seeds.mean() - 3 * seeds.std(ddof=1), seeds.mean() + 3 * seeds.std(ddof=1))
        assert band[0] <= remote[metric] <= band[1], (metric, remote[metric], seeds.tolist())
    assert remote["hr@10"] > 0.5


def _cli(*args: str) -> str:
    run = subprocess.run([sys.executable, "-m", "interestlm.cli", *args], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout


def _mini_movielens(folder: Path, n_ratings: int = 3000) -> Path:
    """The shipped sample's first ``n_ratings`` ratings and the films they rate (a fast CLI fit)."""
    folder.mkdir(parents=True)
    ratings = (SAMPLE_DIR / "ratings.csv").read_text().splitlines()[: n_ratings + 1]
    (folder / "ratings.csv").write_text("\n".join(ratings) + "\n")
    rated = {line.split(",")[1] for line in ratings[1:]}
    movies = (SAMPLE_DIR / "movies.csv").read_text().splitlines()
    kept = [movies[0], *(m for m in movies[1:] if m.split(",")[0] in rated)]
    (folder / "movies.csv").write_text("\n".join(kept) + "\n")
    return folder


def test_cli_fit_and_evaluate_take_the_ray_engine(tmp_path: Path) -> None:
    data = _mini_movielens(tmp_path / "mini")
    config = tmp_path / "c.toml"
    config.write_text('[recommender]\nencoder = "hashing"\ncollaborative = "itemknn"\nrating_model = false\n')
    printed = _cli("fit", "--dataset", str(data), "--config", str(config), "--out", str(tmp_path / "artifacts"),
                   "--engine", "ray", "--workers", "2")  # fmt: skip
    _cli("evaluate", "--dataset", str(data), "--model", "pop", "--json", str(tmp_path / "eval.json"), "--engine", "ray")
    # The local engine, in this process, on the same files and settings.
    dataset = load_dataset(str(data))
    local = Recommender(recommender_config(load_config(config))).fit(dataset)
    assert local.fusion_.table() in printed
    np.testing.assert_array_equal(np.load(tmp_path / "artifacts" / "vectors.npy"), local.state_.item_vectors)
    (expected,) = run_evaluation(dataset, ["pop"], EvaluationConfig())
    result = json.loads((tmp_path / "eval.json").read_text())
    assert result["metrics"] == expected["metrics"] and result["n_users"] == expected["n_users"] > 10
