"""A small planted world for profile tests: four topics, hashing vectors, hand-built concepts and graph."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

from interestlm.core.schema import ConceptGraph, ItemConcepts
from interestlm.core.types import FloatArray
from interestlm.encode import HashingEncoder
from interestlm.profiles import ProfileBuilder, ProfileConfig

#: Topic -> (words its item texts draw from, its concepts with weights).
TOPICS: dict[str, tuple[list[str], list[tuple[str, float]]]] = {
    "jazz": (
        ["jazz", "saxophone", "trumpet", "swing", "bebop", "quartet", "live", "session"],
        [("jazz", 1.0), ("music", 0.5)],
    ),
    "kitchen": (
        ["kitchen", "knife", "chef", "cooking", "pan", "skillet", "cast", "iron"],
        [("kitchen", 1.0), ("cookware", 0.8)],
    ),
    "horror": (
        ["horror", "scary", "monster", "haunted", "ghost", "zombie", "night", "fear"],
        [("horror", 1.0), ("film", 0.5)],
    ),
    "scifi": (
        ["space", "robot", "alien", "galaxy", "starship", "future", "science", "fiction"],
        [("sci fi", 1.0), ("film", 0.5)],
    ),
}
PER_TOPIC = 20
#: Concepts that no item has but the graph reaches (exploration targets).
GRAPH_ONLY = ["blues", "baking"]


@dataclass(frozen=True)
class World:
    """Items ``topic_items[t]`` of each topic, their vectors and concepts, a graph, titles."""

    vectors: FloatArray
    concepts: ItemConcepts
    graph: ConceptGraph
    titles: list[str]
    item_ids: list[str]
    topic_items: dict[str, list[int]]

    def builder(self, **config: Any) -> ProfileBuilder:
        """A builder over this world (config overrides as keywords)."""
        return ProfileBuilder(self.vectors, self.concepts, graph=self.graph, config=ProfileConfig(**config))


def make_world(seed: int = 0) -> World:
    rng = np.random.default_rng(seed)
    texts: list[str] = []
    topic_items: dict[str, list[int]] = {}
    rows: list[int] = []
    cols: list[int] = []
    data: list[float] = []
    names: list[str] = []
    for topic, (words, concepts) in TOPICS.items():
        topic_items[topic] = []
        for j in range(PER_TOPIC):
            i = len(texts)
            # A fixed core plus a random draw: same-topic cosines around 0.6, as with MiniLM.
            picked = [*words[:3], *rng.choice(words[3:], size=3, replace=False).tolist()]
            texts.append(" ".join([*picked, f"{topic}{j}"]))
            topic_items[topic].append(i)
            for name, w in concepts:
                if name not in names:
                    names.append(name)
                rows.append(i)
                cols.append(names.index(name))
                data.append(w)
    n_item_concepts = len(names)
    matrix = sp.csr_matrix((data, (rows, cols)), shape=(len(texts), n_item_concepts), dtype=np.float32)
    item_concepts = ItemConcepts(names=names, kinds=["category"] * n_item_concepts, matrix=matrix)
    all_names = names + GRAPH_ONLY
    idx = {n: c for c, n in enumerate(all_names)}
    pairs = [("jazz", "blues", 0.9), ("kitchen", "baking", 0.8), ("horror", "sci fi", 0.3), ("music", "blues", 0.5)]
    r = [idx[a] for a, b, _ in pairs] + [idx[b] for a, b, _ in pairs]
    c = [idx[b] for a, b, _ in pairs] + [idx[a] for a, b, _ in pairs]
    w = [x for *_, x in pairs] * 2
    adjacency = sp.csr_matrix((w, (r, c)), shape=(len(all_names), len(all_names)))
    graph = ConceptGraph(names=all_names, edges={"cooccurrence": adjacency}, adjacency=adjacency)
    vectors = HashingEncoder(dim=256).encode(texts)
    return World(
        vectors=vectors,
        concepts=item_concepts,
        graph=graph,
        titles=[t.title() for t in texts],
        item_ids=[f"i{i}" for i in range(len(texts))],
        topic_items=topic_items,
    )


@pytest.fixture(scope="session")
def world() -> World:
    return make_world()
