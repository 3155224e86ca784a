import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interestlm.core.topk import top_k_per_row
from interestlm.retrieve import Cooccurrence, Popularity


def seqs(*rows: list[int]) -> list[np.ndarray]:
    return [np.asarray(r, dtype=np.int32) for r in rows]


def brute_cosine(sequences: list[np.ndarray], n_items: int, window: int) -> np.ndarray:
    """Independent reference: users sharing a pair within the window / sqrt(users(a) users(b))."""
    pair_users = np.zeros((n_items, n_items))
    item_users = np.zeros(n_items)
    for s in sequences:
        pairs = set()
        for i, j in itertools.combinations(range(len(s)), 2):
            if j - i <= window and s[i] != s[j]:
                pairs.add((int(s[i]), int(s[j])))
                pairs.add((int(s[j]), int(s[i])))
        for a, b in pairs:
            pair_users[a, b] += 1
        for a in set(s.tolist()):
            item_users[a] += 1
    denom = np.sqrt(np.outer(item_users, item_users))
    return np.divide(pair_users, denom, out=np.zeros_like(pair_users), where=denom > 0)


def test_planted_neighbours_and_transitions() -> None:
    # 0 -> 1 -> 2 is a path everyone walks; 3 and 4 are watched together by others.
    sequences = seqs([0, 1, 2], [0, 1, 2], [0, 1, 2, 5], [3, 4], [4, 3], [3, 4, 5])
    model = Cooccurrence(window=1, k=10).fit(sequences, 6)
    assert model.transition_[0, 1] == pytest.approx(1.0)
    assert model.transition_[1, 2] == pytest.approx(1.0)
    assert model.transition_[1, 0] == 0.0  # directed
    assert model.next_items([0], 3)[1].tolist() == [1]
    assert model.neighbours([3], 3)[1].tolist()[0] == 4
    assert model.neighbours([0, 1], 5, exclude={0, 1})[1].tolist() == [2]
    np.testing.assert_allclose(model.counts_, [3, 3, 3, 3, 3, 2])
    # Window 1: items two apart (0 and 2) do not co-occur; with window 2 they do.
    assert model.similarity_[0, 2] == 0.0
    assert Cooccurrence(window=2).fit(sequences, 6).similarity_[0, 2] == pytest.approx(1.0)


def test_top_k_per_row_keeps_strongest() -> None:
    dense = np.array([[0, 3, 1, 2], [5, 0, 5, 1], [0, 0, 0, 0]], np.float32)
    kept = top_k_per_row(dense, 2).toarray()
    np.testing.assert_array_equal(kept, [[0, 3, 0, 2], [5, 0, 5, 0], [0, 0, 0, 0]])
    model = Cooccurrence(window=5, k=1).fit(seqs([0, 1, 2, 3], [0, 1], [0, 1]), 4)
    assert np.diff(model.similarity_.indptr).max() == 1
    assert model.similarity_[0, 1] > 0


@settings(max_examples=40, deadline=None)
@given(
    data=st.lists(st.lists(st.integers(0, 7), min_size=0, max_size=9), min_size=0, max_size=8),
    window=st.integers(1, 4),
)
def test_cosine_matches_brute_force(data: list[list[int]], window: int) -> None:
    sequences = seqs(*data)
    model = Cooccurrence(window=window, k=8).fit(sequences, 8)
    sim = model.similarity_.toarray()
    np.testing.assert_allclose(sim, brute_cosine(sequences, 8, window), atol=1e-6)
    assert (sim >= 0).all() and (sim <= 1 + 1e-6).all()
    assert (np.diag(sim) == 0).all()
    np.testing.assert_allclose(sim, sim.T, atol=1e-6)
    row_sums = np.asarray(model.transition_.sum(axis=1)).ravel()
    assert (row_sums <= 1 + 1e-6).all()
    has_successor = {int(s[i]) for s in sequences for i in range(len(s) - 1) if s[i] != s[i + 1]}
    for a in range(8):
        assert math.isclose(row_sums[a], 1.0, abs_tol=1e-5) == (a in has_successor)


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="sequence 1 holds item 9"):
        Cooccurrence().fit(seqs([0, 1], [2, 9]), 5)
    with pytest.raises(ValueError, match="window"):
        Cooccurrence(window=0).fit(seqs([0, 1]), 2)
    with pytest.raises(RuntimeError, match="before fit"):
        Cooccurrence().neighbours([0], 3)
    model = Cooccurrence().fit(seqs([0, 1]), 2)
    with pytest.raises(ValueError, match="weights has 2"):
        model.neighbours([0], 3, weights=[1.0, 2.0])


