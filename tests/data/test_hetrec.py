"""HetRec Last.fm: plays with counts as weights, Latin-1 tags reported as unlinked, friends."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from interestlm.core.tables import KIND_CODE
from interestlm.data import DataError, LoadReport, read_lastfm_friends, read_lastfm_hetrec
from interestlm.testing import shared_data


def write_hetrec(folder: Path, plays: str = "2\t51\t13883\r\n2\t52\t11690\r\n3\t51\t7\r\n") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "artists.dat").write_text(
        "id\tname\turl\tpictureURL\n51\tDuran Duran\thttp://www.last.fm/music/Duran+Duran\thttp://x/1.jpg\n"
        "52\tMorcheeba\thttp://www.last.fm/music/Morcheeba\thttp://x/2.jpg\n53\tBjörk\thttp://www.last.fm/music/Bj\n",
        encoding="utf-8",
    )
    (folder / "tags.dat").write_bytes("tagID\ttagValue\r\n1\tmetal\r\n2\tchanson française\r\n".encode("latin-1"))
    (folder / "user_artists.dat").write_bytes(("userID\tartistID\tweight\r\n" + plays).encode())
    (folder / "user_friends.dat").write_bytes(b"userID\tfriendID\r\n2\t3\r\n3\t2\r\n")
    return folder


def test_plays_weights_and_unlinked_tags(tmp_path: Path) -> None:
    ds = read_lastfm_hetrec(write_hetrec(tmp_path))
    assert not ds.has_time
    assert ds.catalog.titles == ["Duran Duran", "Morcheeba", "Björk"]  # missing pictureURL is allowed
    inter = ds.interactions
    assert inter.weight.tolist() == [13883.0, 11690.0, 7.0]
    assert (inter.kind == KIND_CODE["play"]).all()
    assert inter.timestamp.tolist() == [0, 1, 0]
    assert ds.report.notes["tags not linked to artists (user_taggedartists.dat missing)"] == 2


def test_tagged_artists_are_linked_when_present(tmp_path: Path) -> None:
    folder = write_hetrec(tmp_path)
    (folder / "user_taggedartists.dat").write_text(
        "userID\tartistID\ttagID\tday\tmonth\tyear\n2\t52\t2\t1\t4\t2009\n3\t52\t2\t1\t4\t2009\n"
    )
    ds = read_lastfm_hetrec(folder)
    assert ds.catalog.tags == [(), ("chanson française",), ()]


def test_malformed_play_row(tmp_path: Path) -> None:
    folder = write_hetrec(tmp_path, "2\t51\t13883\r\n2\t52\tlots\r\n3\t51\r\n")
    with pytest.raises(DataError) as info:
        read_lastfm_hetrec(folder)
    assert (info.value.line, info.value.field) == (3, "weight")
    ds = read_lastfm_hetrec(folder, on_error="skip")
    assert len(ds.interactions) == 1
    assert ds.report.rejected == {str(folder / "user_artists.dat"): 2}


def test_friends(tmp_path: Path) -> None:
    folder = write_hetrec(tmp_path)
    assert read_lastfm_friends(folder).tolist() == [[2, 3], [3, 2]]
    (folder / "user_friends.dat").write_bytes(b"userID\tfriendID\r\n2\t3\r\n3\tx\r\n")
    with pytest.raises(DataError) as info:
        read_lastfm_friends(folder / "user_friends.dat")
    assert (info.value.line, info.value.field) == (3, "friendID")
    report = LoadReport()
    pairs = read_lastfm_friends(folder, on_error="skip", report=report)
    assert pairs.dtype == np.int64 and pairs.tolist() == [[2, 3]]
    assert report.n_rejected == 1


@pytest.mark.integration
def test_hetrec_counts() -> None:
    folder = shared_data("lastfm-hetrec2011-2k")
    ds = read_lastfm_hetrec(folder)
    assert len(ds.interactions) == 92_834
    assert ds.n_users == 1_892
    assert ds.n_items == 17_632
    assert ds.report.n_rejected == 0
    assert ds.report.notes["tags not linked to artists (user_taggedartists.dat missing)"] == 11_946
    assert ds.interactions.weight[0] == 13_883.0
    assert read_lastfm_friends(folder).shape == (25_434, 2)
