"""Snapshots of the served state, so start-up replays only the tail of the log.

A snapshot taken at log position ``seq`` holds what the log's rows up to ``seq`` changed in the
freshly loaded artifacts: the items added (every ``items`` row's body, in order: they are applied
again by the same calls, which rebuilds the catalogue, vectors, concepts and ranker exactly), the
users created (in order, so user rows keep their index) and the profiles written by events and
edits (through the artifacts' own exact profile format, ``profiles.jsonl`` +
``profile_vectors.npz``). Profiles built by reads only are not kept: a restart builds them on
first use, as a full replay would.

Layout: ``DIR/snapshot.json`` (seq, store id, artifacts digest, users, items rows) beside the
profile files, written into a temporary directory and renamed into place, so a crash mid-write
leaves the previous snapshot. A snapshot that does not match the store (another store id, a seq
past the log's end) or the artifacts is ignored with a warning, and the whole log is replayed.
Replicas on one host may share the directory (their states at a seq are identical): a lock file
beside it (``flock``) keeps one process's swap from interleaving with another's write or read.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interestlm.artifacts import load_profiles, save_profiles
from interestlm.core.schema import InterestProfile

FORMAT = 1


@dataclass(frozen=True, kw_only=True)
class Snapshot:
    """The state changed by the log up to ``seq``."""

    seq: int
    store_id: str | None
    artifacts: str | None
    users: list[str]
    items_rows: list[dict[str, Any]]
    last_ts: int
    profiles: list[InterestProfile]


def snapshot_dir_for(store_path: Path) -> Path:
    """The snapshot directory beside a SQLite store: ``STORE.snapshot``."""
    return store_path.with_name(store_path.name + ".snapshot")


@contextlib.contextmanager
def _locked(directory: Path, *, shared: bool) -> Iterator[None]:
    """Hold ``DIR.lock`` (shared to read, exclusive to write) for the block."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory.with_name(directory.name + ".lock"), os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def save_snapshot(directory: Path, snap: Snapshot) -> None:
    """Write ``snap`` to ``directory`` atomically (a temporary directory renamed into place; 0700)."""
    with _locked(directory, shared=False):
        _save(directory, snap)


def _save(directory: Path, snap: Snapshot) -> None:
    tmp = directory.with_name(directory.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(mode=0o700, parents=True)
    meta = {
        "format": FORMAT,
        "seq": snap.seq,
        "store_id": snap.store_id,
        "artifacts": snap.artifacts,
        "users": snap.users,
        "items_rows": snap.items_rows,
        "last_ts": snap.last_ts,
    }
    save_profiles(tmp, snap.profiles)
    with open(tmp / "snapshot.json", "w", encoding="utf-8") as out:
        json.dump(meta, out, ensure_ascii=False, separators=(",", ":"))
        out.flush()
        os.fsync(out.fileno())
    old = directory.with_name(directory.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if directory.exists():
        os.replace(directory, old)
    os.replace(tmp, directory)
    shutil.rmtree(old, ignore_errors=True)


def load_snapshot(directory: Path) -> Snapshot | None:
    """The snapshot in ``directory`` (None if there is none); a malformed one raises ValueError."""
    if not directory.exists():
        return None
    with _locked(directory, shared=True):
        return _load(directory)


def _load(directory: Path) -> Snapshot | None:
    path = directory / "snapshot.json"
    if not path.exists():
        return None
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT:
            raise ValueError(f"format {meta.get('format')!r}, this release reads {FORMAT}")
        return Snapshot(
            seq=int(meta["seq"]),
            store_id=meta["store_id"],
            artifacts=meta["artifacts"],
            users=[str(u) for u in meta["users"]],
            items_rows=list(meta["items_rows"]),
            last_ts=int(meta["last_ts"]),
            profiles=load_profiles(directory),
        )
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{directory}: unreadable snapshot ({type(exc).__name__}: {exc})") from None
