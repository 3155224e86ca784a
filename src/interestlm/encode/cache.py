"""A content-addressed vector cache on disk: only texts never seen before reach the model.

Layout of ``cache_dir``::

    index.sqlite      table vectors(model_id, key, shard, row): key = sha256 of the UTF-8 text
    shards/<uuid>.npy one float32 matrix per batch of misses (append-only, never rewritten)

A shard is written (atomically, by rename) before its keys enter the index, so a crash leaves at
worst an unreferenced shard file, never a key without its vector. Several processes may share a
directory: shard names are unique and index inserts ignore keys another writer added first.
No pickle anywhere: ``.npy`` files are read with ``allow_pickle=False``.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Protocol

import numpy as np

from interestlm.core.types import FloatArray
from interestlm.encode.base import Encoder

_SCHEMA = """
CREATE TABLE IF NOT EXISTS vectors (
    model_id TEXT NOT NULL,
    key BLOB NOT NULL,
    shard TEXT NOT NULL,
    row INTEGER NOT NULL,
    PRIMARY KEY (model_id, key)
) WITHOUT ROWID
"""
# SQLite's default limit on bound parameters is 999 in older builds.
_CHUNK = 900


def text_key(text: str) -> bytes:
    """The cache key of ``text``: the sha256 digest of its UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).digest()


class _Named(Protocol):
    """What the cache needs of a model: its id (part of every key) and its dimension."""

    @property
    def model_id(self) -> str: ...

    @property
    def dim(self) -> int: ...


