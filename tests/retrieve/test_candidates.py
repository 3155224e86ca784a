from collections.abc import Sequence

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

from interestlm.core.schema import History, Interest, InterestProfile, ItemConcepts, ProfileEdits
from interestlm.encode import l2_normalise
from interestlm.retrieve import (
    ConceptIndex,
    Cooccurrence,
    ExactIndex,
    FaissIndex,
    Popularity,
    interleave,
    retrieve_candidates,
)

DIM = 16
TOPIC_A = np.arange(0, 40)
TOPIC_B = np.arange(40, 80)
N_ITEMS = 80


def world() -> tuple[np.ndarray, ItemConcepts]:
    rng = np.random.default_rng(0)
    centres = l2_normalise(rng.standard_normal((2, DIM)))
    topic = np.repeat([0, 1], 40)
    vectors = l2_normalise(centres[topic] + 0.3 * rng.standard_normal((N_ITEMS, DIM)))
    # Concept 0 "topic a", 1 "topic b"; items 0-4 also carry "cult" (2).
    rows = np.r_[np.arange(N_ITEMS), np.arange(5)]
    cols = np.r_[topic, np.full(5, 2)]
    matrix = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(N_ITEMS, 3))
    return vectors, ItemConcepts(names=["topic a", "topic b", "cult"], kinds=["genre"] * 3, matrix=matrix)


def profile(
    vectors: np.ndarray,
    history: Sequence[int] = (),
    *,
    interests: Sequence[tuple[np.ndarray, float]] = (),
    short_term: np.ndarray | None = None,
    concepts: Sequence[tuple[str, float]] = (),
    dislikes: Sequence[int] = (),
    edits: ProfileEdits | None = None,
) -> InterestProfile:
    items = np.asarray(history, dtype=np.int32)
    return InterestProfile(
        user_id="u",
        history=History(
            items=items,
            timestamps=np.arange(len(items), dtype=np.int64),
            ratings=np.full(len(items), np.nan, np.float32),
            polarity=np.zeros(len(items), np.float32),
        ),
        interests=tuple(
            Interest(
                label=f"i{j}", weight=w, vector=v.astype(np.float32), medoid=0, items=(), exemplars=(), concepts=()
            )
            for j, (v, w) in enumerate(interests)
        ),
        likes=(),
        dislikes=tuple(dislikes),
        liked_concepts=(),
        disliked_concepts=(),
        short_term=np.zeros(vectors.shape[1], np.float32) if short_term is None else short_term.astype(np.float32),
        short_term_items=(),
        concepts=tuple(concepts),
        explore=(),
        summary="",
        edits=edits or ProfileEdits(),
    )


def fitted_sources(vectors: np.ndarray) -> tuple[Cooccurrence, Popularity]:
    # Users walk through topic B in order; item 79 is the most popular.
    sequences = [np.arange(40 + s, 48 + s, dtype=np.int32) for s in range(10)] + [np.array([79], np.int32)] * 20
    return Cooccurrence(window=2).fit(sequences, N_ITEMS), Popularity().fit(sequences, N_ITEMS)


def test_interest_user_gets_their_topic_and_no_seen_items() -> None:
    vectors, _ = world()
    seen = TOPIC_A[:10]
    p = profile(vectors, seen, interests=[(vectors[TOPIC_A].mean(0), 1.0)])
    cands = retrieve_candidates(p, index=ExactIndex(vectors), n_candidates=20)
    assert len(cands) == 20 and len(set(cands.tolist())) == 20
    assert set(cands.tolist()) <= set(TOPIC_A[10:].tolist())
    assert cands.dtype == np.int32


def test_every_source_contributes() -> None:
    vectors, concepts = world()
    cooc, pop = fitted_sources(vectors)
    p = profile(
        vectors,
        [44, 45],
        interests=[(vectors[TOPIC_A].mean(0), 1.0)],
        concepts=[("cult", 1.0)],
    )
    cands = set(
        retrieve_candidates(
            p,
            index=FaissIndex(vectors),
            n_candidates=30,
            concept_index=ConceptIndex(concepts),
            cooccurrence=cooc,
            popularity=pop,
        ).tolist()
    )
    assert {46, 47} <= cands  # what follows / co-occurs with the latest items
    assert 79 in cands  # popularity
    assert {0, 1} <= cands  # the concept "cult" (also topic A, the interest)
    assert not {44, 45} & cands


