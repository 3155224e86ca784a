"""RecBole atomic files and the UniSRec benchmark files (sequence rebuilt exactly)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from interestlm.data import ColumnMap, DataError, read_recbole, read_unisrec
from interestlm.data.readers.recbole import UNISREC_MAX_HISTORY
from interestlm.testing import shared_data

FIXTURES = Path(__file__).resolve().parents[2] / "src" / "interestlm" / "testing" / "data"
HEADER = "user_id:token\titem_id_list:token_seq\titem_id:token\n"


def test_atomic_inter_and_item() -> None:
    ds = read_recbole(FIXTURES / "recbole" / "ml-mini.inter")
    assert ds.has_time
    assert ds.catalog.titles == ["Kolya", "L.A. Confidential", "Heavyweights", "Legends of the Fall"]
    assert ds.catalog.categories[1] == ("Crime", "Film-Noir", "Mystery", "Thriller")  # token_seq: spaces
    inter = ds.interactions
    assert inter.user_ids.tolist() == ["196", "186", "244"]
    assert inter.rating.tolist() == [3.0, 3.0, 1.0, 2.0, 5.0, 4.0]
    assert inter.timestamp[0] == 881250949


def test_atomic_without_time_uses_positions_and_validates(tmp_path: Path) -> None:
    path = tmp_path / "x.inter"
    path.write_text("user_id:token\titem_id:token\tscore:float\nu1\ta\t1\nu2\ta\t2\nu1\tb\tnope\nu1\tc\t3\n")
    with pytest.raises(DataError) as info:
        read_recbole(path)
    assert (info.value.line, info.value.field) == (4, "score")
    ds = read_recbole(path, on_error="skip", columns=ColumnMap(rating="score"))
    assert not ds.has_time
    assert ds.interactions.timestamp.tolist() == [0, 0, 1]
    assert ds.interactions.rating.tolist() == [1.0, 2.0, 3.0]
    bad_header = tmp_path / "y.inter"
    bad_header.write_text("user_id\titem_id:token\nu1\ta\n")
    with pytest.raises(DataError, match="name:type"):
        read_recbole(bad_header)


def write_unisrec(folder: Path, sequences: dict[str, list[int]], n_items: int) -> None:
    """Write sequences the way UniSRec's preprocessing does (train rows in descending prefix order)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Mini.item2index").write_text("".join(f"ASIN{i:03d}\t{i}\n" for i in range(n_items)))
    (folder / "Mini.text").write_text(
        "item_id:token\ttext:token_seq\n" + "".join(f"ASIN{i:03d}\tThing {i}. Cat A Cat B. Brand{i}. \n"
                                                    for i in range(n_items))
    )
    parts = {"train": [], "valid": [], "test": []}
    for user, seq in sequences.items():
        def row(t: int, user: str = user, seq: list[int] = seq) -> str:
            hist = seq[max(0, t - UNISREC_MAX_HISTORY):t]
            return f"{user}\t{' '.join(map(str, hist))}\t{seq[t]}\n"
        parts["test"].append(row(len(seq) - 1))
        parts["valid"].append(row(len(seq) - 2))
        parts["train"].extend(row(t) for t in range(len(seq) - 3, 0, -1))
    for part, rows in parts.items():
        (folder / f"Mini.{part}.inter").write_text(HEADER + "".join(rows))


def test_unisrec_rebuilds_sequences_including_long_ones(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    n_items = 40
    sequences = {str(u): rng.integers(0, n_items, size=length).tolist()
                 for u, length in enumerate([5, 7, 51, 52, 80])}
    write_unisrec(tmp_path, sequences, n_items)
    ds = read_unisrec(tmp_path)
    assert not ds.has_time
    assert ds.catalog.item_ids[3] == "ASIN003"
    assert ds.catalog.titles[3] == "Thing 3"
    assert ds.catalog.descriptions[3] == "Thing 3. Cat A Cat B. Brand3."
    rebuilt = ds.interactions.sequences()
    for index, user in enumerate(ds.interactions.user_ids.tolist()):
        assert rebuilt[index].tolist() == sequences[user]
    assert len(ds.interactions) == sum(len(s) for s in sequences.values())


def test_unisrec_inconsistent_user_is_rejected_whole(tmp_path: Path) -> None:
    write_unisrec(tmp_path, {"0": [1, 2, 3, 4, 5, 6], "1": [7, 8, 9, 10, 11]}, 12)
    test_path = tmp_path / "Mini.test.inter"
    lines = test_path.read_text().splitlines()
    lines[1] = "0\t1 2 3 9 5\t6"  # history disagrees with the train/valid rows
    test_path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as info:
        read_unisrec(tmp_path)
    assert (info.value.path, info.value.line) == (str(test_path), 2)
    ds = read_unisrec(tmp_path, on_error="skip")
    assert ds.interactions.user_ids.tolist() == ["1"]
    assert ds.report.n_rejected == 5  # all of user 0's rows: 3 train + 1 valid + 1 test
    assert sum(ds.report.accepted[str(tmp_path / f"Mini.{p}.inter")] for p in ("train", "valid", "test")) == 4


def test_unisrec_bad_row_fields(tmp_path: Path) -> None:
    write_unisrec(tmp_path, {"0": [1, 2, 3, 4, 5]}, 6)
    valid = tmp_path / "Mini.valid.inter"
    valid.write_text(HEADER + "0\t1 2 x\t4\n")
    with pytest.raises(DataError) as info:
        read_unisrec(tmp_path)
    assert (info.value.line, info.value.field) == (2, "history")
    shutil.rmtree(tmp_path)
    write_unisrec(tmp_path, {"0": [1, 2, 3, 4, 5]}, 6)
    (tmp_path / "Mini.test.inter").write_text(HEADER + "0\t1 2 3 4\t99\n")
    with pytest.raises(DataError) as info:
        read_unisrec(tmp_path)
    assert info.value.field == "target"


@pytest.mark.integration
def test_scientific_reproduces_the_official_split() -> None:
    folder = shared_data("amazon-2018-scientific-unisrec")
    ds = read_unisrec(folder)
    assert (ds.n_users, ds.n_items, len(ds.interactions)) == (8_442, 4_385, 59_427)
    assert ds.report.n_rejected == 0
    assert all(ds.catalog.descriptions)
    user_of_token = {}
    for line in (folder / "Scientific.user2index").read_text().splitlines():
        reviewer, index = line.split("\t")
        user_of_token[index] = reviewer
    row_of_user = {u: i for i, u in enumerate(ds.interactions.user_ids.tolist())}
    sequences = ds.interactions.sequences()
    for part, offset in (("test", 0), ("valid", 1)):
        lines = (folder / f"Scientific.{part}.inter").read_text().splitlines()[1:]
        assert len(lines) == 8_442
        for line in lines:
            token, history, target = line.split("\t")
            seq = sequences[row_of_user[user_of_token[token]]]
            end = len(seq) - offset
            assert seq[end - 1] == int(target)
            assert seq[max(0, end - 1 - UNISREC_MAX_HISTORY):end - 1].tolist() == [int(h) for h in history.split()]
