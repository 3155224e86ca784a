"""MovieLens readers: ml-latest(-small) CSV, ml-100k (``u.data``/``u.item``), ml-1m (``.dat``).

GroupLens licences allow redistribution of ml-latest-small with its licence, but not of ml-100k
or ml-1m: only the first is shipped (as a sample) with the package.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt

from interestlm.core.errors import DataError, LoadReport, OnError, RowGuard
from interestlm.core.tables import Catalog, Dataset
from interestlm.data.build import assemble
from interestlm.data.readers._common import (
    Rows,
    find_file,
    kept,
    new_report_guard,
    normalise_tag,
    split_rows,
    unique,
)

#: The genre label ml-latest uses for "none".
NO_GENRES = "(no genres listed)"
#: The release year at the end of a MovieLens title: "Toy Story (1995)".
_TITLE_YEAR = re.compile(r"\((\d{4})\)\s*$")


def read_movielens(path: Path | str, *, on_error: OnError = "raise", name: str | None = None) -> Dataset:
    """Read a MovieLens "latest" folder (``ratings.csv``, ``movies.csv``, optional ``tags.csv``).

    Ratings become ``kind="rating"`` rows (0.5-5 stars, timestamps in seconds). Genres become
    categories (``(no genres listed)`` means none); free-text tags from ``tags.csv`` become the
    items' tags, lower-cased, whitespace-collapsed and deduplicated.
    """
    folder = Path(path)
    report, guard = new_report_guard(on_error)

    movies = split_rows(
        find_file(folder, "movies.csv"), ("movieId", "title", "genres"), sep=",", quoted=True,
        header=("movieId", "title", "genres"),
    )
    movies.ints("movieId", low=0)
    movies.unique_ids("movieId")
    keep = movies.finish(guard)
    item_ids = kept(movies.strings("movieId"), keep)
    titles = kept(movies.strings("title"), keep)
    genres = [_genres(g) for g in kept(movies.strings("genres"), keep)]

    tags_by_item: dict[str, list[str]] = defaultdict(list)
    tags_path = folder / "tags.csv"
    if tags_path.is_file():
        tags = split_rows(
            tags_path, ("userId", "movieId", "tag", "timestamp"), sep=",", quoted=True,
            header=("userId", "movieId", "tag", "timestamp"),
        )
        tags.ints("userId")
        tags.ints("movieId")
        tags.ints("timestamp", low=0)
        keep_tags = tags.finish(guard)
        known = set(item_ids)
        unlinked = 0
        for movie, tag in zip(kept(tags.strings("movieId"), keep_tags), kept(tags.strings("tag"), keep_tags),
                              strict=True):
            if movie in known:
                tags_by_item[movie].append(normalise_tag(tag))
            else:
                unlinked += 1
        report.note("tags on movies missing from movies.csv (ignored)", unlinked)
    catalog = Catalog.build(
        item_ids,
        titles=titles,
        categories=genres,
        tags=[unique(tags_by_item.get(i, [])) for i in item_ids],
        released=title_years(titles),
    )

    ratings = split_rows(
        find_file(folder, "ratings.csv"), ("userId", "movieId", "rating", "timestamp"), sep=",",
        header=("userId", "movieId", "rating", "timestamp"),
    )
    ratings.ints("userId")
    ratings.ints("movieId")
    rating = ratings.floats("rating", low=0.5, high=5.0)
    timestamp = ratings.ints("timestamp", low=0)
    keep = ratings.finish(guard)
    return assemble(
        name=name or folder.name,
        user_ids=kept(ratings.strings("userId"), keep),
        item_ids=kept(ratings.strings("movieId"), keep),
        catalog=catalog,
        timestamp=timestamp[keep],
        rating=rating[keep],
        kind="rating",
        report=report,
    )


def read_movielens_100k(path: Path | str, *, on_error: OnError = "raise", name: str | None = None) -> Dataset:
    """Read MovieLens 100K: ``u.data`` (tab-separated), ``u.item`` (pipe, Latin-1), ``u.genre``.

    The 19 genre flags of ``u.item`` become category names taken from ``u.genre``; the release
    date goes into the description and ``Catalog.released`` (dates that do not parse are counted
    in the report and left unknown).
    """
    folder = Path(path)
    report, guard = new_report_guard(on_error)

    genre_rows = split_rows(find_file(folder, "u.genre"), ("name", "id"), sep="|", encoding="latin-1")
    genre_ids = genre_rows.ints("id", low=0)
    keep = genre_rows.finish(guard)
    genre_names = dict(zip(genre_ids[keep].tolist(), kept(genre_rows.strings("name"), keep), strict=True))
    n_genres = len(genre_names)
    if sorted(genre_names) != list(range(n_genres)):
        raise DataError(genre_rows.path, 1, "id", f"genre ids must be 0..{n_genres - 1}, found {sorted(genre_names)}")

    names = ("movie id", "title", "release date", "video release date", "IMDb URL")
    flags = tuple(genre_names[g] for g in range(n_genres))
    items = split_rows(find_file(folder, "u.item"), names + flags, sep="|", encoding="latin-1")
    items.ints("movie id", low=0)
    items.unique_ids("movie id")
    flag_values = [items.ints(flag, low=0, high=1) for flag in flags]
    keep = items.finish(guard)
    on = np.stack(flag_values, axis=1)[keep].astype(bool) if flags else np.zeros((int(keep.sum()), 0), dtype=bool)
    dates = kept(items.strings("release date"), keep)
    released = np.array([_release_date(d) for d in dates])
    bad_dates = np.isnan(released) & np.array([bool(d.strip()) for d in dates], dtype=bool)
    catalog = Catalog.build(
        kept(items.strings("movie id"), keep),
        titles=kept(items.strings("title"), keep),
        descriptions=[f"Released {d}." if d else "" for d in dates],
        categories=[tuple(f for f, set_ in zip(flags, row, strict=True) if set_) for row in on.tolist()],
        released=released,
    )
    report.note("release dates that do not parse as DD-Mon-YYYY (left unknown)", int(bad_dates.sum()))

    data = split_rows(find_file(folder, "u.data"), ("user id", "item id", "rating", "timestamp"), sep="\t")
    return _integer_ratings(data, guard, catalog=catalog, name=name or folder.name, report=report)


def read_movielens_1m(path: Path | str, *, on_error: OnError = "raise", name: str | None = None) -> Dataset:
    """Read MovieLens 1M ``.dat`` files (``::``-separated, Latin-1).

    ``ratings.dat`` is ``UserID::MovieID::Rating::Timestamp``; ``movies.dat`` is
    ``MovieID::Title::Genres`` with ``|``-separated genres. ``users.dat``
    (``UserID::Gender::Age::Occupation::Zip-code``) is validated when present; the dataset has no
    user-attribute table, so its rows are only counted.
    """
    folder = Path(path)
    report, guard = new_report_guard(on_error)

    movies = split_rows(find_file(folder, "movies.dat"), ("MovieID", "Title", "Genres"), sep="::", encoding="latin-1")
    movies.ints("MovieID", low=0)
    movies.unique_ids("MovieID")
    keep = movies.finish(guard)
    catalog = Catalog.build(
        kept(movies.strings("MovieID"), keep),
        titles=kept(movies.strings("Title"), keep),
        categories=[_genres(g) for g in kept(movies.strings("Genres"), keep)],
        released=title_years(kept(movies.strings("Title"), keep)),
    )

    users_path = folder / "users.dat"
    if users_path.is_file():
        users = split_rows(
            users_path, ("UserID", "Gender", "Age", "Occupation", "Zip-code"), sep="::", encoding="latin-1"
        )
        users.ints("UserID")
        users.ints("Age", low=0)
        users.ints("Occupation", low=0)
        for row, gender in enumerate(users.strings("Gender")):
            if gender not in ("M", "F"):
                users.reject(row, "Gender", f"expected 'M' or 'F', found {gender!r}")
        users.finish(guard)

    ratings = split_rows(
        find_file(folder, "ratings.dat"), ("UserID", "MovieID", "Rating", "Timestamp"), sep="::", encoding="latin-1"
    )
    return _integer_ratings(ratings, guard, catalog=catalog, name=name or folder.name, report=report)


def _integer_ratings(rows: Rows, guard: RowGuard, *, catalog: Catalog, name: str, report: LoadReport) -> Dataset:
    """Validate and assemble 1-5 star rating rows whose columns are (user, item, rating, time)."""
    user, item, rating_col, time_col = rows.names
    rows.ints(user)
    rows.ints(item)
    rating = rows.ints(rating_col, low=1, high=5)
    timestamp = rows.ints(time_col, low=0)
    keep = rows.finish(guard)
    return assemble(
        name=name,
        user_ids=kept(rows.strings(user), keep),
        item_ids=kept(rows.strings(item), keep),
        catalog=catalog,
        timestamp=timestamp[keep],
        rating=rating[keep].astype(np.float32),
        kind="rating",
        report=report,
    )


def _genres(field: str) -> tuple[str, ...]:
    if field.strip() == NO_GENRES:
        return ()
    return unique([g.strip() for g in field.split("|")])



def title_years(titles: list[str]) -> npt.NDArray[np.float64]:
    """Release times (seconds since the epoch) from the years MovieLens titles end with.

    A year alone says little about the day, so it stands for 1 January of that year: an item is
    then never taken as released after its title year began (NaN where a title has no year).
    """
    out = np.full(len(titles), np.nan)
    for i, title in enumerate(titles):
        found = _TITLE_YEAR.search(title)
        if found and 1800 <= int(found.group(1)) <= 2200:
            out[i] = datetime(int(found.group(1)), 1, 1, tzinfo=UTC).timestamp()
    return out


def _release_date(text: str) -> float:
    """ml-100k's ``DD-Mon-YYYY`` release date in seconds since the epoch (NaN when empty or malformed)."""
    try:
        return datetime.strptime(text.strip(), "%d-%b-%Y").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return float("nan")
