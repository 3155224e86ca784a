"""A planted world for ranking tests: three topics of 20 items, topic concepts, a concept graph."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pytest
import scipy.sparse as sp

from interestlm.core.schema import ConceptGraph, History, Interest, InterestProfile, ItemConcepts, ProfileEdits
from interestlm.encode import l2_normalise
from interestlm.rank import SignalContext

DIM = 16
N_ITEMS = 60
TOPICS = {"a": np.arange(0, 20), "b": np.arange(20, 40), "c": np.arange(40, 60)}


@dataclass
class World:
    vectors: np.ndarray
    centres: dict[str, np.ndarray]
    concepts: ItemConcepts
    graph: ConceptGraph
    sequences: list[np.ndarray]
    topics: dict[str, np.ndarray]


def build_world() -> World:
    rng = np.random.default_rng(0)
    centres = l2_normalise(rng.standard_normal((3, DIM)))
    topic = np.repeat([0, 1, 2], 20)
    vectors = l2_normalise(centres[topic] + 0.15 * rng.standard_normal((N_ITEMS, DIM)))
    names = ["topic a", "topic b", "topic c", "bonus"]
    rows = np.r_[np.arange(N_ITEMS), [5, 25, 45]]
    cols = np.r_[topic, [3, 3, 3]]
    matrix = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(N_ITEMS, 4))
    concepts = ItemConcepts(names=names, kinds=["genre", "genre", "genre", "tag"], matrix=matrix)
    adjacency = sp.csr_matrix(([1.0, 1.0], ([0, 1], [1, 0])), shape=(4, 4), dtype=np.float32)
    graph = ConceptGraph(names=names, edges={"cooccurrence": adjacency}, adjacency=adjacency)
    # Users walk through one topic in item order; item 59 is also watched alone by many.
    sequences = [TOPICS[t][s : s + 6].astype(np.int32) for t in "abc" for s in range(0, 15)]
    sequences += [np.array([59], np.int32)] * 10
    return World(
        vectors=vectors,
        centres={t: l2_normalise(vectors[TOPICS[t]].mean(0, keepdims=True))[0] for t in "abc"},
        concepts=concepts,
        graph=graph,
        sequences=sequences,
        topics=TOPICS,
    )


def make_profile(
    history: Sequence[int] = (),
    *,
    interests: Sequence[tuple[np.ndarray, float]] = (),
    short_term: np.ndarray | None = None,
    concepts: Sequence[tuple[str, float]] = (),
    dislikes: Sequence[int] = (),
    disliked_concepts: Sequence[tuple[str, float]] = (),
    edits: ProfileEdits | None = None,
    user_id: str = "u",
) -> InterestProfile:
    items = np.asarray(history, dtype=np.int32)
    return InterestProfile(
        user_id=user_id,
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
        disliked_concepts=tuple(disliked_concepts),
        short_term=np.zeros(DIM, np.float32) if short_term is None else short_term.astype(np.float32),
        short_term_items=(),
        concepts=tuple(concepts),
        explore=(),
        summary="",
        edits=edits or ProfileEdits(),
    )


@pytest.fixture(scope="session")
def world() -> World:
    return build_world()


@pytest.fixture(scope="module")
def ctx(world: World) -> SignalContext:
    """The planted world's signal context with an EASE collaborative model (test_rerank has its own)."""
    return SignalContext.build(
        world.vectors,
        world.concepts,
        graph=world.graph,
        train_sequences=world.sequences,
        n_items=N_ITEMS,
        collaborative="ease",
        collaborative_config={"l2": 1.0},
    )


@pytest.fixture
def profile_factory() -> Callable[..., InterestProfile]:
    return make_profile
