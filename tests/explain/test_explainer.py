from __future__ import annotations

from collections import Counter
from dataclasses import replace
from itertools import pairwise

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from interestlm.core.schema import ConceptGraph, History, Interest, InterestProfile, ItemConcepts, ProfileEdits
from interestlm.core.tables import Dataset
from interestlm.encode.hashing import HashingEncoder
from interestlm.explain import Explanation, citable_items, explain_item, explain_many, grounding_rate, render
from interestlm.testing.planted import LIKE_THRESHOLD, planted_topic_of, planted_topics, planted_user_topics

DATASET = planted_topics()


def _item_vectors(ds: Dataset) -> np.ndarray:
    cat = ds.catalog
    texts = [f"{t}. {d} {' '.join(g)}" for t, d, g in zip(cat.titles, cat.descriptions, cat.tags, strict=True)]
    return HashingEncoder(dim=1024).encode(texts)


def _item_concepts(ds: Dataset) -> ItemConcepts:
    cat = ds.catalog
    names: list[str] = []
    kinds: list[str] = []
    index: dict[str, int] = {}
    rows, cols, vals = [], [], []
    for i in range(ds.n_items):
        entries = [(cat.categories[i][0], "category", 1.0), (cat.categories[i][1], "category", 0.8)]
        entries += [(t, "tag", 0.5) for t in cat.tags[i]]
        for name, kind, w in entries:
            if name not in index:
                index[name] = len(names)
                names.append(name)
                kinds.append(kind)
            rows.append(i)
            cols.append(index[name])
            vals.append(w)
    m = sp.csr_matrix((np.array(vals, np.float32), (rows, cols)), shape=(ds.n_items, len(names)))
    m.sum_duplicates()
    return ItemConcepts(names=names, kinds=kinds, matrix=m)


VECTORS = _item_vectors(DATASET)
CONCEPTS = _item_concepts(DATASET)
TITLES = DATASET.catalog.titles


def _profile(ds: Dataset, u: int, *, drop_last: bool = True) -> InterestProfile:
    """A profile built by hand from the user's history (the last row held out)."""
    inter = ds.interactions
    order = inter.time_order()
    rows = order[inter.user[order] == u]
    if drop_last:
        rows = rows[:-1]
    items = inter.item[rows].astype(np.int32)
    ratings = inter.rating[rows].astype(np.float32)
    polarity = np.clip((ratings - 3.0) / 2.0, -1, 1).astype(np.float32)
    liked = [int(i) for i, r in zip(items, ratings, strict=True) if r >= LIKE_THRESHOLD]
    disliked = [int(i) for i, r in zip(items, ratings, strict=True) if r < LIKE_THRESHOLD]
    interests = []
    for topic in planted_user_topics(ds, u):
        members = tuple(i for i in liked if planted_topic_of(ds, i) == topic)
        vec = VECTORS[list(members)].mean(axis=0)
        interests.append(
            Interest(
                label=ds.catalog.categories[members[0]][0],
                weight=len(members) / len(liked),
                vector=(vec / np.linalg.norm(vec)).astype(np.float32),
                medoid=members[0],
                items=members,
                exemplars=members[:3],
                concepts=((ds.catalog.categories[members[0]][0], 1.0),),
            )
        )
    counts = Counter(c for i in liked for c in (*ds.catalog.categories[i], *ds.catalog.tags[i]))
    total = max(counts.values())
    liked_concepts = tuple((c, n / total) for c, n in counts.most_common())
    bad = Counter(ds.catalog.categories[i][0] for i in disliked)
    disliked_concepts = tuple((c, -1.0) for c in bad)
    return InterestProfile(
        user_id=str(inter.user_ids[u]),
        history=History(
            items=items, timestamps=inter.timestamp[rows], ratings=ratings, polarity=polarity
        ),
        interests=tuple(interests),
        likes=tuple(liked),
        dislikes=tuple(disliked),
        liked_concepts=liked_concepts,
        disliked_concepts=disliked_concepts,
        short_term=np.zeros(VECTORS.shape[1], np.float32),
        short_term_items=tuple(int(i) for i in items[-3:]),
        concepts=liked_concepts + disliked_concepts,
        explore=(),
        summary="",
    )


def _last_item(ds: Dataset, u: int) -> int:
    order = ds.interactions.time_order()
    return int(ds.interactions.item[order[ds.interactions.user[order] == u][-1]])


def _explain(profile: InterestProfile, item: int, **kw: object) -> Explanation:
    return explain_item(profile, item, item_vectors=VECTORS, item_concepts=CONCEPTS, titles=TITLES, **kw)  # type: ignore[arg-type]


SINGLE = [u for u in range(DATASET.n_users) if len(planted_user_topics(DATASET, u)) == 1]
MIXED = [u for u in range(DATASET.n_users) if len(planted_user_topics(DATASET, u)) == 2]


