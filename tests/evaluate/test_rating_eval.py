"""The rating task's harness: the official ml-100k split files (a tiny copy in their exact
format), the random and cold-item splits, the JSON shape, and ``interestlm evaluate --task rating``."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from interestlm.cli import main
from interestlm.core.errors import DataError
from interestlm.data import read_movielens_100k
from interestlm.data.readers.movielens import read_movielens_100k_split
from interestlm.evaluate.rating import dataset_ratings, evaluate_rating, rating_split, summarise
from interestlm.models.rating import BaselineOnly, GlobalMean
from interestlm.models.rating_fused import FusedRating
from interestlm.testing.planted import planted_topics

# u.data rows (user, item, rating, time); u1.test holds rows 1 and 4, u1.base the others.
U_DATA = [(7, 1, 3, 881250949), (8, 2, 5, 891717742), (7, 2, 1, 878887116), (9, 1, 4, 880000000), (9, 3, 2, 880000001)]
U1_TEST = [U_DATA[1], U_DATA[4]]


def _rows(rows: list[tuple[int, int, int, int]]) -> str:
    return "".join("\t".join(map(str, r)) + "\n" for r in rows)


@pytest.fixture
def ml100k(tmp_path: Path) -> Path:
    folder = tmp_path / "ml-100k"
    folder.mkdir()
    (folder / "u.genre").write_text("unknown|0\nAction|1\n\n")
    (folder / "u.item").write_text(
        "1|One (1995)|01-Jan-1995||http://x|0|1\n2|Two (1996)|01-Jan-1996||http://y|0|1\n"
        "3|Three (1997)|01-Jan-1997||http://z|1|0\n"
    )
    (folder / "u.data").write_text(_rows(U_DATA))
    # As shipped in ../shared/data: the base gzipped, and a plain test file is read the same way.
    (folder / "u1.base.gz").write_bytes(gzip.compress(_rows([r for r in U_DATA if r not in U1_TEST]).encode()))
    (folder / "u1.test").write_text(_rows(U1_TEST))
    return folder


def test_official_split_files_are_read_and_matched_to_u_data(ml100k: Path) -> None:
    base, test = read_movielens_100k_split(ml100k, "u1")
    assert test == [("8", "2"), ("9", "3")] and len(base) == 3
    ds = read_movielens_100k(ml100k)
    ratings, rows = dataset_ratings(ds)
    mask = rating_split(ds, ratings, rows, "u1", data_root=ml100k.parent)
    assert mask.sum() == 2 and sorted(ratings.rating[mask].tolist()) == [2.0, 5.0]
    with pytest.raises(ValueError, match="unknown ml-100k split"):
        read_movielens_100k_split(ml100k, "u9")
    (ml100k / "u1.test").write_text("8\t2\t9\t891717742\n")
    with pytest.raises(DataError) as info:
        read_movielens_100k_split(ml100k, "u1")
    assert (info.value.line, info.value.field) == (1, "rating")


def test_cli_rating_task_writes_rmse_and_mae(ml100k: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "rating.json"
    code = main([
        "evaluate", "--task", "rating", "--dataset", str(ml100k), "--data-root", str(ml100k.parent),
        "--split", "u1", "--model", "global-mean", "baseline", "--json", str(out),
    ])
    assert code == 0
    body = json.loads(out.read_text())
    assert body["split"] == "u1" and [r["model"] for r in body["runs"]] == ["global-mean", "baseline"]
    mean = (3 + 1 + 4) / 3
    expected = float(np.sqrt(((mean - 5) ** 2 + (mean - 2) ** 2) / 2))
    assert body["runs"][0]["metrics"]["rmse"] == pytest.approx(expected, rel=1e-5)
    assert set(body["runs"][1]["metrics"]) == {"rmse", "mae"}
    assert "RMSE" in capsys.readouterr().out
    assert main(["evaluate", "--task", "rating", "--dataset", str(ml100k), "--model", "nope"]) == 2
    assert main(["evaluate", "--dataset", str(ml100k), "--model", "pop", "--split", "u1"]) == 2


def test_random_and_cold_item_splits_on_planted_data() -> None:
    ds = planted_topics()
    ratings, rows = dataset_ratings(ds)
    random = rating_split(ds, ratings, rows, "random", seed=3)
    assert 0.1 < random.mean() < 0.3
    cold = rating_split(ds, ratings, rows, "cold-items", seed=3)
    assert not set(ratings.item[cold].tolist()) & set(ratings.item[~cold].tolist())
    features = np.random.default_rng(0).normal(size=(len(ds.catalog), 4))
    models = {"global-mean": GlobalMean, "baseline": BaselineOnly, "fused": lambda: FusedRating(n_epochs=5)}
    results = evaluate_rating(ds, "random", models=models, seed=3, features=features)
    assert [r["model"] for r in results] == list(models)
    for r in results:
        assert r["task"] == "rating" and r["n_test"] == int(random.sum())
        assert set(r["metrics"]) == {"rmse", "mae"} and "hardware" in r and "versions" in r
    table = summarise(results + results)
    assert table["baseline"]["n"] == 2 and table["baseline"]["rmse_spread"] == 0.0
    with pytest.raises(ValueError, match="official folds"):
        rating_split(ds, ratings, rows, "u1")


def test_default_models_reuse_the_stack_members() -> None:
    ds = planted_topics()
    features = np.random.default_rng(0).normal(size=(len(ds.catalog), 4))
    results = evaluate_rating(ds, "random", seed=1, features=features)
    names = [r["model"] for r in results]
    assert names == ["global-mean", "baseline", "svd", "svdpp", "knn-baseline", "autorec", "fused", "interest"]
    inside = {r["model"] for r in results if r.get("fitted_inside") == "interest"}
    assert inside == {"baseline", "svdpp", "knn-baseline", "autorec", "fused"}
    assert all(np.isfinite(r["metrics"]["rmse"]) for r in results)
