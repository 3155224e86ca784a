from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interestlm.encode import HashingEncoder, l2_normalise
from interestlm.retrieve import ExactIndex, FaissIndex, VectorIndex


def unit_vectors(n: int, d: int, seed: int) -> np.ndarray:
    return l2_normalise(np.random.default_rng(seed).standard_normal((n, d)))


def random_exclusions(n_queries: int, n_items: int, max_size: int, seed: int) -> list[set[int]]:
    rng = np.random.default_rng(seed)
    return [set(rng.choice(n_items, rng.integers(0, max_size + 1), replace=False).tolist()) for _ in range(n_queries)]


def test_flat_equals_exact_on_random_data() -> None:
    items, queries = unit_vectors(3000, 32, 0), unit_vectors(60, 32, 1)
    s_exact, i_exact = ExactIndex(items).search(queries, 10)
    s_flat, i_flat = FaissIndex(items, kind="flat").search(queries, 10)
    np.testing.assert_array_equal(i_flat, i_exact)
    np.testing.assert_allclose(s_flat, s_exact, atol=1e-5)
    # The oracle really is the brute-force answer.
    brute = np.argsort(-(queries @ items.T), axis=1, kind="stable")[:, :10]
    np.testing.assert_array_equal(i_exact, brute)
    assert i_exact.dtype == np.int32 and s_exact.dtype == np.float32


def test_flat_equals_exact_with_exclusions() -> None:
    items, queries = unit_vectors(800, 16, 2), unit_vectors(40, 16, 3)
    exclude = random_exclusions(40, 800, 300, seed=4)
    # Exclude each query's true best items too, so filtering has to matter.
    full = np.argsort(-(queries @ items.T), axis=1)
    for row, ex in enumerate(exclude):
        ex.update(full[row, :5].tolist())
    s_exact, i_exact = ExactIndex(items).search(queries, 20, exclude=exclude)
    s_flat, i_flat = FaissIndex(items).search(queries, 20, exclude=exclude)
    np.testing.assert_array_equal(i_flat, i_exact)
    np.testing.assert_allclose(s_flat, s_exact, atol=1e-5)
    for row, ex in enumerate(exclude):
        assert not ex & set(i_exact[row].tolist())
        assert (i_exact[row] >= 0).all()


def test_hnsw_recall_at_10_vs_exact() -> None:
    items, queries = unit_vectors(5000, 32, 5), unit_vectors(200, 32, 6)
    _, truth = ExactIndex(items).search(queries, 10)
    _, approx = FaissIndex(items, kind="hnsw", m=32, ef_construction=100, ef_search=128).search(queries, 10)
    recall = np.mean([len(set(a.tolist()) & set(t.tolist())) / 10 for a, t in zip(approx, truth, strict=True)])
    assert recall >= 0.95, recall


def test_hnsw_honours_exclusions() -> None:
    items, queries = unit_vectors(2000, 16, 7), unit_vectors(30, 16, 8)
    exclude = random_exclusions(30, 2000, 200, seed=9)
    _, found = FaissIndex(items, kind="hnsw").search(queries, 10, exclude=exclude)
    for row, ex in enumerate(exclude):
        assert not ex & set(found[row].tolist())
        assert len(set(found[row].tolist())) == 10


@pytest.mark.parametrize("make", [ExactIndex, FaissIndex, lambda x: FaissIndex(x, kind="hnsw")])
def test_added_item_is_searchable_at_once(make: type) -> None:
    encoder = HashingEncoder(dim=64)
    texts = [f"catalogue item number {i} about topic {i % 7}" for i in range(300)]
    index: VectorIndex = make(encoder.encode(texts))
    assert isinstance(index, VectorIndex)
    new = encoder.encode(["a brand new vintage synthesizer with analogue filters"])
    assert index.add(new).tolist() == [300]
    assert len(index) == 301
    scores, found = index.search(new, 3)
    assert found[0, 0] == 300
    assert scores[0, 0] == pytest.approx(1.0, abs=1e-5)
    # Excluding the new item hides it again.
    _, found = index.search(new, 3, exclude=[{300}])
    assert 300 not in found[0].tolist()


@pytest.mark.parametrize("make", [ExactIndex, FaissIndex, lambda x: FaissIndex(x, kind="hnsw")])
def test_short_answers_are_padded(make: type) -> None:
    items = unit_vectors(12, 8, 10)
    index = make(items)
    scores, found = index.search(items[:2], 5, exclude=[set(range(3, 12)), set(range(12))])
    assert sorted(found[0, :3].tolist()) == [0, 1, 2]
    assert found[0, 3:].tolist() == [-1, -1]
    assert np.isneginf(scores[0, 3:]).all() and np.isfinite(scores[0, :3]).all()
    assert (found[1] == -1).all()


def test_k_larger_than_catalogue() -> None:
    items = unit_vectors(4, 8, 11)
    _, found = FaissIndex(items).search(items[:1], 6)
    assert sorted(found[0, :4].tolist()) == [0, 1, 2, 3] and found[0, 4:].tolist() == [-1, -1]


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(1, 60),
    d=st.integers(1, 12),
    q=st.integers(1, 6),
    k=st.integers(1, 15),
    seed=st.integers(0, 10_000),
)
def test_flat_agrees_with_exact_property(n: int, d: int, q: int, k: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    items = rng.standard_normal((n, d)).astype(np.float32)
    queries = rng.standard_normal((q, d)).astype(np.float32)
    exclude = [set(rng.choice(n, rng.integers(0, n + 1), replace=False).tolist()) for _ in range(q)]
    s_exact, i_exact = ExactIndex(items).search(queries, k, exclude=exclude)
    s_flat, i_flat = FaissIndex(items).search(queries, k, exclude=exclude)
    np.testing.assert_array_equal(i_flat, i_exact)
    np.testing.assert_allclose(s_flat, s_exact, atol=1e-4)
    for row in range(q):
        got = [i for i in i_exact[row].tolist() if i >= 0]
        assert len(got) == min(k, n - len(exclude[row]))
        assert not set(got) & exclude[row]
        assert np.all(np.diff(s_exact[row][: len(got)]) <= 1e-6)


def test_faiss_save_and_load_round_trip(tmp_path: Path) -> None:
    items, queries = unit_vectors(500, 16, 12), unit_vectors(5, 16, 13)
    for kind in ("flat", "hnsw"):
        index = FaissIndex(items, kind=kind)  # type: ignore[arg-type]
        path = index.save(tmp_path / f"{kind}.faiss")
        loaded = FaissIndex.load(path)
        assert loaded.kind == kind and len(loaded) == 500
        np.testing.assert_array_equal(loaded.search(queries, 5)[1], index.search(queries, 5)[1])
    with pytest.raises(FileNotFoundError):
        FaissIndex.load(tmp_path / "missing.faiss")


def test_bad_input_is_named() -> None:
    items = unit_vectors(10, 8, 14)
    for index in (ExactIndex(items), FaissIndex(items)):
        with pytest.raises(ValueError, match="dimension 4"):
            index.search(np.ones((1, 4), np.float32), 3)
        with pytest.raises(ValueError, match="k must be"):
            index.search(items[:1], 0)
        with pytest.raises(ValueError, match="one per query"):
            index.search(items[:2], 3, exclude=[set()])
        with pytest.raises(ValueError, match="NaN"):
            index.add(np.full((1, 8), np.nan, np.float32))
    with pytest.raises(ValueError, match="2-D"):
        ExactIndex(np.ones(5, np.float32))
    with pytest.raises(ValueError, match="kind"):
        FaissIndex(items, kind="ivf")  # type: ignore[arg-type]
