from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interestlm.core.types import FloatArray
from interestlm.encode import CachedEncoder, Encoder, HashingEncoder, MiniLMOnnxEncoder, make_encoder
from interestlm.encode.st import SentenceTransformerEncoder


class Counting:
    """A real encoder that records what reaches it."""

    def __init__(self, inner: Encoder) -> None:
        self.inner = inner
        self.calls = 0
        self.texts: list[str] = []

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    @property
    def dim(self) -> int:
        return self.inner.dim

    def encode(self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False) -> FloatArray:
        self.calls += 1
        self.texts.extend(texts)
        return self.inner.encode(texts, batch_size=batch_size, progress=progress)


TEXTS = ["jazz saxophone album", "bebop trumpet record", "stainless kitchen knife set", "", "Toy Story (1995)"]


def test_second_call_reads_disk_and_skips_the_model(tmp_path: Path) -> None:
    counting = Counting(HashingEncoder(dim=64))
    cached = CachedEncoder(counting, tmp_path)
    first = cached.encode(TEXTS)
    assert counting.calls == 1 and counting.texts == TEXTS
    second = cached.encode(TEXTS[::-1])
    assert counting.calls == 1
    np.testing.assert_array_equal(second, first[::-1])
    np.testing.assert_array_equal(first, HashingEncoder(dim=64).encode(TEXTS))
    assert len(cached) == len(TEXTS)
    assert cached.model_id == "hashing-64-seed0" and cached.dim == 64


def test_only_misses_are_encoded_once_each(tmp_path: Path) -> None:
    counting = Counting(HashingEncoder(dim=32))
    cached = CachedEncoder(counting, tmp_path)
    cached.encode(TEXTS[:2])
    texts = ["new one", TEXTS[0], "new one", TEXTS[1], "another"]
    out = cached.encode(texts)
    assert counting.texts == [*TEXTS[:2], "new one", "another"]
    np.testing.assert_array_equal(out, HashingEncoder(dim=32).encode(texts))
    assert cached.encode([]).shape == (0, 32)


def test_cache_survives_reopening(tmp_path: Path) -> None:
    first = CachedEncoder(HashingEncoder(dim=16), tmp_path).encode(TEXTS)
    counting = Counting(HashingEncoder(dim=16))
    reopened = CachedEncoder(counting, tmp_path)
    np.testing.assert_array_equal(reopened.encode(TEXTS), first)
    assert counting.calls == 0


def test_model_ids_do_not_collide(tmp_path: Path) -> None:
    a = CachedEncoder(HashingEncoder(dim=16, seed=0), tmp_path)
    counting = Counting(HashingEncoder(dim=16, seed=1))
    b = CachedEncoder(counting, tmp_path)
    va = a.encode(TEXTS)
    vb = b.encode(TEXTS)
    assert counting.texts == TEXTS
    assert not np.allclose(va[:3], vb[:3])
    np.testing.assert_array_equal(vb, HashingEncoder(dim=16, seed=1).encode(TEXTS))
    assert len(a) == len(b) == len(TEXTS)


def test_fully_cached_call_does_not_load_the_model(tmp_path: Path) -> None:
    # A sentence-transformers encoder that cannot load: a fully cached call must never need it.
    unloadable = SentenceTransformerEncoder("/nonexistent/model/path")

    class SameId(Counting):
        @property
        def model_id(self) -> str:
            return unloadable.model_id

    CachedEncoder(SameId(HashingEncoder(dim=384)), tmp_path).encode(TEXTS)
    out = CachedEncoder(unloadable, tmp_path).encode(TEXTS[::-1])
    assert unloadable._model is None
    np.testing.assert_array_equal(out, HashingEncoder(dim=384).encode(TEXTS[::-1]))


def test_damaged_cache_is_reported(tmp_path: Path) -> None:
    cached = CachedEncoder(HashingEncoder(dim=16), tmp_path)
    cached.encode(TEXTS)
    for shard in (tmp_path / "shards").glob("*.npy"):
        shard.unlink()
    with pytest.raises(ValueError, match="missing or unreadable"):
        cached.encode(TEXTS)
    file_path = tmp_path / "a-file"
    file_path.write_text("x")
    with pytest.raises(ValueError, match="not a directory"):
        CachedEncoder(HashingEncoder(), file_path)


def test_dimension_mismatch_is_reported(tmp_path: Path) -> None:
    CachedEncoder(HashingEncoder(dim=16), tmp_path).encode(TEXTS[:2])

    class Same(Counting):
        @property
        def model_id(self) -> str:
            return "hashing-16-seed0"

    with pytest.raises(ValueError, match="expected"):
        CachedEncoder(Same(HashingEncoder(dim=8)), tmp_path).encode(TEXTS)


@settings(max_examples=12, deadline=None)
@given(
    batches=st.lists(
        st.lists(st.sampled_from(["a", "b c", "", "d e f", "ünï", "g", "h i"]), max_size=6), min_size=1, max_size=4
    )
)
def test_cached_equals_direct_for_any_call_sequence(batches: list[list[str]]) -> None:
    direct = HashingEncoder(dim=8)
    with tempfile.TemporaryDirectory() as tmp:
        counting = Counting(HashingEncoder(dim=8))
        cached = CachedEncoder(counting, Path(tmp))
        for texts in batches:
            np.testing.assert_array_equal(cached.encode(texts), direct.encode(texts).reshape(len(texts), 8))
        # Every distinct text reached the model exactly once.
        assert sorted(counting.texts) == sorted({t for texts in batches for t in texts})


def test_cached_minilm_equals_direct(tmp_path: Path) -> None:
    onnx = MiniLMOnnxEncoder(threads=1)
    cached = make_encoder("minilm", cache_dir=tmp_path, threads=1)
    assert isinstance(cached, CachedEncoder) and cached.model_id == onnx.model_id
    np.testing.assert_array_equal(cached.encode(TEXTS), onnx.encode(TEXTS))
    np.testing.assert_array_equal(cached.encode(TEXTS), onnx.encode(TEXTS))
