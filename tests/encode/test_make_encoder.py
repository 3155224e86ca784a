from __future__ import annotations

from pathlib import Path

import pytest

from interestlm.encode import (
    CachedEncoder,
    Encoder,
    HashingEncoder,
    MiniLMOnnxEncoder,
    SentenceTransformerEncoder,
    make_encoder,
)


def test_names() -> None:
    for name in ("minilm", "minilm-onnx"):
        enc = make_encoder(name, threads=1)
        assert isinstance(enc, MiniLMOnnxEncoder) and enc.threads == 1
    st = make_encoder("minilm-st", threads=2)
    assert isinstance(st, SentenceTransformerEncoder) and st.bundled and st.threads == 2
    hashing = make_encoder("hashing")
    assert isinstance(hashing, HashingEncoder) and hashing.dim == 512
    assert make_encoder("hashing-96").dim == 96
    other = make_encoder("my-org/some-model")
    assert isinstance(other, SentenceTransformerEncoder) and other.model_id == "my-org/some-model"
    assert other._model is None  # nothing is loaded (or downloaded) until first use
    # On Python 3.11 isinstance() against a runtime Protocol reads properties: `other` would load.
    for enc in (st, hashing, make_encoder("minilm", threads=1)):
        assert isinstance(enc, Encoder)
    assert st._model is None


def test_cache_wrapping(tmp_path: Path) -> None:
    enc = make_encoder("hashing-32", cache_dir=tmp_path / "vectors")
    assert isinstance(enc, CachedEncoder) and isinstance(enc.encoder, HashingEncoder)
    assert enc.model_id == "hashing-32-seed0"
    assert enc.encode(["a b"]).shape == (1, 32)
    assert (tmp_path / "vectors" / "index.sqlite").is_file()


@pytest.mark.parametrize("name", ["hashing-", "hashing-x", "hashing-0", "hashing--5", " "])
def test_bad_names(name: str) -> None:
    with pytest.raises(ValueError, match="encoder name"):
        make_encoder(name)


def test_the_cache_folder_may_come_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INTERESTLM_CACHE", raising=False)
    assert not isinstance(make_encoder("hashing"), CachedEncoder)
    monkeypatch.setenv("INTERESTLM_CACHE", str(tmp_path / "vectors"))
    cached = make_encoder("hashing")
    assert isinstance(cached, CachedEncoder)
    first = cached.encode(["a tent for two", "hiking boots"])
    again = make_encoder("hashing").encode(["a tent for two", "hiking boots"])
    assert (first == again).all() and any((tmp_path / "vectors").iterdir())
    # An explicit folder wins over the environment.
    assert isinstance(make_encoder("hashing", cache_dir=tmp_path / "mine"), CachedEncoder)
