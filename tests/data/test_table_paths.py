"""Your own files: CSV / TSV / Parquet paths with guessed or named columns (library and command
line), a MovieLens folder holding only ratings.csv, and where the named datasets are looked for."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from interestlm import from_pandas
from interestlm.config import RecommenderConfig
from interestlm.core.errors import BadInputError
from interestlm.data import load_dataset, load_path
from interestlm.data.registry import CHECKOUT_DATA, DATA_ENV, SAMPLE_DIR, default_data_root
from interestlm.recommender import Recommender

SRC = Path(__file__).resolve().parents[2] / "src"
LOG = pd.DataFrame(
    {
        "user_id": ["a", "a", "b", "b"],
        "item_id": ["x", "y", "x", "z"],
        "rating": [4.0, 2.0, 5.0, 3.0],
        "timestamp": [10, 20, 30, 40],
    }
)


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The command line as a user runs it, from ``cwd`` (this checkout's package first on the path)."""
    full = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "interestlm.cli", *args], capture_output=True, text=True, cwd=cwd, env=full, check=False
    )


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".parquet"])
def test_table_paths_with_guessed_columns(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"log{suffix}"
    if suffix == ".parquet":
        LOG.to_parquet(path)
    else:
        LOG.to_csv(path, sep="\t" if suffix == ".tsv" else ",", index=False)
    ds = load_dataset(str(path))
    assert ds.name == "log" and (ds.n_users, ds.n_items, len(ds.interactions)) == (2, 3, 4)
    assert ds.report.columns == {"user": "user_id", "item": "item_id", "time": "timestamp", "rating": "rating"}
    assert ds.interactions.timestamp.tolist() == [10, 20, 30, 40]


def test_named_columns_an_item_table_and_a_folder_holding_one_table(tmp_path: Path) -> None:
    own = LOG.rename(columns={"user_id": "who", "item_id": "sku", "timestamp": "at", "rating": "stars"})
    own.to_csv(tmp_path / "log.csv", index=False)
    (tmp_path / "meta").mkdir()
    pd.DataFrame({"sku": ["x", "y"], "title": ["Lamp", "Chair"], "genres": ["Home|Light", "Home"]}).to_csv(
        tmp_path / "meta" / "items.csv", index=False
    )
    unguessable = re.escape("its columns are who, sku, stars, at. Name them: --user-col")
    with pytest.raises(BadInputError, match=unguessable) as info:
        load_dataset(str(tmp_path / "log.csv"))
    assert "columns=" in str(info.value)
    ds = load_dataset(
        str(tmp_path), columns={"user": "who", "item": "sku", "time": "at", "rating": "stars"},
        items=tmp_path / "meta" / "items.csv",
    )
    assert ds.catalog.titles == ["Lamp", "Chair", ""]
    assert ds.catalog.categories == [("Home", "Light"), ("Home",), ()]
    assert ds.interactions.rating.tolist() == [4.0, 2.0, 5.0, 3.0]
    (tmp_path / "other.parquet").write_bytes(b"")
    with pytest.raises(ValueError, match=re.escape("several tables (log.csv, other.parquet)")):
        load_path(tmp_path)
    with pytest.raises(BadInputError, match="named dataset"):
        load_dataset("ml-latest-small-sample", columns={"user": "who"})


def _ratings_only(folder: Path, n_users: int = 30, per_user: int = 12) -> Path:
    """A MovieLens folder with only ratings.csv: a few hundred rows of the shipped sample."""
    ratings = pd.read_csv(SAMPLE_DIR / "ratings.csv")
    keep = ratings[ratings.userId.isin(ratings.userId.unique()[:n_users])].groupby("userId").head(per_user)
    folder.mkdir()
    keep.to_csv(folder / "ratings.csv", index=False)
    return folder


def test_a_movielens_folder_with_only_ratings_fits_and_recommends(tmp_path: Path) -> None:
    folder = _ratings_only(tmp_path / "ml-ratings")
    ds = load_dataset(str(folder))
    assert (ds.n_users, len(ds.interactions)) == (30, 360)
    assert set(ds.catalog.titles) == {""} and all(c == () for c in ds.catalog.categories)
    assert ds.report.notes == {"items without titles or genres (no movies.csv)": ds.n_items}
    assert load_dataset(str(folder / "ratings.csv")).n_items == ds.n_items
    rec = Recommender(RecommenderConfig(encoder="hashing", collaborative="itemknn")).fit(ds)
    user = str(ds.interactions.user_ids[0])
    recs = rec.recommend(user, 5)
    seen = {str(ds.catalog.item_ids[i]) for i in ds.interactions.item[ds.interactions.user == 0]}
    assert len(recs) == 5 and not {r.item_id for r in recs} & seen
    assert all(r.explanation is not None and r.explanation.text for r in recs)
    assert rec.state_.item_concepts.n_concepts == 0  # no text, no concepts: the pipeline copes
    assert len(rec.recommendations_frame([user], k=5)) == 5


def test_default_data_root_comes_from_the_environment_or_the_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(DATA_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    assert default_data_root() == CHECKOUT_DATA == SRC.parent.parent / "shared" / "data"
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "mine"))
    assert default_data_root() == tmp_path / "mine"
    with pytest.raises(FileNotFoundError) as info:
        load_dataset("ml-latest-small")
    message = str(info.value)
    assert str(tmp_path / "mine" / "ml-latest-small") in message
    assert "--data-root" in message and DATA_ENV in message