@pytest.mark.parametrize("u", SINGLE[:10])
def test_planted_single_topic_user_gets_evidence_of_that_topic(u: int) -> None:
    profile = _profile(DATASET, u)
    target = _last_item(DATASET, u)
    topic = planted_user_topics(DATASET, u)[0]
    e = _explain(profile, target)
    assert 1 <= len(e.evidence) <= 3
    assert all(planted_topic_of(DATASET, i) == topic for i in e.evidence)
    assert set(e.evidence) <= set(profile.history.items.tolist())
    assert target not in e.evidence
    assert any(f'"{TITLES[i]}"' in e.text for i in e.evidence)
    assert e.interest == 0 and e.interest_label == DATASET.catalog.categories[target][0]
    assert DATASET.catalog.categories[target][0] in e.concepts
    assert e.path == ()
    assert e.text.startswith("Because you liked") and e.text.endswith(".")


def test_evidence_is_the_most_similar_citable_items() -> None:
    u = SINGLE[0]
    profile = _profile(DATASET, u)
    target = _last_item(DATASET, u)
    e = _explain(profile, target)
    citable = sorted(citable_items(profile))
    sims = VECTORS[citable] @ VECTORS[target]
    expected = [citable[j] for j in np.argsort(-sims, kind="stable")[:3]]
    assert set(e.evidence) == set(expected)
    assert [VECTORS[i] @ VECTORS[target] for i in e.evidence] == sorted(
        (VECTORS[i] @ VECTORS[target] for i in e.evidence), reverse=True
    )


@pytest.mark.parametrize("u", MIXED[:5])
def test_two_topic_user_gets_the_interest_of_the_items_topic(u: int) -> None:
    profile = _profile(DATASET, u)
    for pos, interest in enumerate(profile.interests):
        # Any item of the interest's topic the user has not seen.
        topic = planted_topic_of(DATASET, interest.medoid)
        seen = set(profile.history.items.tolist())
        item = next(i for i in range(DATASET.n_items) if planted_topic_of(DATASET, i) == topic and i not in seen)
        e = _explain(profile, item)
        assert e.interest == pos
        assert e.interest_label == interest.label
        assert all(planted_topic_of(DATASET, i) == topic for i in e.evidence)


def test_disliked_items_are_never_cited_even_when_most_similar() -> None:
    u = SINGLE[0]
    base = _profile(DATASET, u)
    target = _last_item(DATASET, u)
    # Plant the target's nearest neighbour (and an exact twin) as disliked items in the history.
    twin = int(np.argsort(-(VECTORS @ VECTORS[target]))[1])
    items = np.concatenate([base.history.items, [twin, target]]).astype(np.int32)
    n = len(items)
    history = History(
        items=items,
        timestamps=np.arange(n, dtype=np.int64),
        ratings=np.concatenate([base.history.ratings, [1.0, 1.0]]).astype(np.float32),
        polarity=np.concatenate([base.history.polarity, [-1.0, -0.8]]).astype(np.float32),
    )
    profile = replace(base, history=history, dislikes=(*base.dislikes, twin, target))
    e = _explain(profile, target)
    assert twin not in e.evidence and target not in e.evidence
    assert e.evidence  # the rest of the history still explains it

    # Listed as a dislike overrides a positive row; a later negative row overrides an earlier positive one.
    liked_item = int(base.history.items[-1])
    profile2 = replace(base, dislikes=(liked_item,))
    assert liked_item not in citable_items(profile2)
    later = History(
        items=np.concatenate([base.history.items, [liked_item]]).astype(np.int32),
        timestamps=np.arange(len(base.history) + 1, dtype=np.int64),
        ratings=np.concatenate([base.history.ratings, [1.0]]).astype(np.float32),
        polarity=np.concatenate([base.history.polarity, [-0.5]]).astype(np.float32),
    )
    assert liked_item not in citable_items(replace(base, history=later))
    assert liked_item in citable_items(base)


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_evidence_is_always_citable(data: st.DataObject) -> None:
    u = data.draw(st.sampled_from(range(DATASET.n_users)))
    base = _profile(DATASET, u)
    n = len(base.history)
    polarity = np.array(data.draw(st.lists(st.floats(-1, 1), min_size=n, max_size=n)), dtype=np.float32)
    dislikes = tuple(data.draw(st.sets(st.sampled_from(base.history.items.tolist()), max_size=n)))
    profile = replace(base, history=replace(base.history, polarity=polarity), dislikes=dislikes)
    items = data.draw(st.lists(st.integers(0, DATASET.n_items - 1), min_size=1, max_size=8))
    explanations = explain_many(profile, items, item_vectors=VECTORS, item_concepts=CONCEPTS, titles=TITLES)
    allowed = citable_items(profile)
    for item, e in zip(items, explanations, strict=True):
        assert e.item == item
        assert set(e.evidence) <= allowed
        assert not set(e.evidence) & set(dislikes)
        assert item not in e.evidence
        assert len(e.evidence) <= 3
    assert grounding_rate(explanations, [profile] * len(explanations)) == 1.0


