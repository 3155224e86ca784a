"""from_pandas: DataFrames in (guessed or named columns, times, bad rows, item text), and the
recommender fitted on them end to end, with its recommendations back as a DataFrame."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from interestlm import from_pandas
from interestlm.config import RecommenderConfig
from interestlm.core.errors import BadInputError, DataError
from interestlm.core.tables import KIND_CODE, Dataset
from interestlm.recommender import Recommender
from interestlm.testing.planted import planted_topic_of, planted_topics, planted_user_topics

LOG = pd.DataFrame(
    {
        "userId": [7, 7, 8, 8, 8],
        "movieId": [10, 11, 10, 12, 13],
        "rating": [4.0, 5.0, 3.0, 2.5, 1.0],
        "timestamp": [1_000, 2_000, 1_500, 1_600, 1_700],
    }
)


def test_common_names_are_guessed_and_reported() -> None:
    ds = from_pandas(LOG)
    assert ds.report.columns == {"user": "userId", "item": "movieId", "time": "timestamp", "rating": "rating"}
    inter = ds.interactions
    assert list(inter.user_ids) == ["7", "8"]
    assert [str(ds.catalog.item_ids[i]) for i in inter.item] == ["10", "11", "10", "12", "13"]
    assert inter.rating.tolist() == [4.0, 5.0, 3.0, 2.5, 1.0]
    assert inter.timestamp.tolist() == [1_000, 2_000, 1_500, 1_600, 1_700]
    assert set(inter.kind.tolist()) == {KIND_CODE["rating"]}
    assert ds.has_time and ds.name == "dataframe"
    # No item table: the rated ids form the catalogue, with empty text.
    assert ds.catalog.titles == [""] * 4


def test_named_columns_override_and_unguessable_ones_say_how() -> None:
    frame = pd.DataFrame({"who": ["a", "b"], "what": ["x", "y"], "score": [1, 2], "ts": [5, 6]})
    with pytest.raises(BadInputError, match="user ids; its columns are who, what, score, ts") as info:
        from_pandas(frame)
    assert 'columns={"user"' in str(info.value)
    ds = from_pandas(frame, columns={"user": "who", "item": "what", "rating": None}, name="mine")
    # rating=None: the guessable "score" column is not read; "ts" still is.
    assert ds.report.columns == {"user": "who", "item": "what", "time": "ts"}
    assert np.isnan(ds.interactions.rating).all()
    assert set(ds.interactions.kind.tolist()) == {KIND_CODE["interaction"]}
    assert ds.name == "mine"
    with pytest.raises(BadInputError, match="no column 'nope' \\(given for user\\)"):
        from_pandas(frame, columns={"user": "nope", "item": "what"})
    with pytest.raises(BadInputError, match="unknown column field"):
        from_pandas(frame, columns={"person": "who"})


def test_times_from_epoch_seconds_datetimes_and_iso_strings() -> None:
    seconds = [1_614_592_800, 1_614_643_200]  # 2021-03-01T10:00Z, 2021-03-02T00:00Z
    base = {"user_id": ["u", "u"], "item_id": ["a", "b"]}
    naive = pd.to_datetime(["2021-03-01 10:00", "2021-03-02 00:00"])
    variants = {
        "epoch": seconds,
        "naive datetime (UTC)": naive,
        "aware datetime": naive.tz_localize("UTC").tz_convert("Europe/Paris"),
        "ISO strings": ["2021-03-01T11:00:00+01:00", "2021-03-02"],
        "python datetimes": list(naive.to_pydatetime()),
    }
    for what, times in variants.items():
        ds = from_pandas(pd.DataFrame({**base, "time": times}))
        assert ds.interactions.timestamp.tolist() == seconds, what


def test_without_a_time_column_positions_stand_in() -> None:
    ds = from_pandas(LOG.drop(columns="timestamp"))
    assert not ds.has_time
    assert ds.interactions.timestamp.tolist() == [0, 1, 0, 1, 2]


def test_bad_rows_raise_naming_the_index_label_and_field_or_are_counted() -> None:
    bad = LOG.copy()
    bad.index = ["r0", "r1", "r2", "r3", "r4"]
    bad["rating"] = bad["rating"].astype(object)
    bad.loc["r3", "rating"] = "lots"
    bad.loc["r1", "timestamp"] = None
    bad.loc["r4", "movieId"] = None
    with pytest.raises(DataError) as info:
        from_pandas(bad)
    # The first bad row in frame order, by its label.
    assert str(info.value) == "interactions DataFrame: row index 'r1': field 'timestamp': '' is not a time " \
        "(seconds or a date)"
    assert info.value.field == "timestamp" and info.value.line == 2
    ds = from_pandas(bad, on_error="skip")
    assert len(ds.interactions) == 2
    assert ds.report.rejected == {"interactions DataFrame": 3}
    assert ds.report.accepted == {"interactions DataFrame": 2}
    assert any("row index 'r3': field 'rating': 'lots' is not a number" in e for e in ds.report.examples)
    assert any("row index 'r4': field 'movieId': empty value" in e for e in ds.report.examples)


def test_items_frame_feeds_the_item_text() -> None:
    items = pd.DataFrame(
        {
            "movieId": [10, 11, 12],
            "title": ["Alien (1979)", "Heat", "Up"],
            "overview": ["A crew meets a creature.", "", "A house flies."],
            "genres": [["Sci-Fi", "Horror"], ["Crime"], "Animation|Comedy"],
            "tags": [None, "heist|la", ""],
        }
    )
    ds = from_pandas(LOG, items)
    cat = ds.catalog
    assert list(cat.item_ids) == ["10", "11", "12", "13"]  # 13 is rated but has no row: empty text
    assert cat.titles == ["Alien (1979)", "Heat", "Up", ""]
    assert cat.descriptions == ["A crew meets a creature.", "", "A house flies.", ""]
    assert cat.categories == [("Sci-Fi", "Horror"), ("Crime",), ("Animation", "Comedy"), ()]
    assert cat.tags == [(), ("heist", "la"), (), ()]
    assert ds.report.columns["items.description"] == "overview"
    assert ds.report.notes == {"items without metadata": 1}
    duplicated = pd.concat([items, items.iloc[:1]], ignore_index=True)
    with pytest.raises(DataError, match="items DataFrame: row index 3: field 'movieId': duplicate id '10'"):
        from_pandas(LOG, duplicated)
    with pytest.raises(BadInputError, match="must be a pandas DataFrame"):
        from_pandas(LOG.to_dict())  # type: ignore[arg-type]


def _planted_frames(data: Dataset) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The planted fixture as a user would hold it: two DataFrames with their own column names."""
    inter, cat = data.interactions, data.catalog
    log = pd.DataFrame(
        {
            "customer": inter.user_ids[inter.user],
            "product": cat.item_ids[inter.item],
            "stars": inter.rating,
            "when": pd.to_datetime(inter.timestamp, unit="s"),
        }
    ).sample(frac=1.0, random_state=0)  # row order must not matter when times are given
    items = pd.DataFrame(
        {
            "product": cat.item_ids,
            "name": cat.titles,
            "description": cat.descriptions,
            "categories": [list(c) for c in cat.categories],
            "tags": [list(t) for t in cat.tags],
        }
    )
    return log, items