def test_the_command_line_from_another_directory(tmp_path: Path) -> None:
    root = tmp_path / "datasets"
    root.mkdir()
    _ratings_only(root / "ml-latest-small", n_users=5, per_user=4)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # A named dataset through INTERESTLM_DATA, started far from the project.
    found = run_cli("describe", "ml-latest-small", cwd=elsewhere, env={DATA_ENV: str(root)})
    assert found.returncode == 0, found.stderr
    assert "20" in found.stdout
    missing = run_cli("describe", "ml-latest-small", cwd=elsewhere, env={DATA_ENV: str(elsewhere)})
    assert missing.returncode == 2
    assert str(elsewhere / "ml-latest-small") in missing.stderr and "--data-root" in missing.stderr
    # A relative --data-root is the user's own path: resolved against where they are.
    relative = run_cli("describe", "ml-latest-small", "--data-root", "../datasets", cwd=elsewhere)
    assert relative.returncode == 0, relative.stderr

    own = LOG.rename(columns={"user_id": "customer_ref", "item_id": "sku"})
    own.to_csv(elsewhere / "log.csv", index=False)
    unguessed = run_cli("describe", "log.csv", cwd=elsewhere)
    assert unguessed.returncode == 2
    assert "customer_ref, sku, rating, timestamp" in unguessed.stderr and "--user-col" in unguessed.stderr
    (elsewhere / "fast.toml").write_text('[recommender]\nencoder = "hashing"\ncollaborative = "itemknn"\n')
    flags = ["--dataset", "log.csv", "--user-col", "customer_ref", "--item-col", "sku", "--config", "fast.toml"]
    recommended = run_cli("recommend", *flags, "--user", "a", "-k", "2", "--json", "recs.json", cwd=elsewhere)
    assert recommended.returncode == 0, recommended.stderr
    assert "reading columns: user=customer_ref, item=sku, time=timestamp, rating=rating" in recommended.stderr
    payload = json.loads((elsewhere / "recs.json").read_text())
    assert payload["user_id"] == "a" and [r["item_id"] for r in payload["recommendations"]] == ["z"]


def test_a_four_row_table_fits() -> None:
    # Two users and three items leave one behaviour component to learn: the item space's adaptor
    # must keep a single target's coefficients as a (d, 1) matrix.
    rec = Recommender(RecommenderConfig(encoder="hashing", collaborative="itemknn")).fit(from_pandas(LOG))
    frame = rec.recommendations_frame(["a", "b"], k=3)
    assert frame[["user_id", "item_id"]].values.tolist() == [["a", "z"], ["b", "y"]]
    assert rec.state_.space.n_components_ == 1