def test_explain_many_equals_explain_item() -> None:
    u = MIXED[0]
    profile = _profile(DATASET, u)
    items = [0, 30, 55, 99, _last_item(DATASET, u)]
    many = explain_many(profile, items, item_vectors=VECTORS, item_concepts=CONCEPTS, titles=TITLES)
    assert many == [_explain(profile, i) for i in items]


def _tiny_profile(concepts: tuple[tuple[str, float], ...], *, edits: ProfileEdits | None = None) -> InterestProfile:
    return InterestProfile(
        user_id="x",
        history=History(
            items=np.array([0], np.int32),
            timestamps=np.array([1], np.int64),
            ratings=np.array([5.0], np.float32),
            polarity=np.array([1.0], np.float32),
        ),
        interests=(),
        likes=(0,),
        dislikes=(),
        liked_concepts=concepts,
        disliked_concepts=(),
        short_term=np.zeros(2, np.float32),
        short_term_items=(0,),
        concepts=concepts,
        explore=(),
        summary="",
        edits=edits or ProfileEdits(),
    )


# Concepts: 0 jazz, 1 blues, 2 soul, 3 funk, 4 space, 5 rocket. Item 0 is jazz, item 1 is funk, item 2 rocket.
_NAMES = ["jazz", "blues", "soul", "funk", "space", "rocket"]
_TINY_CONCEPTS = ItemConcepts(
    names=_NAMES,
    kinds=["genre"] * 6,
    matrix=sp.csr_matrix(np.array([[1, 0, 0, 0, 0, 0], [0, 0, 0, 1, 0, 0], [0, 0, 0, 0, 0, 1]], np.float32)),
)
_TINY_VECTORS = np.array([[1, 0], [0.6, 0.8], [0, 1]], np.float32)


def _chain_graph(pairs: list[tuple[int, int]]) -> ConceptGraph:
    rows = [a for a, b in pairs] + [b for a, b in pairs]
    cols = [b for a, b in pairs] + [a for a, b in pairs]
    adj = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(6, 6))
    return ConceptGraph(names=_NAMES, edges={"cooccurrence": adj}, adjacency=adj)


def test_path_through_a_hand_made_graph_when_no_concept_is_shared() -> None:
    graph = _chain_graph([(0, 1), (1, 2), (2, 3), (4, 5)])
    profile = _tiny_profile((("jazz", 1.0),))
    titles = ["Kind of Blue", "Head Hunters", "Apollo"]
    e = explain_item(profile, 1, item_vectors=_TINY_VECTORS, item_concepts=_TINY_CONCEPTS, graph=graph, titles=titles)
    assert e.concepts == ()
    assert e.path == ("jazz", "blues", "soul", "funk")
    assert e.evidence == (0,)
    assert e.text == 'Because you liked "Kind of Blue" — it connects jazz to funk through blues, soul.'
    # Unreachable within the graph: no path, no invented link.
    far = explain_item(profile, 2, item_vectors=_TINY_VECTORS, item_concepts=_TINY_CONCEPTS, graph=graph)
    assert far.path == () and far.concepts == ()
    assert far.evidence == ()  # item 2 is orthogonal to the only history item
    # Shared concept: no path needed.
    own = explain_item(profile, 0, item_vectors=_TINY_VECTORS, item_concepts=_TINY_CONCEPTS, graph=graph)
    assert own.concepts == ("jazz",) and own.path == ()


def test_path_prefers_fewest_hops_across_user_concepts() -> None:
    graph = _chain_graph([(0, 1), (1, 2), (2, 3), (4, 3)])
    profile = _tiny_profile((("jazz", 1.0), ("space", 0.2)))
    e = explain_item(profile, 1, item_vectors=_TINY_VECTORS, item_concepts=_TINY_CONCEPTS, graph=graph)
    assert e.path == ("space", "funk")


def test_muted_and_pinned_concepts() -> None:
    profile = _tiny_profile((("jazz", 1.0),), edits=ProfileEdits(muted=frozenset({"jazz"})))
    e = explain_item(profile, 0, item_vectors=_TINY_VECTORS, item_concepts=_TINY_CONCEPTS)
    assert e.concepts == ()
    pinned = _tiny_profile((("jazz", 1.0),), edits=ProfileEdits(pinned=frozenset({"Funk"})))
    assert explain_item(pinned, 1, item_vectors=_TINY_VECTORS, item_concepts=_TINY_CONCEPTS).concepts == ("funk",)
    negative = _tiny_profile((("funk", -0.7),))
    assert explain_item(negative, 1, item_vectors=_TINY_VECTORS, item_concepts=_TINY_CONCEPTS).concepts == ()


