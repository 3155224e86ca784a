"""Rebuild the shipped MovieLens sample from ml-latest-small (deterministic).

Usage: ``python -m interestlm.testing.make_sample SOURCE_DIR [OUTPUT_DIR]``

Draws :data:`N_USERS` user ids with ``numpy.random.default_rng(SEED)`` from the sorted distinct
users of ``ratings.csv`` and keeps all their ratings; ``movies.csv`` and ``tags.csv`` keep the rows
of the movies those users rated (tags from every user). Lines are copied byte for byte (header,
quoting and CRLF endings as released), and ``README.txt`` (the GroupLens licence) is copied
verbatim, as the licence requires for redistribution.
"""

from __future__ import annotations

import argparse
import csv
import io
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np

#: Users drawn, and the seed of the draw.
N_USERS = 250
SEED = 2

#: Where the sample lives in the package.
SAMPLE_DIR = Path(__file__).resolve().parent / "data" / "ml-latest-small-sample"


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def _first_fields(line: bytes, n: int) -> list[str]:
    return next(csv.reader(io.StringIO(line.decode("utf-8"))))[:n]


def make_sample(source: Path, output: Path, *, n_users: int = N_USERS, seed: int = SEED) -> dict[str, int]:
    """Write the sample to ``output``; return the number of data rows written per file."""
    ratings = _lines(source / "ratings.csv")
    users = sorted({int(line.split(b",", 1)[0]) for line in ratings[1:]})
    rng = np.random.default_rng(seed)
    chosen = {str(u).encode() for u in rng.choice(users, size=n_users, replace=False).tolist()}
    kept_ratings = [line for line in ratings[1:] if line.split(b",", 1)[0] in chosen]
    movies_rated = {line.split(b",", 2)[1] for line in kept_ratings}

    movies = _lines(source / "movies.csv")
    kept_movies = [line for line in movies[1:] if line.split(b",", 1)[0] in movies_rated]
    tags = _lines(source / "tags.csv")
    kept_tags = [line for line in tags[1:] if _first_fields(line, 2)[1].encode() in movies_rated]

    output.mkdir(parents=True, exist_ok=True)
    (output / "ratings.csv").write_bytes(b"".join([ratings[0], *kept_ratings]))
    (output / "movies.csv").write_bytes(b"".join([movies[0], *kept_movies]))
    (output / "tags.csv").write_bytes(b"".join([tags[0], *kept_tags]))
    shutil.copyfile(source / "README.txt", output / "README.txt")
    return {
        "ratings.csv": len(kept_ratings),
        "movies.csv": len(kept_movies),
        "tags.csv": len(kept_tags),
        "users": n_users,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry: ``SOURCE_DIR [OUTPUT_DIR]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("source", type=Path, help="the ml-latest-small folder")
    parser.add_argument("output", type=Path, nargs="?", default=SAMPLE_DIR)
    args = parser.parse_args(argv)
    counts = make_sample(args.source, args.output)
    print(", ".join(f"{k}: {v}" for k, v in counts.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