def test_cold_user_gets_popular_items() -> None:
    vectors, concepts = world()
    cooc, pop = fitted_sources(vectors)
    p = profile(vectors)
    cands = retrieve_candidates(
        p,
        index=ExactIndex(vectors),
        n_candidates=5,
        concept_index=ConceptIndex(concepts),
        cooccurrence=cooc,
        popularity=pop,
    )
    assert cands.tolist() == pop.top(5)[1].tolist()
    assert cands[0] == 79


def test_muted_and_weight_zero_interests_are_not_queried_and_dislikes_excluded() -> None:
    vectors, concepts = world()
    edits = ProfileEdits(muted=frozenset({"cult"}), interest_weights=((1, 0.0),))
    p = profile(
        vectors,
        interests=[(vectors[TOPIC_A].mean(0), 0.5), (vectors[TOPIC_B].mean(0), 0.5)],
        concepts=[("cult", 1.0)],
        dislikes=[int(TOPIC_A[0])],
        edits=edits,
    )
    cands = retrieve_candidates(
        p, index=ExactIndex(vectors), n_candidates=10, concept_index=ConceptIndex(concepts), exclude=[1, 2]
    )
    assert set(cands.tolist()) <= set(TOPIC_A[3:].tolist())


def test_pinned_concept_is_queried() -> None:
    vectors, concepts = world()
    p = profile(vectors, edits=ProfileEdits(pinned=frozenset({"Cult"})))
    cands = retrieve_candidates(p, index=ExactIndex(vectors), n_candidates=10, concept_index=ConceptIndex(concepts))
    assert cands.tolist() == [0, 1, 2, 3, 4]


def test_n_candidates_checked() -> None:
    vectors, _ = world()
    with pytest.raises(ValueError, match="n_candidates"):
        retrieve_candidates(profile(vectors), index=ExactIndex(vectors), n_candidates=0)


@given(
    lists=st.lists(st.lists(st.integers(0, 30), max_size=12), max_size=6),
    n=st.integers(0, 40),
)
def test_interleave_properties(lists: list[list[int]], n: int) -> None:
    merged = interleave([np.asarray(x, dtype=np.int64) for x in lists], n).tolist()
    union = {i for x in lists for i in x}
    assert len(merged) == len(set(merged)) == min(n, len(union))
    assert set(merged) <= union
    if n >= len(lists):
        # Every non-empty list's best item makes it in.
        assert {x[0] for x in lists if x} <= set(merged)


def test_interests_are_searched_in_their_own_space_and_the_short_term_vector_in_the_text_space() -> None:
    # The text vectors (16 dims) and the interest space (4 dims, where topic B is where A is in
    # text) differ: each query must go to its own index, whatever the dimensions.
    vectors, _ = world()
    rng = np.random.default_rng(1)
    centres = l2_normalise(rng.standard_normal((2, 4)))
    space = l2_normalise(centres[np.repeat([1, 0], 40)] + 0.1 * rng.standard_normal((N_ITEMS, 4)))
    p = profile(vectors, interests=[(centres[0], 1.0)])
    both = retrieve_candidates(p, index=ExactIndex(vectors), interest_index=ExactIndex(space), n_candidates=10)
    assert set(both.tolist()) <= set(TOPIC_B.tolist())
    text_only = profile(vectors, short_term=vectors[TOPIC_A].mean(0), interests=[(centres[0], 1.0)])
    mixed = retrieve_candidates(text_only, index=ExactIndex(vectors), interest_index=ExactIndex(space), n_candidates=20)
    assert set(mixed.tolist()) & set(TOPIC_A.tolist()) and set(mixed.tolist()) & set(TOPIC_B.tolist())
