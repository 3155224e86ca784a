"""Where the embarrassingly parallel stages run: the engine hook of the fit pipeline and evaluation.

A stage hands an :class:`Engine` a *shard function* (a picklable callable from a list of items to
one result) and its items; the engine returns one result per shard, in order, and the stage joins
them. :data:`LOCAL` calls the function once on every item in this process, exactly as the pipeline
did without an engine; ``interestlm.engine.RayEngine`` cuts the items into fixed shards and maps
them over Ray Data actors. A shard function must give each item the same answer whatever shard it
sits in (profiles are built per user; vectors per text), so both engines agree.

The shard functions of the fit pipeline are here (texts and pictures encoded, profiles built); a
shipped copy drops any model session it opened and opens its own, on ``worker_threads`` threads
(the Ray engine gives each worker one CPU).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np

from interestlm.core.protocol import EvalTask, Model, TrainData
from interestlm.core.schema import History, InterestProfile
from interestlm.core.types import FloatArray, IntArray
from interestlm.encode import Encoder, make_encoder
from interestlm.encode.image import ImageEncoder, ImageSource, ImageVectors, make_image_encoder
from interestlm.models.ranking import rank_task
from interestlm.profiles import ProfileBuilder

T = TypeVar("T")
R = TypeVar("R")
M = TypeVar("M", bound=Model)


class Engine(Protocol):
    """Runs shard functions and trains models: in this process, or on a cluster."""

    @property
    def name(self) -> str:
        """``local`` or ``ray``."""
        ...

    def map_shards(self, fn: Callable[[list[T]], R], items: Sequence[T], *, shard_size: int) -> list[R]:
        """``fn`` over ``items``, one result per shard in the items' order (shards of at most
        ``shard_size`` items; an engine may use one shard)."""
        ...

    def fit(self, model: M, train: TrainData, valid: EvalTask | None) -> M:
        """``model`` fitted on ``train`` (early stopping on ``valid``): the same object, or an
        equivalent one trained elsewhere; use the returned model."""
        ...


class LocalEngine:
    """This process: each stage runs once over all its items (the pipeline's own behaviour)."""

    name = "local"

    def map_shards(self, fn: Callable[[list[T]], R], items: Sequence[T], *, shard_size: int) -> list[R]:
        """``[fn(items)]``: one shard, so nothing changes against calling ``fn`` directly."""
        return [fn(list(items))]

    def fit(self, model: M, train: TrainData, valid: EvalTask | None) -> M:
        """``model.fit(train, valid=valid)``."""
        return model.fit(train, valid=valid)


#: The default engine of every stage.
LOCAL = LocalEngine()

#: Texts per encoding shard, pictures per picture shard, users per profile shard.
TEXT_SHARD = 1024
IMAGE_SHARD = 256
PROFILE_SHARD = 256


class _Shipped:
    """Pickling drops the model session opened in this process (``encoder``) and makes the copy
    use ``worker_threads`` threads."""

    encoder: Any
    threads: int | None
    worker_threads: int

    def __getstate__(self) -> dict[str, Any]:
        state = dict(vars(self))
        state["encoder"] = None
        state["threads"] = self.worker_threads
        return state


@dataclass(eq=False)
class EncodeTexts(_Shipped):
    """Shard function: texts -> vectors. ``encoder`` (the pipeline's, reused in this process) or
    one built from ``name`` and ``cache_dir`` (a shared cache folder lets workers skip known texts)."""

    name: str
    cache_dir: str | None = None
    threads: int | None = None
    progress: bool = False
    encoder: Encoder | None = None
    worker_threads: int = 1

    def __call__(self, texts: list[str]) -> FloatArray:
        """Vectors of ``texts``, ``(len(texts), dim)``."""
        if self.encoder is None:
            self.encoder = make_encoder(self.name, cache_dir=self.cache_dir, threads=self.threads)
        return self.encoder.encode(texts, progress=self.progress)


@dataclass(eq=False)
class EncodeImages(_Shipped):
    """Shard function: pictures (paths or bytes) -> :class:`ImageVectors`."""

    name: str
    cache_dir: str | None = None
    threads: int | None = None
    progress: bool = False
    encoder: ImageEncoder | None = None
    worker_threads: int = 1

    def __call__(self, sources: list[ImageSource]) -> ImageVectors:
        """One unit vector per picture, failures by position in ``sources``."""
        if self.encoder is None:
            self.encoder = make_image_encoder(self.name, cache_dir=self.cache_dir, threads=self.threads)
        return self.encoder.encode_images(sources, progress=self.progress)


@dataclass(eq=False)
class BuildProfiles:
    """Shard function: ``(user_id, history)`` pairs -> their profiles (one ``build_many`` call)."""

    builder: ProfileBuilder
    progress: bool = False

    def __call__(self, users: list[tuple[str, History]]) -> list[InterestProfile]:
        """The profiles of ``users``, in order."""
        return self.builder.build_many([u for u, _ in users], [h for _, h in users], progress=self.progress)


def encode_texts(engine: Engine, fn: EncodeTexts, texts: Sequence[str]) -> FloatArray:
    """The vectors of ``texts``, encoded by ``fn`` on ``engine``."""
    parts = engine.map_shards(fn, texts, shard_size=TEXT_SHARD)
    out: FloatArray = np.vstack(parts).astype(np.float32, copy=False) if len(parts) > 1 else parts[0]
    return out


def encode_images(engine: Engine, fn: EncodeImages, sources: Sequence[ImageSource]) -> ImageVectors:
    """The pictures' vectors encoded by ``fn`` on ``engine``, failures by position in ``sources``."""
    parts = engine.map_shards(fn, sources, shard_size=IMAGE_SHARD)
    if len(parts) == 1:
        return parts[0]
    starts = np.cumsum([0] + [len(p.vectors) for p in parts])
    return ImageVectors(
        vectors=np.vstack([p.vectors for p in parts]).astype(np.float32, copy=False),
        ok=np.concatenate([p.ok for p in parts]),
        failures=[(int(start) + j, why) for p, start in zip(parts, starts, strict=False) for j, why in p.failures],
    )


def build_profiles(
    engine: Engine, builder: ProfileBuilder, user_ids: Sequence[str], histories: Sequence[History]
) -> list[InterestProfile]:
    """``builder.build_many(user_ids, histories)`` on ``engine``."""
    if len(user_ids) != len(histories):
        raise ValueError(f"{len(user_ids)} user ids but {len(histories)} histories")
    pairs = [(str(u), h) for u, h in zip(user_ids, histories, strict=True)]
    parts = engine.map_shards(BuildProfiles(builder), pairs, shard_size=PROFILE_SHARD)
    return [p for part in parts for p in part]


@dataclass(eq=False)
class RankRows:
    """Shard function: rows of ``task`` -> their top-``k`` items (``rank_task`` on those rows)."""

    model: Model
    task: EvalTask
    k: int
    batch_size: int = 512
    progress: bool = False

    def __call__(self, rows: list[int]) -> IntArray:
        """``(len(rows), k)`` item indices, seen items removed."""
        whole = len(rows) == len(self.task) and rows == list(range(len(self.task)))
        task = self.task if whole else self.task.subset(np.asarray(rows, dtype=np.int64))
        return rank_task(self.model, task, self.k, batch_size=self.batch_size, progress=self.progress)


def rank_rows(
    engine: Engine, model: Model, task: EvalTask, k: int, *, batch_size: int = 512, progress: bool = False
) -> IntArray:
    """``rank_task(model, task, k)`` on ``engine``, rows in the task's order; a shard is one of
    ``rank_task``'s batches, so every user is scored in the same company on both engines."""
    fn = RankRows(model, task, k, batch_size=batch_size, progress=progress)
    parts = engine.map_shards(fn, list(range(len(task))), shard_size=batch_size)
    out: IntArray = np.vstack(parts) if len(parts) > 1 else parts[0]
    return out


def cache_folder(cache_dir: str | Path | None) -> str | None:
    """``cache_dir`` as a string for a shard function (None stays None)."""
    return str(cache_dir) if cache_dir else None
