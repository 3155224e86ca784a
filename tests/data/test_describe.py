"""describe(): planted statistics and the formatted block."""

from __future__ import annotations

import numpy as np
import pytest

from interestlm.core.errors import DataError
from interestlm.core.tables import KIND_CODE
from interestlm.data import Catalog, Dataset, Interactions, LoadReport, describe, load_dataset
from interestlm.data.describe import NO_TIMESTAMPS


def planted() -> Dataset:
    catalog = Catalog.build(["a", "b", "c", "d"], titles=["A", "", "C", ""], tags=[(), ("x",), (), ()])
    inter = Interactions.build(
        user=[0, 0, 0, 1, 2, 2], item=[0, 1, 2, 0, 1, 1], user_ids=["u0", "u1", "u2", "u3"],
        timestamp=[86_400, 2 * 86_400, 3 * 86_400, 10 * 86_400, 86_400, 86_400],
        rating=[1.0, np.nan, 5.0, 3.5, np.nan, np.nan],
        kind=[KIND_CODE["rating"]] * 4 + [KIND_CODE["click"]] * 2,
    )
    report = LoadReport()
    report.reject(DataError("f.csv", 3, "rating", "bad"))
    report.note("items without metadata", 2)
    return Dataset(name="planted", catalog=catalog, interactions=inter, report=report)


def test_planted_stats() -> None:
    stats = describe(planted())
    assert stats.users == 3  # u3 has no rows
    assert stats.catalog_items == 4
    assert stats.items_with_interactions == 3
    assert stats.interactions == 6
    assert stats.density == pytest.approx(6 / 9)
    assert stats.time_span == "1970-01-02 .. 1970-01-11"
    assert stats.rating_range == (1.0, 5.0)
    assert stats.kinds == {"click": 2, "rating": 4}
    assert stats.mean_history == pytest.approx(2.0)
    assert stats.median_history == 2.0
    assert stats.items_with_text_share == pytest.approx(0.75)  # a, c by title; b by its tag
    assert stats.rejected == {"f.csv": 1}
    text = stats.format()
    assert "users                   3" in text
    assert "density                 66.6667%" in text
    assert "kinds                   click 2, rating 4" in text
    assert "  f.csv: 1" in text
    assert "  items without metadata: 2" in text


def test_no_time_and_empty() -> None:
    ds = planted()
    no_time = Dataset(name="p", catalog=ds.catalog, interactions=ds.interactions, has_time=False)
    assert describe(no_time).time_span == NO_TIMESTAMPS
    empty = Dataset(name="e", catalog=Catalog.build([]), interactions=ds.interactions.select(np.zeros(6, dtype=bool)))
    stats = describe(empty)
    assert (stats.users, stats.interactions, stats.density, stats.rating_range) == (0, 0, 0.0, None)
    assert "ratings                 none" in stats.format()


def test_describe_sample_block() -> None:
    text = describe(load_dataset("ml-latest-small-sample")).format()
    assert "interactions            38,540" in text
    assert "time span               1996-" in text
    assert "ratings                 0.5 .. 5" in text