class VectorCache:
    """Vectors of one model kept in ``cache_dir`` under ``(model.model_id, key)``: see
    :meth:`encode_keyed`. Text and image encoders share it (keys: sha256 of the text or of the
    file's bytes)."""

    def __init__(self, model: _Named, cache_dir: Path | str) -> None:
        self.model = model
        self.cache_dir = Path(cache_dir)
        if self.cache_dir.exists() and not self.cache_dir.is_dir():
            raise ValueError(f"cache_dir {self.cache_dir} exists and is not a directory")
        (self.cache_dir / "shards").mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute(_SCHEMA)

    @property
    def model_id(self) -> str:
        """The wrapped model's id."""
        return self.model.model_id

    @property
    def dim(self) -> int:
        """The wrapped model's dimension."""
        return self.model.dim

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self.cache_dir / "index.sqlite", timeout=60.0)) as db:
            db.execute("PRAGMA journal_mode=WAL")
            with db:
                yield db

    def __len__(self) -> int:
        """Number of vectors cached for this model id."""
        with self._connect() as db:
            (n,) = db.execute("SELECT COUNT(*) FROM vectors WHERE model_id = ?", (self.model_id,)).fetchone()
        return int(n)

    def _lookup(self, db: sqlite3.Connection, keys: list[bytes]) -> dict[bytes, tuple[str, int]]:
        found: dict[bytes, tuple[str, int]] = {}
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = db.execute(
                f"SELECT key, shard, row FROM vectors WHERE model_id = ? AND key IN ({marks})",
                (self.model_id, *chunk),
            )
            for key, shard, row in rows:
                found[bytes(key)] = (str(shard), int(row))
        return found

    def _read(self, n: int, where: dict[str, list[tuple[int, int]]]) -> FloatArray | None:
        out: FloatArray | None = None
        for shard, pairs in where.items():
            path = self.cache_dir / "shards" / shard
            try:
                matrix = np.load(path, mmap_mode="r", allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise ValueError(f"vector cache shard {path} is missing or unreadable: {exc}") from exc
            if out is None and matrix.ndim == 2:
                # The shard knows the dimension, so a fully cached call never has to load the model.
                out = np.zeros((n, matrix.shape[1]), dtype=np.float32)
            if out is None or matrix.ndim != 2 or matrix.shape[1] != out.shape[1]:
                expected = out.shape[1] if out is not None else "dim"
                raise ValueError(f"vector cache shard {path} has shape {matrix.shape}, expected (*, {expected})")
            targets = np.fromiter((t for t, _ in pairs), dtype=np.int64, count=len(pairs))
            rows = np.fromiter((r for _, r in pairs), dtype=np.int64, count=len(pairs))
            out[targets] = matrix[rows]
        return out

    def _write(self, vectors: FloatArray) -> str:
        name = f"{uuid.uuid4().hex}.npy"
        final = self.cache_dir / "shards" / name
        tmp = final.with_suffix(".tmp")
        with open(tmp, "wb") as fh:
            np.save(fh, np.ascontiguousarray(vectors, dtype=np.float32), allow_pickle=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
        return name

    def forget(self, keys: Sequence[bytes]) -> None:
        """Drop ``keys`` from the index (their rows stay in the append-only shards, unreferenced)."""
        with self._connect() as db:
            for start in range(0, len(keys), _CHUNK):
                chunk = list(keys[start : start + _CHUNK])
                marks = ",".join("?" * len(chunk))
                db.execute(f"DELETE FROM vectors WHERE model_id = ? AND key IN ({marks})", (self.model_id, *chunk))

    def encode_keyed(
        self, keys: Sequence[bytes], compute: Callable[[list[int]], FloatArray], *, dim: int | None
    ) -> FloatArray:
        """Rows for ``keys`` from the cache; ``compute(positions)`` makes the misses' rows (one per
        distinct missing key, at its first position) and they are stored. ``dim`` sizes the output
        when nothing is cached (None: ask the encoder)."""
        with self._connect() as db:
            found = self._lookup(db, list(dict.fromkeys(keys)))
        where: dict[str, list[tuple[int, int]]] = defaultdict(list)
        missing: dict[bytes, list[int]] = {}
        for position, key in enumerate(keys):
            hit = found.get(key)
            if hit is None:
                missing.setdefault(key, []).append(position)
            else:
                where[hit[0]].append((position, hit[1]))
        cached = self._read(len(keys), where)
        if cached is not None:
            out = cached
        else:
            out = np.zeros((len(keys), self.dim if dim is None else dim), dtype=np.float32)
        if missing:
            first = [positions[0] for positions in missing.values()]
            vectors = np.asarray(compute(first), dtype=np.float32)
            if vectors.shape != (len(first), out.shape[1]):
                raise ValueError(
                    f"encoder {self.model_id} returned shape {vectors.shape}, expected ({len(first)}, {out.shape[1]})"
                )
            shard = self._write(vectors)
            with self._connect() as db:
                db.executemany(
                    "INSERT OR IGNORE INTO vectors (model_id, key, shard, row) VALUES (?, ?, ?, ?)",
                    ((self.model_id, key, shard, row) for row, key in enumerate(missing)),
                )
            for row, positions in enumerate(missing.values()):
                out[positions] = vectors[row]
        return out


class CachedEncoder(VectorCache):
    """Wraps an :class:`~interestlm.encode.base.Encoder`; vectors persist in ``cache_dir``.

    Keys are ``(encoder.model_id, sha256(text))``, so two models never share vectors. Each
    :meth:`encode` call looks every text up, encodes the distinct misses in one call to the
    wrapped encoder, stores them, and returns all rows in input order.
    """

    def __init__(self, encoder: Encoder, cache_dir: Path | str) -> None:
        super().__init__(encoder, cache_dir)
        self.encoder = encoder

    def encode(self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False) -> FloatArray:
        """Vectors of ``texts`` from the cache, encoding (and storing) only the misses."""

        def compute(positions: list[int]) -> FloatArray:
            picked = [texts[p] for p in positions]
            return np.asarray(self.encoder.encode(picked, batch_size=batch_size, progress=progress), dtype=np.float32)

        return self.encode_keyed([text_key(t) for t in texts], compute, dim=None)