def test_popularity_counts_and_decay() -> None:
    sequences = seqs([0, 1, 1], [1, 2])
    pop = Popularity().fit(sequences, 4)
    np.testing.assert_array_equal(pop.counts_, [1, 3, 1, 0])
    counts, items = pop.top(10)
    assert items.tolist() == [1, 0, 2] and counts.tolist() == [3, 1, 1]  # never-seen item 3 left out
    assert pop.top(10, exclude={1})[1].tolist() == [0, 2]
    times = [np.array([0, 10, 20]), np.array([10, 20])]
    decayed = Popularity(half_life=10).fit(sequences, 4, timestamps=times)
    # item 0 at t=0 is two half-lives old; item 1: 0.5 + 1 + 0.5; item 2: 1.
    np.testing.assert_allclose(decayed.counts_, [0.25, 2.0, 1.0, 0.0])
    assert decayed.top(1)[1].tolist() == [1]
    with pytest.raises(ValueError, match="needs timestamps"):
        Popularity(half_life=5).fit(sequences, 4)
    with pytest.raises(ValueError, match="one entry per sequence item"):
        Popularity(half_life=5).fit(sequences, 4, timestamps=[np.array([0]), np.array([1, 2])])


@settings(max_examples=40, deadline=None)
@given(
    data=st.lists(st.lists(st.integers(0, 14), min_size=1, max_size=8), min_size=1, max_size=12),
    recent=st.lists(st.integers(0, 14), min_size=1, max_size=4),
    exclude=st.sets(st.integers(-2, 16), max_size=6),
    k=st.integers(1, 20),
)
def test_neighbours_next_items_and_popularity_equal_a_dense_ranking(
    data: list[list[int]], recent: list[int], exclude: set[int], k: int
) -> None:
    """The sparse aggregation and the once-sorted popularity give what a dense sort of every item
    would: the largest positive scores, ties to the lower index, excluded items left out."""
    sequences = [np.asarray(s, dtype=np.int32) for s in data]
    cooc = Cooccurrence(window=2).fit(sequences, 15)
    weights = np.linspace(1.0, 0.5, len(recent)).astype(np.float32)

    def dense(scores: np.ndarray) -> list[int]:
        scores = scores.astype(np.float32).copy()
        scores[[e for e in exclude if 0 <= e < 15]] = 0.0
        hits = np.flatnonzero(scores > 0)
        return hits[np.lexsort((hits, -scores[hits]))][:k].tolist()

    for matrix, method in ((cooc.similarity_, cooc.neighbours), (cooc.transition_, cooc.next_items)):
        scores = np.asarray(matrix.toarray()[recent].T @ weights).ravel()
        expected = dense(scores)
        got = method(recent, k, weights=weights, exclude=exclude)[1].tolist()
        # The dense and the sparse sums add in different orders: scores a float32 ulp apart may
        # swap (1.6499157 vs 1.6499158), so the lists must agree score by score, to rounding.
        assert len(got) == len(expected) == len(set(got)) and not set(got) & exclude
        np.testing.assert_allclose(scores[got], scores[expected], rtol=1e-6)
    popularity = Popularity().fit(sequences, 15)
    assert popularity.top(k, exclude=exclude)[1].tolist() == dense(popularity.counts_)
    counts = popularity.counts_
    no_exclusion = np.flatnonzero(counts > 0)
    assert popularity.top(k)[1].tolist() == no_exclusion[np.lexsort((no_exclusion, -counts[no_exclusion]))][:k].tolist()