def test_from_pandas_fits_and_recommends_end_to_end() -> None:
    data = planted_topics(n_topics=4, items_per_topic=25, n_users=40, history_len=12, seed=0)
    log, items = _planted_frames(data)
    ds = from_pandas(log, items, columns={"user": "customer", "item": "product", "time": "when", "rating": "stars"})
    assert ds.catalog.titles == data.catalog.titles and ds.n_users == data.n_users
    rec = Recommender(RecommenderConfig(encoder="hashing", collaborative="itemknn")).fit(ds)
    single = [u for u in range(data.n_users) if len(planted_user_topics(data, u)) == 1]
    users = [str(data.interactions.user_ids[u]) for u in single]
    frame = rec.recommendations_frame(users, k=5)
    assert list(frame.columns) == ["user_id", "rank", "item_id", "score", "title", "explanation"]
    assert len(frame) == 5 * len(users)
    assert frame.groupby("user_id", sort=False)["rank"].apply(list).tolist() == [[1, 2, 3, 4, 5]] * len(users)
    assert (frame.groupby("user_id")["score"].diff().dropna() <= 1e-9).all()
    assert frame["explanation"].map(lambda s: isinstance(s, str) and len(s) > 0).all()
    # The frame is the one ranker's list: the same items as recommend() for a user.
    first = rec.recommend(users[0], 5, explain=False)
    assert frame[frame.user_id == users[0]]["item_id"].tolist() == [r.item_id for r in first]
    # Planted answer: single-topic users get items of their topic.
    index = {str(i): n for n, i in enumerate(data.catalog.item_ids)}
    topic_of_user = {str(data.interactions.user_ids[u]): planted_user_topics(data, u)[0] for u in single}
    hits = [planted_topic_of(data, index[r.item_id]) == topic_of_user[r.user_id] for r in frame.itertuples()]
    assert float(np.mean(hits)) >= 0.9
    titles = dict(zip(data.catalog.item_ids, data.catalog.titles, strict=True))
    assert frame["title"].tolist() == [titles[i] for i in frame["item_id"]]
    assert rec.recommendations_frame(users[0], k=3, explain=False)["explanation"].isna().all()


def test_whole_column_conversion_reads_cells_as_the_file_readers_do() -> None:
    from interestlm.data.frames import frame_rows
    from interestlm.data.readers.generic import cell_text

    frame = pd.DataFrame(
        {
            "ints": [1, -2, 3, 4],
            "floats": [1.0, 2.5, np.nan, -0.0],
            "strings": ["a", "b", "c", "d"],
            "gappy": ["a", None, np.nan, "d"],
            "nullable": pd.array([1, None, 3, 4], dtype="Int64"),
            "flags": [True, False, True, False],
            "lists": [["x", "y"], [], ("z",), None],
        }
    )
    rows = frame_rows(frame, list(frame.columns), "t")
    for column in frame.columns:
        assert rows.strings(column) == [cell_text(v) for v in frame[column].tolist()], column
    assert rows.strings("floats") == ["1", "2.5", "", "0"]
    assert rows.strings("lists") == ["x|y", "", "z", ""]
