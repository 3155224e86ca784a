import numpy as np
import pytest
import scipy.sparse as sp

from interestlm.core.schema import ItemConcepts
from interestlm.retrieve import ConceptIndex

NAMES = ["jazz", "rock", "piano", "live album"]


def concepts() -> ItemConcepts:
    # item: {concept: weight}
    rows = {
        0: {0: 1.0, 2: 1.0},  # jazz piano
        1: {0: 0.5},  # a little jazz
        2: {1: 1.0},  # rock
        3: {1: 1.0, 3: 1.0},  # rock live album
        4: {},  # no concepts
        5: {0: 1.0, 1: 1.0},  # jazz rock
    }
    r, c, v = zip(*[(i, j, w) for i, d in rows.items() for j, w in d.items()], strict=True)
    matrix = sp.csr_matrix((v, (r, c)), shape=(6, len(NAMES)), dtype=np.float32)
    return ItemConcepts(names=NAMES, kinds=["genre", "genre", "tag", "attribute"], matrix=matrix)


def test_ranks_items_by_weighted_concept_overlap() -> None:
    index = ConceptIndex(concepts())
    scores, items = index.search({0: 1.0, 2: 0.5}, 10)
    # jazz piano 1.5; jazz rock 1.0; a little jazz 0.5 — rock-only and empty items never appear.
    assert items.tolist() == [0, 5, 1]
    np.testing.assert_allclose(scores, [1.5, 1.0, 0.5])
    assert index.search({0: 1.0}, 2)[1].tolist() == [0, 5]  # tie 0 vs 5 at 1.0 -> lower index first


def test_negative_weights_push_down_and_never_pull_in() -> None:
    index = ConceptIndex(concepts())
    _, items = index.search({0: 1.0, 1: -0.8}, 10)
    # jazz rock now scores 0.2, below "a little jazz" (0.5); rock items (negative) are left out.
    assert items.tolist() == [0, 1, 5]
    assert index.search({1: -1.0}, 10)[1].tolist() == []


def test_exclude_and_names() -> None:
    index = ConceptIndex(concepts())
    assert index.search({0: 1.0}, 10, exclude={0})[1].tolist() == [5, 1]
    assert index.search_names({"  Live   Album": 1.0, "unknown": 3.0}, 5)[1].tolist() == [3]
    assert index.search_names({"nothing known": 1.0}, 5)[1].tolist() == []
    assert index.items_of(1).tolist() == [2, 3, 5]


def test_add_new_items() -> None:
    index = ConceptIndex(concepts())
    new = index.add(sp.csr_matrix(np.array([[0, 0, 0, 2.0]], np.float32)))
    assert new.tolist() == [6] and len(index) == 7
    assert index.search_names({"live album": 1.0}, 1)[1].tolist() == [6]
    with pytest.raises(ValueError, match="columns"):
        index.add(sp.csr_matrix(np.ones((1, 3), np.float32)))


def test_bad_queries() -> None:
    index = ConceptIndex(concepts())
    with pytest.raises(ValueError, match="out of range"):
        index.search({7: 1.0}, 3)
    with pytest.raises(ValueError, match="k must be"):
        index.search({0: 1.0}, 0)
    with pytest.raises(ValueError, match="finite"):
        index.search({0: float("nan")}, 3)
