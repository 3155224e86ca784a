"""MIND: news catalog, impressions as clicks/views, histories placed before impressions once."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from interestlm.core.tables import KINDS
from interestlm.data import DataError, read_mind
from interestlm.testing import shared_data

ENT = json.dumps([{"Label": "Fort Lauderdale, Florida", "Type": "G", "WikidataId": "Q165972", "Confidence": 1.0,
                   "OccurrenceOffsets": [49], "SurfaceForms": ["Fort Lauderdale"]}])
NEWS = (
    f"N1\tnews\tnewspolitics\tOffice opens in Fort Lauderdale\tA new office.\thttps://assets.msn.com/a.html\t{ENT}\t[]\n"
    "N2\tsports\tmore_sports\tMarathon in the rain\t\thttps://assets.msn.com/b.html\t[]\t[]\n"
)
BEHAVIORS = (
    "1\tU1\t11/12/2019 2:14:46 PM\tN1 N9 N1\tN2-1 N3-0\n"
    "2\tU2\t11/13/2019 5:53:12 AM\t\tN1-0 N2-1\n"
    "3\tU1\t11/11/2019 8:00:00 AM\tN1 N9 N1\tN3-1\n"
)


def write_mind(folder: Path, behaviors: str = BEHAVIORS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "news.tsv").write_text(NEWS)
    (folder / "behaviors.tsv").write_text(behaviors)
    return folder


def test_planted_mind(tmp_path: Path) -> None:
    ds = read_mind(write_mind(tmp_path / "mind"))
    cat = ds.catalog
    assert cat.categories[:2] == [("news", "newspolitics"), ("sports", "more_sports")]
    assert cat.tags[0] == ("Fort Lauderdale, Florida",)
    assert cat.descriptions[1] == ""
    inter = ds.interactions
    rows = [(inter.user_ids[u], cat.item_ids[i], int(t), KINDS[k])
            for u, i, t, k in zip(inter.user, inter.item, inter.timestamp, inter.kind, strict=True)]
    t1 = 1573568086  # 11/12/2019 2:14:46 PM UTC
    t3 = 1573459200  # 11/11/2019 8:00:00 AM: U1's first impression, so the history sits before it
    t2 = 1573624392
    assert rows == [
        ("U1", "N1", t3 - 3, "click"), ("U1", "N9", t3 - 2, "click"), ("U1", "N1", t3 - 1, "click"),
        ("U1", "N2", t1, "click"), ("U1", "N3", t1, "view"),
        ("U2", "N1", t2, "view"), ("U2", "N2", t2, "click"),
        ("U1", "N3", t3, "click"),
    ]
    assert ds.report.notes["history clicks repeated across a user's impressions (deduplicated)"] == 3
    assert ds.report.notes["items without metadata"] == 2  # N9, N3


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ("4\tU3\t13/45/2019 2:14:46 PM\tN1\tN2-1\n", "time"),
        ("4\tU3\t11/12/2019 2:14:46 PM\tN1\tN2-2\n", "impressions"),
        ("4\tU3\t11/12/2019 2:14:46 PM\tN1\n", "impressions"),
        ("x\tU3\t11/12/2019 2:14:46 PM\tN1\tN2-1\n", "impression id"),
    ],
)
def test_malformed_behavior_row(tmp_path: Path, bad: str, field: str) -> None:
    folder = write_mind(tmp_path / "mind", BEHAVIORS + bad)
    with pytest.raises(DataError) as info:
        read_mind(folder)
    assert (info.value.path, info.value.line, info.value.field) == (str(folder / "behaviors.tsv"), 4, field)
    ds = read_mind(folder, on_error="skip")
    assert len(ds.interactions) == 8
    assert ds.report.rejected == {str(folder / "behaviors.tsv"): 1}


def test_malformed_entity_json(tmp_path: Path) -> None:
    folder = write_mind(tmp_path / "mind")
    (folder / "news.tsv").write_text(NEWS + "N3\tnews\tx\tT\tA\tu\t[{\"Label\": \tbroken\n")
    with pytest.raises(DataError) as info:
        read_mind(folder)
    assert (info.value.line, info.value.field) == (3, "title entities")


@pytest.mark.integration
def test_mind_sample() -> None:
    folder = shared_data("mind-small-sample")
    ds = read_mind(folder)
    assert ds.report.accepted == {str(folder / "news.tsv"): 2_000, str(folder / "behaviors.tsv"): 5_000}
    assert ds.n_users == 4_637
    kinds = {KINDS[k]: int(n) for k, n in zip(*np.unique(ds.interactions.kind, return_counts=True), strict=True)}
    history = ds.report.notes["history clicks (timed just before the user's first impression)"]
    assert kinds["view"] + kinds["click"] - history == 189_359  # impression entries
    assert kinds["click"] - history == 7_542
    assert len({c[0] for c in ds.catalog.categories[:2_000]}) == 15
    assert len({c[1] for c in ds.catalog.categories[:2_000]}) == 143
    assert sum(1 for d in ds.catalog.descriptions[:2_000] if not d) == 99
