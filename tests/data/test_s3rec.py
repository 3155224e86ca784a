"""S3-Rec sequence files: positions as time, attributes, malformed lines, the real four sets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from interestlm.data import DataError, read_s3rec
from interestlm.testing import shared_data


def write_s3rec(folder: Path, lines: list[str], attributes: dict[str, list[int]] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "Tiny.txt"
    path.write_text("".join(f"{line}\n" for line in lines))
    if attributes is not None:
        (folder / "Tiny_item2attributes.json").write_text(json.dumps(attributes))
    return path


def test_sequences_positions_and_attributes(tmp_path: Path) -> None:
    path = write_s3rec(tmp_path, ["1 3 1 2", "2 2 10 3 4"], {"1": [5, 6, 5], "10": [7], "11": [8]})
    ds = read_s3rec(path)
    assert not ds.has_time
    # Catalog in numeric id order, covering sequence items and attribute-only items.
    assert ds.catalog.item_ids.tolist() == ["1", "2", "3", "4", "10", "11"]
    assert ds.catalog.attributes[0] == ("5", "6")
    assert ds.catalog.attributes[4] == ("7",)
    inter = ds.interactions
    assert inter.timestamp.tolist() == [0, 1, 2, 0, 1, 2, 3]
    seqs = [ds.catalog.item_ids[s].tolist() for s in inter.sequences()]
    assert seqs == [["3", "1", "2"], ["2", "10", "3", "4"]]
    assert ds.report.accepted == {str(path): 2, str(tmp_path / "Tiny_item2attributes.json"): 3}


@pytest.mark.parametrize(
    ("bad", "field"),
    [("3 7 x 9", "item 2"), ("3", "item 1"), ("0 1 2", "user"), ("3 1 02", "item 2"), ("3 1 -2", "item 2")],
)
def test_malformed_sequence_line(tmp_path: Path, bad: str, field: str) -> None:
    path = write_s3rec(tmp_path, ["1 3 1 2", bad, "2 2 4"])
    with pytest.raises(DataError) as info:
        read_s3rec(path)
    assert (info.value.path, info.value.line, info.value.field) == (str(path), 2, field)
    ds = read_s3rec(path, on_error="skip")
    assert len(ds.interactions) == 5
    assert ds.report.rejected == {str(path): 1}


def test_repeated_user_continues_positions(tmp_path: Path) -> None:
    path = write_s3rec(tmp_path, ["1 3 1", "1 2 4"])
    ds = read_s3rec(path)
    assert ds.interactions.timestamp.tolist() == [0, 1, 2, 3]
    assert ds.report.notes["users on more than one line (sequences concatenated)"] == 1


@pytest.mark.integration
@pytest.mark.parametrize(
    ("name", "users", "items", "rows"),
    [
        ("Beauty", 22_363, 12_101, 198_502),
        ("Toys_and_Games", 19_412, 11_924, 167_597),
        ("Yelp", 30_431, 20_033, 316_354),
        ("LastFM", 1_090, 3_646, 52_551),
    ],
)
def test_s3rec_published_counts(name: str, users: int, items: int, rows: int) -> None:
    path = shared_data("amazon-s3rec") / f"{name}.txt"
    ds = read_s3rec(path)
    assert (ds.n_users, ds.n_items, len(ds.interactions)) == (users, items, rows)
    assert ds.report.n_rejected == 0
    # The last line item of each user is last in time order (the leave-one-out test item).
    first_line = path.read_text().split("\n", 1)[0].split()
    seq = ds.interactions.sequences()[0]
    assert ds.catalog.item_ids[seq].tolist() == first_line[1:]
    assert np.all(ds.catalog.item_ids == np.asarray([str(i) for i in range(1, items + 1)], dtype=object))


def test_malformed_attributes(tmp_path: Path) -> None:
    path = write_s3rec(tmp_path, ["1 1 2"], {"1": [5], "2": ["brand"], "x": [1]})
    with pytest.raises(DataError) as info:
        read_s3rec(path)
    assert info.value.field == "2"
    ds = read_s3rec(path, on_error="skip")
    assert ds.catalog.attributes == [("5",), ()]
    assert ds.report.rejected == {str(tmp_path / "Tiny_item2attributes.json"): 2}
