"""MovieLens readers: the shipped sample, planted malformed rows, ml-1m fixture, ml-100k format."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from interestlm.core.tables import KIND_CODE
from interestlm.data import DataError, read_movielens, read_movielens_1m, read_movielens_100k
from interestlm.data.registry import SAMPLE_DIR
from interestlm.testing import shared_data

FIXTURES = Path(__file__).resolve().parents[2] / "src" / "interestlm" / "testing" / "data"

MOVIES = (
    "movieId,title,genres\r\n"
    "1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy\r\n"
    '11,"American President, The (1995)",Comedy|Drama|Romance\r\n'
    "12,Some Film (2011),(no genres listed)\r\n"
)
TAGS = (
    "userId,movieId,tag,timestamp\r\n"
    "2,1,Pixar,1445714994\r\n"
    "3,1,pixar ,1445714995\r\n"
    '4,11,"Will  Ferrell",1445714996\r\n'
    "4,99,orphan tag,1445714997\r\n"
)
GOOD_RATINGS = ["1,1,4.0,964982703", "1,11,3.5,964981247", "2,12,5.0,964982224", "2,1,0.5,964983000"]


def write_movielens(folder: Path, rating_lines: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "movies.csv").write_bytes(MOVIES.encode())
    (folder / "tags.csv").write_bytes(TAGS.encode())
    body = "".join(f"{line}\r\n" for line in ["userId,movieId,rating,timestamp", *rating_lines])
    (folder / "ratings.csv").write_bytes(body.encode())
    return folder


def test_planted_movielens_fields(tmp_path: Path) -> None:
    ds = read_movielens(write_movielens(tmp_path / "ml", GOOD_RATINGS))
    cat = ds.catalog
    assert cat.item_ids.tolist() == ["1", "11", "12"]
    assert cat.titles[1] == "American President, The (1995)"
    assert cat.categories[2] == ()  # "(no genres listed)" means none
    assert cat.categories[0] == ("Adventure", "Animation", "Children", "Comedy", "Fantasy")
    assert cat.tags[0] == ("pixar",)  # case and whitespace normalised, deduplicated
    assert cat.tags[1] == ("will ferrell",)
    assert ds.report.notes["tags on movies missing from movies.csv (ignored)"] == 1
    inter = ds.interactions
    assert inter.user_ids.tolist() == ["1", "2"]
    assert inter.item.tolist() == [0, 1, 2, 0]
    assert inter.rating.tolist() == [4.0, 3.5, 5.0, 0.5]
    assert inter.timestamp.tolist() == [964982703, 964981247, 964982224, 964983000]
    assert (inter.kind == KIND_CODE["rating"]).all()
    assert ds.has_time
    assert ds.report.accepted[str(tmp_path / "ml" / "ratings.csv")] == 4
    # Release times from the title years (1 January UTC of the year).
    assert cat.released.tolist() == [788918400.0, 788918400.0, 1293840000.0]


@pytest.mark.parametrize(
    ("bad_line", "field", "fragment"),
    [
        ("3,1,4.0", "timestamp", "expected 4 fields"),
        ("3,1,4.0,964982703,extra", "(row)", "found 5"),
        ("3,1,four,964982703", "rating", "'four' is not a number"),
        ("3,1,7.0,964982703", "rating", "outside"),
        ("3,1,4.0,yesterday", "timestamp", "'yesterday' is not an integer"),
        ("3,1,4.0,-5", "timestamp", "outside"),
        ("x,1,4.0,964982703", "userId", "not an integer"),
    ],
)
def test_malformed_rating_row_names_file_line_field(tmp_path: Path, bad_line: str, field: str, fragment: str) -> None:
    # The bad row is the 3rd data row: line 4 of the file (line 1 is the header).
    folder = write_movielens(tmp_path / "ml", [*GOOD_RATINGS[:2], bad_line, *GOOD_RATINGS[2:]])
    with pytest.raises(DataError) as info:
        read_movielens(folder)
    err = info.value
    assert err.path == str(folder / "ratings.csv")
    assert (err.line, err.field) == (4, field)
    assert fragment in err.message
    assert f"ratings.csv:4: field {field!r}" in str(err)

    ds = read_movielens(folder, on_error="skip")
    assert len(ds.interactions) == len(GOOD_RATINGS)
    assert ds.interactions.timestamp.tolist() == [964982703, 964981247, 964982224, 964983000]
    assert ds.report.rejected == {str(folder / "ratings.csv"): 1}
    assert ds.report.accepted[str(folder / "ratings.csv")] == 4
    assert "ratings.csv:4" in ds.report.examples[0]


def test_first_error_in_file_order_is_raised_and_all_are_counted(tmp_path: Path) -> None:
    lines = ["1,1,4.0,964982703", "1,11,4.0,bad", "1,12,bad,964982703", "2,1,4.0,964982703", "2,11"]
    folder = write_movielens(tmp_path / "ml", lines)
    with pytest.raises(DataError) as info:
        read_movielens(folder)
    assert (info.value.line, info.value.field) == (3, "timestamp")
    ds = read_movielens(folder, on_error="skip")
    assert len(ds.interactions) == 2
    assert ds.report.n_rejected == 3
    assert [e.split(": field")[0].rsplit(":", 1)[1] for e in ds.report.examples] == ["3", "4", "6"]


def test_wrong_header_and_duplicate_movie(tmp_path: Path) -> None:
    folder = write_movielens(tmp_path / "ml", GOOD_RATINGS)
    (folder / "ratings.csv").write_text("user,movie,rating,timestamp\n1,1,4.0,964982703\n")
    with pytest.raises(DataError, match="header"):
        read_movielens(folder)
    folder = write_movielens(tmp_path / "ml2", GOOD_RATINGS)
    (folder / "movies.csv").write_bytes((MOVIES + "11,Again (1999),Drama\r\n").encode())
    with pytest.raises(DataError) as info:
        read_movielens(folder)
    assert (info.value.line, info.value.field) == (5, "movieId")
    ds = read_movielens(folder, on_error="skip")
    assert ds.catalog.titles[1] == "American President, The (1995)"
    assert ds.report.rejected == {str(folder / "movies.csv"): 1}


def test_shipped_sample_reads_in_original_format() -> None:
    raw = (SAMPLE_DIR / "ratings.csv").read_bytes()
    assert raw.startswith(b"userId,movieId,rating,timestamp\r\n")
    assert raw.count(b"\r\n") == raw.count(b"\n")
    ds = read_movielens(SAMPLE_DIR)
    assert ds.n_users == 250
    assert len(ds.interactions) == 38_540
    assert ds.n_items == 6_431
    assert ds.report.notes.get("items without metadata", 0) == 0
    assert ds.report.n_rejected == 0
    assert (SAMPLE_DIR / "README.txt").is_file()
    total = sum(p.stat().st_size for p in SAMPLE_DIR.iterdir())
    assert total < 1_500_000


def test_ml_1m_fixture() -> None:
    ds = read_movielens_1m(FIXTURES / "ml-1m")
    assert ds.catalog.titles[3] == "Misérables, Les (1995)"  # Latin-1 decoded
    assert ds.catalog.categories[0] == ("Animation", "Children's", "Comedy")
    assert ds.n_users == 3
    assert len(ds.interactions) == 10
    assert ds.interactions.rating[:4].tolist() == [5.0, 5.0, 4.0, 3.0]
    assert ds.catalog.item_ids[ds.interactions.item[1]] == "2858"
    assert ds.report.accepted[str(FIXTURES / "ml-1m" / "users.dat")] == 3


def test_ml_1m_malformed_rows(tmp_path: Path) -> None:
    folder = tmp_path / "ml-1m"
    shutil.copytree(FIXTURES / "ml-1m", folder)
    with (folder / "ratings.dat").open("ab") as f:
        f.write(b"4::1::9::978824268\n4::2\n")
    with (folder / "users.dat").open("ab") as f:
        f.write(b"4::X::25::15::55117\n")
    with pytest.raises(DataError) as info:
        read_movielens_1m(folder)
    assert (info.value.path, info.value.line, info.value.field) == (str(folder / "users.dat"), 4, "Gender")
    ds = read_movielens_1m(folder, on_error="skip")
    assert len(ds.interactions) == 10
    assert ds.report.rejected == {str(folder / "users.dat"): 1, str(folder / "ratings.dat"): 2}


def test_ml_100k_format(tmp_path: Path) -> None:
    # Hand-written rows in the u.* format (the real ml-100k may not be copied into the repository).
    folder = tmp_path / "ml-100k"
    folder.mkdir()
    genres = ["unknown", "Action", "Comedy"]
    (folder / "u.genre").write_text("".join(f"{g}|{i}\n" for i, g in enumerate(genres)) + "\n")
    (folder / "u.item").write_bytes(
        "1|Café Film (1995)|01-Jan-1995||http://us.imdb.com/x|0|1|1\n"
        "2|Quiet Film (1996)|||http://us.imdb.com/y|1|0|0\n".encode("latin-1")
    )
    (folder / "u.data").write_text("7\t1\t3\t881250949\n8\t2\t5\t891717742\n7\t2\t1\t878887116\n")
    ds = read_movielens_100k(folder)
    assert ds.catalog.titles == ["Café Film (1995)", "Quiet Film (1996)"]
    assert ds.catalog.categories == [("Action", "Comedy"), ("unknown",)]
    assert ds.catalog.descriptions == ["Released 01-Jan-1995.", ""]
    assert ds.catalog.released[0] == 788918400.0 and np.isnan(ds.catalog.released[1])
    assert ds.interactions.rating.tolist() == [3.0, 5.0, 1.0]
    (folder / "u.data").write_text("7\t1\t3\t881250949\n8\t2\t6\t891717742\n")
    with pytest.raises(DataError) as info:
        read_movielens_100k(folder)
    assert (info.value.line, info.value.field) == (2, "rating")
    # A release date that does not parse is counted and left unknown; the item stays.
    (folder / "u.data").write_text("7\t1\t3\t881250949\n")
    (folder / "u.item").write_bytes(b"1|Odd Film (1995)|31-Foo-1995||http://us.imdb.com/x|0|1|1\n")
    odd = read_movielens_100k(folder)
    assert np.isnan(odd.catalog.released[0]) and odd.catalog.descriptions == ["Released 31-Foo-1995."]
    assert odd.report.notes["release dates that do not parse as DD-Mon-YYYY (left unknown)"] == 1


def test_title_years() -> None:
    from interestlm.data.readers.movielens import title_years

    got = title_years(["Heat (1995)", "Heat (1995) ", "No Year", "Year 1995 Inside", "Far (3000)"])
    assert got[0] == got[1] == 788918400.0
    assert np.isnan(got[2:]).all()


@pytest.mark.integration
def test_ml_latest_small_counts() -> None:
    ds = read_movielens(shared_data("ml-latest-small"))
    assert len(ds.interactions) == 100_836
    assert ds.n_users == 610
    assert ds.n_items == 9_742
    assert len(np.unique(ds.interactions.item)) == 9_724
    assert ds.report.n_rejected == 0
    assert ds.interactions.rating.min() == 0.5 and ds.interactions.rating.max() == 5.0
    assert sum(1 for t in ds.catalog.tags if t) == 1_572  # movies with at least one tag


@pytest.mark.integration
def test_ml_100k_counts() -> None:
    ds = read_movielens_100k(shared_data("ml-100k"))
    assert len(ds.interactions) == 100_000
    assert ds.n_users == 943
    assert ds.n_items == 1_682
    assert np.bincount(ds.interactions.user).min() >= 20
    assert set(np.unique(ds.interactions.rating).tolist()) == {1.0, 2.0, 3.0, 4.0, 5.0}
    assert ds.catalog.categories[0] == ("Animation", "Children's", "Comedy")


def test_undecodable_bytes_name_the_line(tmp_path: Path) -> None:
    folder = write_movielens(tmp_path / "ml", GOOD_RATINGS)
    (folder / "movies.csv").write_bytes(MOVIES.encode() + b"13,Caf\xe9 (1990),Drama\r\n")
    with pytest.raises(DataError) as info:
        read_movielens(folder)
    assert (info.value.line, info.value.field) == (5, "(encoding)")
