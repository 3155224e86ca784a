"""Load a dataset by name (the sets of ``../shared/data``) or by path (recognised by its files)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from interestlm.core.errors import BadInputError, OnError
from interestlm.core.tables import Dataset
from interestlm.data.readers._common import find_file, first_line
from interestlm.data.readers.amazon import read_amazon
from interestlm.data.readers.generic import read_guessed_table
from interestlm.data.readers.hetrec import read_lastfm_hetrec
from interestlm.data.readers.mind import read_mind
from interestlm.data.readers.movielens import read_movielens, read_movielens_1m, read_movielens_100k
from interestlm.data.readers.recbole import read_recbole, read_unisrec
from interestlm.data.readers.s3rec import read_s3rec

#: The shipped MovieLens sample (250 users of ml-latest-small, GroupLens licence included).
SAMPLE_DIR = Path(__file__).resolve().parent.parent / "testing" / "data" / "ml-latest-small-sample"

Loader = Callable[[Path, OnError, str], Dataset]


@dataclass(frozen=True, kw_only=True)
class DatasetInfo:
    """Where a named dataset lives, which reader reads it, and the terms it comes with."""

    name: str
    #: Path relative to the data root (a folder, or a file inside one).
    location: str
    reader: str
    licence: str
    load: Loader
    #: True for the sample shipped inside the package (no data root needed).
    shipped: bool = False


def _s3rec(path: Path, on_error: OnError, name: str) -> Dataset:
    return read_s3rec(path, on_error=on_error, name=name)


_AMAZON_TERMS = "Amazon review data (McAuley et al.): research use only; cite the papers; keep inside the project"

DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo(
            name="ml-latest-small", location="ml-latest-small", reader="read_movielens",
            licence="GroupLens usage licence (README.txt): research use, redistribution under the same terms",
            load=lambda p, e, n: read_movielens(p, on_error=e, name=n),
        ),
        DatasetInfo(
            name="ml-latest-small-sample", location=str(SAMPLE_DIR), reader="read_movielens",
            licence="GroupLens usage licence (README.txt shipped with the sample)",
            load=lambda p, e, n: read_movielens(p, on_error=e, name=n), shipped=True,
        ),
        DatasetInfo(
            name="ml-100k", location="ml-100k", reader="read_movielens_100k",
            licence="GroupLens: research use only; may NOT be redistributed",
            load=lambda p, e, n: read_movielens_100k(p, on_error=e, name=n),
        ),
        DatasetInfo(
            name="beauty", location="amazon-s3rec/Beauty.txt", reader="read_s3rec",
            licence=_AMAZON_TERMS + "; S3-Rec files MIT", load=_s3rec,
        ),
        DatasetInfo(
            name="toys", location="amazon-s3rec/Toys_and_Games.txt", reader="read_s3rec",
            licence=_AMAZON_TERMS + "; S3-Rec files MIT", load=_s3rec,
        ),
        DatasetInfo(
            name="yelp", location="amazon-s3rec/Yelp.txt", reader="read_s3rec",
            licence="Yelp dataset terms (research use); S3-Rec files MIT", load=_s3rec,
        ),
        DatasetInfo(
            name="lastfm-s3rec", location="amazon-s3rec/LastFM.txt", reader="read_s3rec",
            licence="Last.fm / HetRec terms (non-commercial); S3-Rec files MIT", load=_s3rec,
        ),
        DatasetInfo(
            name="scientific", location="amazon-2018-scientific-unisrec", reader="read_unisrec",
            licence=_AMAZON_TERMS, load=lambda p, e, n: read_unisrec(p, on_error=e, name=n),
        ),
        DatasetInfo(
            name="musical-instruments",
            location="amazon-2014-musical-instruments-5core/reviews_Musical_Instruments_5.json.gz",
            reader="read_amazon", licence=_AMAZON_TERMS,
            load=lambda p, e, n: read_amazon(p, on_error=e, name=n),
        ),
        DatasetInfo(
            name="lastfm-hetrec", location="lastfm-hetrec2011-2k", reader="read_lastfm_hetrec",
            licence="HetRec 2011 / Last.fm (readme.txt): non-commercial use; cite Last.fm and HetRec 2011",
            load=lambda p, e, n: read_lastfm_hetrec(p, on_error=e, name=n),
        ),
        DatasetInfo(
            name="mind-sample", location="mind-small-sample", reader="read_mind",
            licence="Microsoft Research License Terms: non-commercial research only",
            load=lambda p, e, n: read_mind(p, on_error=e, name=n),
        ),
    )
}


#: The environment variable naming the folder that holds the named datasets.
DATA_ENV = "INTERESTLM_DATA"
#: ``../shared/data`` beside the source checkout this package runs from (``src/interestlm/data``
#: is three levels below the checkout's root), wherever the command is started.
CHECKOUT_DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"
#: Table files read with guessed (or named) columns.
TABLE_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz", ".tab", ".parquet", ".pq")


def default_data_root() -> Path:
    """Where the named datasets live: ``$INTERESTLM_DATA`` when set, else ``../shared/data`` beside
    the package's source checkout (found from the package's location, not the current directory)."""
    env = os.environ.get(DATA_ENV, "").strip()
    if env:
        return Path(env).expanduser().resolve()
    return CHECKOUT_DATA


def load_dataset(
    name_or_path: str,
    *,
    data_root: Path | None = None,
    on_error: OnError = "raise",
    columns: Mapping[str, str | None] | None = None,
    items: Path | str | None = None,
) -> Dataset:
    """Load a named dataset (see :data:`DATASETS`) or a folder/file recognised by its contents.

    Names are looked up first (under ``data_root``, default :func:`default_data_root`); anything
    else must be an existing path. A CSV/TSV/Parquet table (or a folder holding one) is read with
    columns guessed from common names or named by ``columns`` (``{"user", "item", "time",
    "rating"}``, see :func:`interestlm.data.from_pandas`), with ``items`` an optional item table.
    Unknown names raise a ValueError that lists the known ones.
    """
    info = DATASETS.get(name_or_path)
    if info is not None:
        if columns or items is not None:
            raise BadInputError(f"{info.name} is a named dataset read by {info.reader}: columns and items are "
                                "for your own table files")
        if info.shipped:
            return info.load(Path(info.location), on_error, info.name)
        # A root the caller names is their path (relative to the current directory); the default is not.
        root = Path(data_root).resolve() if data_root is not None else default_data_root()
        location = root / info.location
        if not location.exists():
            if data_root is not None:
                source = "the data root given"
            elif os.environ.get(DATA_ENV, "").strip():
                source = f"${DATA_ENV}"
            else:
                source = f"the default: ../shared/data beside the checkout, as ${DATA_ENV} is unset"
            raise FileNotFoundError(
                f"dataset {info.name!r} expected at {location}, which does not exist (data root {root}: {source}); "
                f"point elsewhere with --data-root DIR (library: load_dataset(..., data_root=DIR)) or by setting "
                f"{DATA_ENV}=DIR"
            )
        return info.load(location, on_error, info.name)
    path = Path(name_or_path)
    if not path.exists():
        raise ValueError(
            f"unknown dataset {name_or_path!r}: not a known name ({', '.join(DATASETS)}) nor an existing path"
        )
    return load_path(path, on_error=on_error, columns=columns, items=items)


def load_path(
    path: Path,
    *,
    on_error: OnError = "raise",
    columns: Mapping[str, str | None] | None = None,
    items: Path | str | None = None,
) -> Dataset:
    """Read a folder or file, choosing the reader from the file names it holds (see :func:`load_dataset`)."""
    if columns or items is not None:
        table = path if path.is_file() else _only_table(path)
        return read_guessed_table(table, columns=columns, items=items, on_error=on_error, name=_stem(table))
    if path.is_file():
        return _load_file(path, on_error)
    names = {p.name for p in path.iterdir() if p.is_file()}

    def has(*wanted: str) -> bool:
        return all(w in names or f"{w}.gz" in names for w in wanted)

    name = path.name
    if has("ratings.csv", "movies.csv") or (has("ratings.csv") and _is_movielens_ratings(path)):
        # movies.csv is optional: without it the rated items form the catalog, with empty text.
        return read_movielens(path, on_error=on_error, name=name)
    if has("u.data", "u.item", "u.genre"):
        return read_movielens_100k(path, on_error=on_error, name=name)
    if has("ratings.dat", "movies.dat"):
        return read_movielens_1m(path, on_error=on_error, name=name)
    if has("user_artists.dat"):
        return read_lastfm_hetrec(path, on_error=on_error, name=name)
    if has("behaviors.tsv", "news.tsv"):
        return read_mind(path, on_error=on_error, name=name)
    if any(n.endswith(".train.inter") for n in names):
        return read_unisrec(path, on_error=on_error, name=name)
    candidates = sorted(
        n for n in names
        if n.endswith((".inter", ".jsonl", ".jsonl.gz", ".json", ".json.gz"))
        and not n.startswith("meta_") and not n.endswith("_item2attributes.json")
    )
    sequences = sorted(n for n in names if n.endswith(".txt") and f"{n[:-4]}_item2attributes.json" in names)
    found = candidates + sequences
    if len(found) == 1:
        return _load_file(path / found[0], on_error)
    if found:
        raise ValueError(f"{path} holds several datasets ({', '.join(found)}): pass one file")
    tables = _tables(path)
    if len(tables) == 1:
        return _load_file(tables[0], on_error)
    if tables:
        raise ValueError(f"{path} holds several tables ({', '.join(t.name for t in tables)}): pass one file "
                         "(and --items FILE for an item table)")
    raise ValueError(
        f"{path}: no known dataset files (MovieLens, S3-Rec, Amazon, RecBole, UniSRec, HetRec, MIND) "
        "nor a CSV/TSV/Parquet table"
    )


def _load_file(path: Path, on_error: OnError) -> Dataset:
    name = path.name
    if name.endswith(".inter"):
        return read_recbole(path, on_error=on_error)
    if name.endswith(".txt") and path.with_name(f"{path.stem}_item2attributes.json").is_file():
        return read_s3rec(path, on_error=on_error)
    if name.endswith((".json", ".json.gz", ".jsonl", ".jsonl.gz")):
        meta = _amazon_meta(path)
        return read_amazon(path, on_error=on_error, meta=meta)
    if name in ("ratings.csv", "movies.csv") and _is_movielens_ratings(path.parent):
        return read_movielens(path.parent, on_error=on_error, name=path.parent.name)
    if name.lower().endswith(TABLE_SUFFIXES):
        return read_guessed_table(path, on_error=on_error, name=_stem(path))
    raise ValueError(
        f"{path}: cannot tell the dataset from this file name; pass a CSV/TSV/Parquet table "
        "(columns guessed, or named with --user-col/--item-col/--time-col/--rating-col), "
        "or use interestlm.data.read_table with a ColumnMap"
    )


def _is_movielens_ratings(folder: Path) -> bool:
    """Whether ``folder``'s ratings.csv has the MovieLens latest header (not some other ratings table)."""
    try:
        ratings = find_file(folder, "ratings.csv")
    except FileNotFoundError:
        return False
    return first_line(ratings).replace(" ", "") == "userId,movieId,rating,timestamp"


def _tables(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name.lower().endswith(TABLE_SUFFIXES))


def _only_table(folder: Path) -> Path:
    tables = _tables(folder)
    if len(tables) != 1:
        found = ", ".join(t.name for t in tables) or "none"
        raise ValueError(f"{folder}: expected one CSV/TSV/Parquet table to read with columns, found {found}")
    return tables[0]


def _stem(path: Path) -> str:
    name = path.name
    for suffix in sorted(TABLE_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _amazon_meta(path: Path) -> Path | None:
    """The metadata file beside an Amazon review file, by the releases' naming conventions."""
    name = path.name
    base = name.removesuffix(".gz")
    ext = ".jsonl" if base.endswith(".jsonl") else ".json"
    stem = base.removesuffix(ext).removeprefix("reviews_").removesuffix("_5")
    for candidate in (f"meta_{stem}{ext}", f"meta_{stem}{ext}.gz"):
        meta = path.with_name(candidate)
        if meta.is_file():
            return meta
    return None
