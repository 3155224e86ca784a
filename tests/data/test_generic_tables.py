"""Generic CSV / Parquet / JSONL tables read through column mappings."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from interestlm.core.tables import KIND_CODE
from interestlm.data import ColumnMap, DataError, ItemColumnMap, read_table

COLUMNS = ColumnMap(user="uid", item="sku", timestamp="ts", rating="stars", review="text", kind="event")
ITEMS = ItemColumnMap(item="sku", title="name", categories="cats", category_separator=";", brand="maker")
ROWS = [
    {"uid": "u1", "sku": "a", "ts": "2021-03-01T10:00:00Z", "stars": 4, "text": "nice", "event": "review"},
    {"uid": "u1", "sku": "b", "ts": 1614600000, "stars": 2, "text": "meh", "event": "purchase"},
    {"uid": "u2", "sku": "a", "ts": "2021-03-02", "stars": 5, "text": "", "event": "click"},
]


def write_items(path: Path) -> Path:
    path.write_text('sku,name,cats,maker\na,"Lamp, desk",Home;Lighting,Lumo\nb,Chair,Home,\n')
    return path


def check(ds_path: Path, items: Path) -> None:
    ds = read_table(ds_path, COLUMNS, items=items, item_columns=ITEMS)
    assert ds.has_time
    assert ds.catalog.titles == ["Lamp, desk", "Chair"]
    assert ds.catalog.categories == [("Home", "Lighting"), ("Home",)]
    assert ds.catalog.brands == ["Lumo", ""]
    inter = ds.interactions
    assert inter.timestamp.tolist() == [1614592800, 1614600000, 1614643200]
    assert inter.rating.tolist() == [4.0, 2.0, 5.0]
    assert inter.kind.tolist() == [KIND_CODE["review"], KIND_CODE["purchase"], KIND_CODE["click"]]
    assert inter.review.tolist() == ["nice", "meh", ""]


def test_csv(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    pd.DataFrame(ROWS).to_csv(path, index=False)
    check(path, write_items(tmp_path / "items.csv"))


def test_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    check(path, write_items(tmp_path / "items.csv"))


def test_parquet(tmp_path: Path) -> None:
    path = tmp_path / "log.parquet"
    frame = pd.DataFrame(ROWS)
    frame["ts"] = frame["ts"].astype(str)
    frame.to_parquet(path)
    check(path, write_items(tmp_path / "items.csv"))


def test_bad_values_name_line_or_row(tmp_path: Path) -> None:
    rows = [*ROWS, {"uid": "u3", "sku": "a", "ts": "someday", "stars": 1, "text": "", "event": "click"}]
    csv_path = tmp_path / "log.csv"
    pd.DataFrame(rows).to_csv(csv_path, index=False)
    with pytest.raises(DataError) as info:
        read_table(csv_path, COLUMNS)
    assert (info.value.line, info.value.field) == (5, "ts")  # header is line 1

    pq_path = tmp_path / "log.parquet"
    frame = pd.DataFrame([*ROWS, {**ROWS[0], "event": "teleport"}])
    frame["ts"] = frame["ts"].astype(str)
    frame.to_parquet(pq_path)
    with pytest.raises(DataError) as info:
        read_table(pq_path, COLUMNS)
    assert (info.value.line, info.value.field) == (4, "event")  # Parquet: 1-based row
    ds = read_table(pq_path, COLUMNS, on_error="skip")
    assert len(ds.interactions) == 3
    assert ds.report.rejected == {str(pq_path): 1}

    jl = tmp_path / "log.jsonl"
    jl.write_text(json.dumps(ROWS[0]) + "\n{oops\n" + json.dumps({**ROWS[1], "stars": "x"}) + "\n")
    with pytest.raises(DataError) as info:
        read_table(jl, COLUMNS)
    assert (info.value.line, info.value.field) == (2, "(json)")
    ds = read_table(jl, COLUMNS, on_error="skip")
    assert len(ds.interactions) == 1
    assert ds.report.n_rejected == 2


def test_missing_column_and_no_time(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text("uid,sku\nu1,a\nu1,b\nu2,a\n")
    with pytest.raises(DataError, match="column missing"):
        read_table(path, ColumnMap(user="uid", item="sku", rating="stars"))
    ds = read_table(path, ColumnMap(user="uid", item="sku", default_kind="view"))
    assert not ds.has_time
    assert ds.interactions.timestamp.tolist() == [0, 1, 0]
    assert (ds.interactions.kind == KIND_CODE["view"]).all()
    with pytest.raises(ValueError, match="default_kind"):
        ColumnMap(default_kind="teleport")


def test_millisecond_times(tmp_path: Path) -> None:
    path = tmp_path / "log.tsv"
    path.write_text("user_id\titem_id\tt\nu1\ta\t1588687728923\n")
    ds = read_table(path, ColumnMap(timestamp="t", timestamp_unit="ms"))
    assert ds.interactions.timestamp.tolist() == [1588687728]


def test_utf8_bom_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_bytes(b"\xef\xbb\xbfuid,sku\nu1,a\n")
    ds = read_table(path, ColumnMap(user="uid", item="sku"))
    assert ds.interactions.user_ids.tolist() == ["u1"]
