"""Amazon review readers: 2014/2018/2023 fixtures in the published formats, gzip, bad lines."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest

from interestlm.core.tables import KIND_CODE
from interestlm.data import DataError, load_path, read_amazon
from interestlm.testing import shared_data

FIXTURES = Path(__file__).resolve().parents[2] / "src" / "interestlm" / "testing" / "data"
REVIEWS_2014 = FIXTURES / "amazon-2014" / "reviews_Musical_Instruments_5.json"
META_2014 = FIXTURES / "amazon-2014" / "meta_Musical_Instruments.json"


def test_2014_reviews_and_python_literal_meta() -> None:
    ds = read_amazon(REVIEWS_2014, meta=META_2014)
    assert ds.name == "Musical_Instruments"
    cat = ds.catalog
    assert cat.item_ids.tolist() == ["1384719342", "B00004Y2UT", "B0002E1G5C"]
    assert cat.titles[2].startswith("D'Addario EXL110")  # double-quoted literal with an apostrophe
    assert cat.brands == ["Dragonpad", "Hosa", ""]
    # Two category paths are flattened, shared prefixes kept once.
    assert cat.categories[1] == (
        "Musical Instruments", "Instrument Accessories", "Cables", "Live Sound & Stage", "Stage & Studio Cables",
    )
    assert "gooseneck" in cat.descriptions[0]
    inter = ds.interactions
    assert len(inter) == 5
    assert (inter.kind == KIND_CODE["review"]).all()
    assert inter.rating.tolist() == [5.0, 5.0, 4.0, 2.0, 4.0]
    assert inter.timestamp[0] == 1393545600
    assert inter.review[2] == "Solid cable\nGood cable, a bit stiff when cold."
    assert inter.review[3] == "Crackles after a month"  # empty reviewText: the summary alone
    assert inter.user_ids.tolist() == ["A2IBPI20UZIR0U", "A14VAT5EAX3D9S", "A195EZSQDW3E21"]
    assert "items without metadata" not in ds.report.notes


def test_2018_reviews_and_meta() -> None:
    ds = load_path(FIXTURES / "amazon-2018")
    cat = ds.catalog
    assert ds.name == "Industrial_and_Scientific"
    assert cat.item_ids.tolist() == ["B0000223UV", "B000FN9J7Y", "B07D5LZGJF"]
    assert cat.brands[:2] == ["Gorilla", "PORTER-CABLE"]
    assert cat.categories[0][-1] == "Urethane Adhesives"
    # List description and features are joined into the description text.
    assert cat.descriptions[0].splitlines() == [
        "Gorilla Glue is the toughest glue on planet Earth.",
        "Bonds wood, stone, metal, ceramic and more.",
        "Incredibly strong",
        "100% waterproof",
    ]
    assert ds.report.notes["items without metadata"] == 1
    assert ds.interactions.review[2] == "Good sanding roll"  # no reviewText in this row
    assert ds.interactions.rating.tolist() == [5.0, 3.0, 4.0, 1.0]


def test_2023_reviews_keyed_by_parent_asin_with_millisecond_times() -> None:
    ds = load_path(FIXTURES / "amazon-2023")
    cat = ds.catalog
    assert cat.item_ids.tolist() == ["B01CUPMQZE", "B097R46CSY", "B00YQ6X8EO", "B081TJ8YS3"]
    assert cat.brands[:3] == ["Howard Products", "Yes To", "Aura Cacia"]  # store, else details.Brand
    assert cat.categories[1] == ("All Beauty", "Beauty & Personal Care", "Skin Care", "Face", "Cleansers")
    assert cat.descriptions[1] == "A daily cleanser for oily skin.\nRemoves dirt and oil\nCharcoal and tomato extract"
    inter = ds.interactions
    assert inter.timestamp.tolist() == [1588687728, 1588615855, 1644601431, 1652135425]
    # Review of variant asin B09SBMCF41 belongs to its parent B097R46CSY.
    assert cat.item_ids[inter.item[2]] == "B097R46CSY"
    assert inter.review[2] == "Synthetic feeling\nFelt synthetic"
    assert ds.report.notes["items without metadata"] == 1


def test_gzip_is_transparent(tmp_path: Path) -> None:
    for src in (REVIEWS_2014, META_2014):
        (tmp_path / f"{src.name}.gz").write_bytes(gzip.compress(src.read_bytes()))
    plain = read_amazon(REVIEWS_2014, meta=META_2014)
    zipped = load_path(tmp_path)
    assert zipped.catalog.titles == plain.catalog.titles
    assert np.array_equal(zipped.interactions.item, plain.interactions.item)
    assert zipped.interactions.review.tolist() == plain.interactions.review.tolist()


@pytest.mark.parametrize(
    ("bad_line", "field"),
    [
        ('{"reviewerID": "A1", "asin": "B1", "overall": 5.0, "unixReviewTime": 1393545600', "(json)"),
        ('{"reviewerID": "A1", "asin": "B1", "overall": "great", "unixReviewTime": 1393545600}', "overall"),
        ('{"reviewerID": "A1", "asin": "B1", "overall": 9.0, "unixReviewTime": 1393545600}', "overall"),
        ('{"reviewerID": "A1", "asin": "B1", "overall": 5.0, "unixReviewTime": "soon"}', "unixReviewTime"),
        ('{"reviewerID": "A1", "overall": 5.0, "unixReviewTime": 1393545600}', "asin"),
        ('["not", "an", "object"]', "(json)"),
    ],
)
def test_malformed_review_line(tmp_path: Path, bad_line: str, field: str) -> None:
    lines = REVIEWS_2014.read_text().splitlines()
    path = tmp_path / "reviews_X_5.json"
    path.write_text("\n".join([*lines[:3], bad_line, *lines[3:]]) + "\n")
    with pytest.raises(DataError) as info:
        read_amazon(path)
    assert (info.value.path, info.value.line, info.value.field) == (str(path), 4, field)
    ds = read_amazon(path, on_error="skip")
    assert len(ds.interactions) == 5
    assert ds.report.rejected == {str(path): 1}
    assert ds.report.accepted == {str(path): 5}


def test_malformed_meta_line(tmp_path: Path) -> None:
    folder = tmp_path / "amazon"
    shutil.copytree(FIXTURES / "amazon-2014", folder)
    meta = folder / "meta_Musical_Instruments.json"
    meta.write_text(meta.read_text() + "{'asin': 'B0002E1G5C', 'title': 'again'}\n{'asin': 'B9', 'title': \n")
    with pytest.raises(DataError) as info:
        load_path(folder)
    assert (info.value.line, info.value.field) == (4, "asin")
    ds = load_path(folder, on_error="skip")
    assert ds.report.rejected == {str(meta): 2}
    assert ds.catalog.titles[2].startswith("D'Addario")


@pytest.mark.integration
def test_musical_instruments_counts() -> None:
    path = shared_data("amazon-2014-musical-instruments-5core") / "reviews_Musical_Instruments_5.json.gz"
    ds = read_amazon(path)
    inter = ds.interactions
    assert len(inter) == 10_261
    assert ds.n_users == 1_429
    assert ds.n_items == 900
    assert ds.report.notes["items without metadata"] == 900
    values, counts = np.unique(inter.rating, return_counts=True)
    assert dict(zip(values.tolist(), counts.tolist(), strict=True)) == {
        1.0: 217, 2.0: 250, 3.0: 772, 4.0: 2_084, 5.0: 6_938,
    }
    assert all(inter.review)  # 7 empty reviewText rows still carry their summary
