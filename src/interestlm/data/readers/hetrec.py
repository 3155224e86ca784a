"""HetRec 2011 Last.fm (2K users): user-artist play counts, artist names, tags, friendships.

``user_artists.dat`` (``userID \\t artistID \\t weight``) gives one ``kind="play"`` row per pair with
the listening count as ``Interactions.weight``. There are no times: rows get their position among
the user's rows (file order) and ``has_time=False``. ``artists.dat`` (UTF-8) names the artists.
``tags.dat`` is Latin-1 and only links to artists through ``user_taggedartists.dat``; when that
file is absent the tags are read, validated and reported as unlinked. The social graph is not part
of a :class:`Dataset`; :func:`read_lastfm_friends` returns it.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import numpy.typing as npt

from interestlm.core.errors import LoadReport, OnError, RowGuard
from interestlm.core.tables import Catalog, Dataset
from interestlm.data.build import assemble
from interestlm.data.readers._common import find_file, kept, new_report_guard, normalise_tag, split_rows, unique
from interestlm.data.readers.generic import positions


def read_lastfm_hetrec(path: Path | str, *, on_error: OnError = "raise", name: str | None = None) -> Dataset:
    """Read the HetRec Last.fm folder into a dataset of plays (weight = play count)."""
    folder = Path(path)
    report, guard = new_report_guard(on_error)

    artists = split_rows(
        find_file(folder, "artists.dat"), ("id", "name", "url", "pictureURL"), sep="\t",
        header=("id", "name", "url", "pictureURL"), min_fields=2,
    )
    artists.ints("id", low=0)
    artists.unique_ids("id")
    keep = artists.finish(guard)
    artist_ids = kept(artists.strings("id"), keep)

    tag_names = _read_tags(folder, guard)
    tags_by_artist: dict[str, list[str]] = defaultdict(list)
    tagged = folder / "user_taggedartists.dat"
    if tagged.is_file():
        links = split_rows(tagged, ("userID", "artistID", "tagID", "day", "month", "year"), sep="\t",
                           header=("userID", "artistID", "tagID", "day", "month", "year"))
        for col in ("userID", "artistID", "tagID", "day", "month", "year"):
            links.ints(col, low=0)
        for row, tag in enumerate(links.strings("tagID")):
            if tag not in tag_names and not links.bad[row]:
                links.reject(row, "tagID", f"tag {tag} is not in tags.dat")
        keep_links = links.finish(guard)
        for artist, tag in zip(kept(links.strings("artistID"), keep_links), kept(links.strings("tagID"), keep_links),
                               strict=True):
            tags_by_artist[artist].append(tag_names[tag])
    else:
        report.note("tags not linked to artists (user_taggedartists.dat missing)", len(tag_names))
    catalog = Catalog.build(
        artist_ids,
        titles=kept(artists.strings("name"), keep),
        tags=[unique(tags_by_artist.get(a, [])) for a in artist_ids],
    )

    plays = split_rows(
        find_file(folder, "user_artists.dat"), ("userID", "artistID", "weight"), sep="\t",
        header=("userID", "artistID", "weight"),
    )
    plays.ints("userID", low=0)
    plays.ints("artistID", low=0)
    weight = plays.ints("weight", low=0)
    keep = plays.finish(guard)
    users = kept(plays.strings("userID"), keep)
    return assemble(
        name=name or "lastfm-hetrec",
        user_ids=users,
        item_ids=kept(plays.strings("artistID"), keep),
        catalog=catalog,
        timestamp=positions(users),
        weight=weight[keep].astype(np.float32),
        kind="play",
        has_time=False,
        report=report,
    )


def read_lastfm_friends(
    path: Path | str, *, on_error: OnError = "raise", report: LoadReport | None = None
) -> npt.NDArray[np.int64]:
    """Friend pairs of ``user_friends.dat`` as an ``(n, 2)`` int64 array of raw user ids.

    ``path`` is the file or its folder. Malformed rows raise, or with ``on_error="skip"`` are
    counted in ``report`` (pass one to see the counts) and left out.
    """
    file = Path(path)
    if file.is_dir():
        file = find_file(file, "user_friends.dat")
    guard = RowGuard(report if report is not None else LoadReport(), on_error)
    rows = split_rows(file, ("userID", "friendID"), sep="\t", header=("userID", "friendID"))
    user = rows.ints("userID", low=0)
    friend = rows.ints("friendID", low=0)
    keep = rows.finish(guard)
    return np.stack([user[keep], friend[keep]], axis=1).astype(np.int64)


def _read_tags(folder: Path, guard: RowGuard) -> dict[str, str]:
    path = folder / "tags.dat"
    if not path.is_file():
        return {}
    rows = split_rows(path, ("tagID", "tagValue"), sep="\t", encoding="latin-1", header=("tagID", "tagValue"))
    rows.ints("tagID", low=0)
    rows.unique_ids("tagID")
    keep = rows.finish(guard)
    return {t: normalise_tag(v) for t, v in zip(kept(rows.strings("tagID"), keep), kept(rows.strings("tagValue"), keep),
                                                strict=True)}