def test_interest_removed_by_the_user_is_not_chosen() -> None:
    u = MIXED[0]
    profile = _profile(DATASET, u)
    item = profile.interests[0].medoid
    assert _explain(profile, item).interest == 0
    removed = replace(profile, edits=ProfileEdits(interest_weights=((0, 0.0),)))
    assert _explain(removed, item).interest != 0


def test_profile_without_interests_or_history() -> None:
    empty = replace(
        _tiny_profile(()),
        history=History(
            items=np.zeros(0, np.int32),
            timestamps=np.zeros(0, np.int64),
            ratings=np.zeros(0, np.float32),
            polarity=np.zeros(0, np.float32),
        ),
    )
    e = explain_item(empty, 0, item_vectors=_TINY_VECTORS, item_concepts=_TINY_CONCEPTS)
    assert e == Explanation(
        item=0, interest=None, interest_label="", concepts=(), evidence=(), path=(), text=render(e)
    )
    assert e.text


def test_bad_inputs_raise() -> None:
    profile = _tiny_profile(())
    with pytest.raises(ValueError, match="outside the catalog"):
        explain_item(profile, 3, item_vectors=_TINY_VECTORS, item_concepts=_TINY_CONCEPTS)
    with pytest.raises(ValueError, match="item_concepts has 3 item rows"):
        explain_item(profile, 0, item_vectors=_TINY_VECTORS[:2], item_concepts=_TINY_CONCEPTS)
    with pytest.raises(ValueError, match="titles"):
        explain_item(profile, 0, item_vectors=_TINY_VECTORS, item_concepts=_TINY_CONCEPTS, titles=["a"])
    foreign = replace(profile, history=replace(profile.history, items=np.array([7], np.int32)))
    with pytest.raises(ValueError, match="history items outside"):
        explain_item(foreign, 0, item_vectors=_TINY_VECTORS, item_concepts=_TINY_CONCEPTS)


def test_grounding_rate_on_real_and_planted_bad_explanations() -> None:
    profiles = [_profile(DATASET, u) for u in range(DATASET.n_users)]
    explanations = [
        explain_item(p, _last_item(DATASET, u), item_vectors=VECTORS, item_concepts=CONCEPTS, titles=TITLES)
        for u, p in enumerate(profiles)
    ]
    assert grounding_rate(explanations, profiles) == 1.0
    # A fake explanation citing an item from outside the user's history.
    p0 = profiles[0]
    foreign = next(i for i in range(DATASET.n_items) if i not in set(p0.history.items.tolist()))
    fake = replace(explanations[0], evidence=(int(p0.history.items[0]), foreign))
    assert grounding_rate([fake, *explanations[1:4]], profiles[:4]) == pytest.approx(0.75)
    # Citing a disliked history item is not grounded either.
    u = next(u for u, p in enumerate(profiles) if p.dislikes)
    bad = replace(explanations[u], evidence=(profiles[u].dislikes[0],))
    assert grounding_rate([bad], [profiles[u]]) == 0.0
    with pytest.raises(ValueError, match="2 explanations but 1 profiles"):
        grounding_rate(explanations[:2], profiles[:1])
    with pytest.raises(ValueError, match="at least one"):
        grounding_rate([], [])


@settings(max_examples=60, deadline=None)
@given(
    edges=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), max_size=10),
    user=st.lists(st.sampled_from(_NAMES[:3]), min_size=1, max_size=3, unique=True),
)
def test_path_is_a_shortest_walk_in_the_graph(edges: list[tuple[int, int]], user: list[str]) -> None:
    """Oracle: ConceptGraph.path over every (user concept, item concept) pair gives the same hop count."""
    graph = _chain_graph([(a, b) for a, b in edges if a != b])
    profile = _tiny_profile(tuple((n, 1.0 - 0.1 * j) for j, n in enumerate(user)))
    e = explain_item(profile, 1, item_vectors=_TINY_VECTORS, item_concepts=_TINY_CONCEPTS, graph=graph)
    index = {n: c for c, n in enumerate(_NAMES)}
    oracle = [p for n in user if (p := graph.path(index[n], index["funk"])) is not None]
    if not oracle:
        assert e.path == ()
        return
    assert len(e.path) == min(len(p) for p in oracle)
    assert e.path[0] in user and e.path[-1] == "funk"
    walk = [index[n] for n in e.path]
    assert all(graph.adjacency[a, b] > 0 for a, b in pairwise(walk))
