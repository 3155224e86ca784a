"""load_dataset: names, paths recognised by their files, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from interestlm.data import DATASETS, load_dataset, load_path
from interestlm.testing import shared_data

FIXTURES = Path(__file__).resolve().parents[2] / "src" / "interestlm" / "testing" / "data"


def test_known_names() -> None:
    assert set(DATASETS) == {
        "ml-latest-small", "ml-latest-small-sample", "ml-100k", "beauty", "toys", "yelp", "lastfm-s3rec",
        "scientific", "musical-instruments", "lastfm-hetrec", "mind-sample",
    }
    assert all(info.licence and info.reader for info in DATASETS.values())
    assert "NOT be redistributed" in DATASETS["ml-100k"].licence


def test_unknown_name_lists_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown dataset 'nope'") as info:
        load_dataset("nope")
    assert "ml-latest-small-sample" in str(info.value) and "scientific" in str(info.value)


def test_named_dataset_missing_from_root(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="beauty"):
        load_dataset("beauty", data_root=tmp_path)


def test_sample_needs_no_root(tmp_path: Path) -> None:
    ds = load_dataset("ml-latest-small-sample", data_root=tmp_path)
    assert ds.name == "ml-latest-small-sample"
    assert ds.n_users == 250


def test_paths_recognised_by_contents() -> None:
    assert load_dataset(str(FIXTURES / "ml-1m")).catalog.titles[0] == "Toy Story (1995)"
    assert load_path(FIXTURES / "amazon-2023").name == "All_Beauty"
    assert load_path(FIXTURES / "recbole" / "ml-mini.inter").name == "ml-mini"
    assert load_path(FIXTURES / "ml-latest-small-sample" / "ratings.csv").n_users == 250
    with pytest.raises(ValueError, match="no known dataset files"):
        load_path(FIXTURES)


@pytest.mark.integration
def test_names_resolve_against_data_root() -> None:
    root = shared_data("amazon-s3rec").parent
    ds = load_dataset("lastfm-s3rec", data_root=root)
    assert (ds.name, ds.n_users, len(ds.interactions)) == ("lastfm-s3rec", 1_090, 52_551)
    assert load_dataset(str(root / "mind-small-sample")).report.accepted[
        str(root / "mind-small-sample" / "behaviors.tsv")
    ] == 5_000
