"""Text -> L2-normalised float32 vectors: bundled MiniLM (ONNX or sentence-transformers), hashing, cache."""

from __future__ import annotations

import os
from pathlib import Path

from interestlm.encode.base import Encoder, LazyEncoder, l2_normalise
from interestlm.encode.cache import CachedEncoder
from interestlm.encode.hashing import HashingEncoder
from interestlm.encode.onnx import MiniLMOnnxEncoder
from interestlm.encode.st import SentenceTransformerEncoder

__all__ = [
    "CachedEncoder",
    "Encoder",
    "HashingEncoder",
    "LazyEncoder",
    "MiniLMOnnxEncoder",
    "SentenceTransformerEncoder",
    "l2_normalise",
    "make_encoder",
]


def _base_encoder(name: str, threads: int | None) -> Encoder:
    if name in ("minilm", "minilm-onnx"):
        return MiniLMOnnxEncoder(threads=threads)
    if name == "minilm-st":
        return SentenceTransformerEncoder("all-MiniLM-L6-v2", threads=threads)
    if name == "hashing":
        return HashingEncoder()
    if name.startswith("hashing-"):
        dim = name.removeprefix("hashing-")
        if not dim.isdigit() or int(dim) <= 0:
            raise ValueError(f"encoder name {name!r}: expected 'hashing-<positive dim>', e.g. 'hashing-256'")
        return HashingEncoder(dim=int(dim))
    if not name.strip():
        raise ValueError("encoder name is empty")
    return SentenceTransformerEncoder(name, threads=threads)


#: Environment variable naming a vector cache folder used when no ``cache_dir`` is given.
CACHE_ENV = "INTERESTLM_CACHE"


def make_encoder(name: str = "minilm", *, cache_dir: Path | str | None = None, threads: int | None = None) -> Encoder:
    """The encoder called ``name``, wrapped in a :class:`CachedEncoder` when ``cache_dir`` (else the
    ``INTERESTLM_CACHE`` environment variable) names a folder.

    ``"minilm"`` / ``"minilm-onnx"``: int8 ONNX all-MiniLM-L6-v2 (default, no torch);
    ``"minilm-st"``: the same model through sentence-transformers (bundled weights);
    ``"hashing"`` / ``"hashing-<dim>"``: :class:`HashingEncoder`; any other name or path: a
    sentence-transformers model.
    """
    encoder = _base_encoder(name, threads)
    cache = cache_dir if cache_dir is not None else os.environ.get(CACHE_ENV) or None
    return CachedEncoder(encoder, Path(cache)) if cache is not None else encoder
