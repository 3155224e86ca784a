import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from interestlm.concepts import ConceptConfig, GraphConfig, build_concept_graph, extract_concepts
from interestlm.core.schema import EDGE_TYPES, ConceptGraph, ItemConcepts
from interestlm.core.tables import Catalog
from interestlm.core.topk import top_k_per_row
from interestlm.data.registry import load_dataset
from interestlm.encode import HashingEncoder


def concepts_from_sets(sets: list[set[str]], kinds: dict[str, str] | None = None) -> ItemConcepts:
    names = sorted(set().union(*sets))
    index = {n: c for c, n in enumerate(names)}
    rows = [i for i, s in enumerate(sets) for _ in s]
    cols = [index[n] for s in sets for n in sorted(s)]
    matrix = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(sets), len(names)))
    return ItemConcepts(names=names, kinds=[(kinds or {}).get(n, "tag") for n in names], matrix=matrix)


def check_graph(g: ConceptGraph) -> None:
    n = g.n_concepts
    assert set(g.edges) == set(EDGE_TYPES)
    for m in [g.adjacency, *g.edges.values()]:
        assert m.shape == (n, n)
        assert np.all(m.data >= 0) and np.all(m.data <= 1)
        assert m.diagonal().sum() == 0
    assert (g.adjacency != g.adjacency.T).nnz == 0
    for t in ("cooccurrence", "similarity"):
        assert (g.edges[t] != g.edges[t].T).nnz == 0


def test_genres_that_always_cooccur_are_linked_and_independent_ones_are_not() -> None:
    sets: list[set[str]] = []
    for i in range(40):
        s = set()
        if i < 10:
            s |= {"a", "b"}  # a and b: always together
        if i % 2 == 0:
            s.add("c")
        if (i // 2) % 2 == 0:
            s.add("d")  # c and d: independent by construction
        sets.append(s or {"e"})
    ic = concepts_from_sets(sets)
    g = build_concept_graph(ic, config=GraphConfig(min_npmi=0.0))
    check_graph(g)
    idx = ic.index_of()
    co = g.edges["cooccurrence"]
    assert co[idx["a"], idx["b"]] == pytest.approx(1.0)
    assert co[idx["c"], idx["d"]] == 0
    assert g.neighbours(idx["a"], 1) == [(idx["b"], pytest.approx(1.0))]
    assert g.edges["transition"].nnz == 0 and g.edges["hierarchy"].nnz == 0 and g.edges["similarity"].nnz == 0


def test_min_cooccurrence_needs_enough_shared_items() -> None:
    sets = [{"a", "b"}, {"a", "b"}, {"c"}, {"d"}, {"c", "d"}]
    ic = concepts_from_sets(sets)
    assert build_concept_graph(ic, config=GraphConfig(min_cooccurrence=3)).edges["cooccurrence"].nnz == 0
    assert build_concept_graph(ic, config=GraphConfig(min_cooccurrence=2)).edges["cooccurrence"].nnz == 2


def test_category_path_gives_parent_to_child_hierarchy() -> None:
    paths = [
        ("Beauty", "Skin Care", "Face"),
        ("Beauty", "Skin Care", "Face"),
        ("Beauty", "Skin Care", "Body"),
        ("Beauty", "Skin Care"),
        ("Beauty", "Hair Care", "Shampoo"),
        ("Beauty", "Hair Care"),
        ("Beauty", "Makeup"),
        ("Beauty",),
    ]
    catalog = Catalog.build([str(i) for i in range(len(paths))], categories=paths)
    ic = extract_concepts(catalog)
    g = build_concept_graph(ic, catalog=catalog)
    check_graph(g)
    idx = ic.index_of()
    h = g.edges["hierarchy"]
    expected = {
        ("beauty", "skin care"),
        ("skin care", "face"),
        ("skin care", "body"),
        ("beauty", "hair care"),
        ("hair care", "shampoo"),
        ("beauty", "makeup"),
    }
    found = {(g.names[a], g.names[b]) for a, b in zip(*h.nonzero(), strict=True)}
    assert found == expected
    assert h[idx["skin care"], idx["face"]] == pytest.approx(1.0)
    assert g.adjacency[idx["face"], idx["skin care"]] > 0


def test_flat_genre_sets_get_no_hierarchy() -> None:
    rng = np.random.default_rng(0)
    genres = ["Action", "Comedy", "Drama", "Horror", "Romance"]
    cats = [tuple(g for g in genres if rng.random() < 0.4) for _ in range(200)]
    catalog = Catalog.build([str(i) for i in range(200)], categories=cats)
    ic = extract_concepts(catalog, config=ConceptConfig(category_kind="genre"))
    assert build_concept_graph(ic, catalog=catalog).edges["hierarchy"].nnz == 0


def test_users_moving_from_a_to_b_give_a_directed_transition_edge() -> None:
    # Items 0-4 carry concept a, 5-9 b, 10-14 c, 15-19 d.
    sets = [{"a"}] * 5 + [{"b"}] * 5 + [{"c"}] * 5 + [{"d"}] * 5
    ic = concepts_from_sets(sets)
    rng = np.random.default_rng(1)
    sequences = [np.array([rng.integers(0, 5), rng.integers(5, 10)]) for _ in range(30)]
    sequences += [np.array([rng.integers(10, 15), rng.integers(15, 20), rng.integers(10, 15)]) for _ in range(30)]
    g = build_concept_graph(ic, sequences=sequences)
    check_graph(g)
    idx = ic.index_of()
    t = g.edges["transition"]
    assert t[idx["a"], idx["b"]] > 0.3
    assert t[idx["b"], idx["a"]] == 0
    assert t[idx["c"], idx["d"]] > 0 and t[idx["d"], idx["c"]] > 0
    assert t[idx["a"], idx["c"]] == 0 and t[idx["a"], idx["d"]] == 0
    assert g.adjacency[idx["b"], idx["a"]] > 0  # adjacency is symmetric
    assert g.path(idx["a"], idx["c"]) is None


def test_similarity_edges_come_from_concept_vectors_above_the_threshold() -> None:
    catalog = Catalog.build(
        [str(i) for i in range(4)],
        tags=[("space opera", "zombies"), ("space opera drama",), ("cooking",), ("space opera drama", "cooking")],
        attributes=[("1",), ("2",), ("1",), ("2",)],
    )
    encoder = HashingEncoder(dim=2048)
    ic = extract_concepts(catalog, encoder=encoder, config=ConceptConfig(min_item_count=1, merge_threshold=1.0))
    assert ic.vectors is not None
    g = build_concept_graph(ic, config=GraphConfig(similarity_threshold=0.5))
    check_graph(g)
    idx = ic.index_of()
    s = g.edges["similarity"]
    cosine = float(ic.vectors[idx["space opera"]] @ ic.vectors[idx["space opera drama"]])
    assert cosine >= 0.5
    assert s[idx["space opera"], idx["space opera drama"]] == pytest.approx(cosine, abs=1e-5)
    assert s[idx["space opera"], idx["cooking"]] == 0
    # Attribute names are ids: "attribute 1" ~ "attribute 2" by spelling only, never linked.
    assert s[idx["attribute 1"], idx["attribute 2"]] == 0


def test_bad_input_is_named() -> None:
    ic = concepts_from_sets([{"a"}, {"b"}])
    with pytest.raises(ValueError, match=r"sequences\[1\]"):
        build_concept_graph(ic, sequences=[np.array([0, 1]), np.array([1, 5])])
    with pytest.raises(ValueError, match="catalog has 3 items"):
        build_concept_graph(ic, catalog=Catalog.build(["x", "y", "z"]))
    with pytest.raises(ValueError, match=r"GraphConfig\.k"):
        GraphConfig(k=0)


def test_adjacency_keeps_top_k_neighbours_per_node() -> None:
    # One hub concept co-occurring with 10 others, with growing strength.
    sets: list[set[str]] = []
    for j in range(10):
        sets += [{"hub", f"x{j}"}] * (3 + j) + [{f"x{j}"}] * (10 - j)
    ic = concepts_from_sets(sets)
    g = build_concept_graph(ic, config=GraphConfig(k=3, min_npmi=0.0))
    hub = ic.index_of()["hub"]
    top = [g.names[c] for c, _ in g.neighbours(hub, 3)]
    assert top == ["x9", "x8", "x7"]
    assert g.edges["cooccurrence"].getrow(hub).nnz > 3  # the typed matrix keeps more


@given(k=st.integers(1, 5), seed=st.integers(0, 2**31 - 1), ties=st.booleans())
def test_top_k_per_row_matches_brute_force(k: int, seed: int, ties: bool) -> None:
    rng = np.random.default_rng(seed)
    values = rng.integers(1, 4, (6, 6)) / 4 if ties else rng.uniform(0.01, 1.0, (6, 6))
    dense = np.where(rng.random((6, 6)) < 0.6, values, 0).astype(np.float32)
    out = top_k_per_row(sp.csr_matrix(dense), k).toarray()
    for r in range(6):
        nz = [(-dense[r, c], c) for c in range(6) if dense[r, c] > 0]
        keep = {c for _, c in sorted(nz)[:k]}
        expected = np.array([dense[r, c] if c in keep else 0 for c in range(6)], dtype=np.float32)
        np.testing.assert_array_equal(out[r], expected)


@settings(max_examples=40, deadline=None)
@given(
    n_concepts=st.integers(1, 12),
    n_items=st.integers(1, 30),
    seed=st.integers(0, 2**31 - 1),
    k=st.integers(1, 6),
)
def test_graph_properties_hold_on_random_data(n_concepts: int, n_items: int, seed: int, k: int) -> None:
    rng = np.random.default_rng(seed)
    dense = (rng.random((n_items, n_concepts)) < 0.3) * rng.uniform(0.1, 1.0, (n_items, n_concepts))
    names = [f"c{j}" for j in range(n_concepts)]
    vectors = rng.normal(size=(n_concepts, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ic = ItemConcepts(
        names=names,
        kinds=["tag"] * n_concepts,
        matrix=sp.csr_matrix(dense.astype(np.float32)),
        vectors=vectors,
    )
    sequences = [rng.integers(0, n_items, size=rng.integers(0, 8)) for _ in range(10)]
    g = build_concept_graph(
        ic,
        sequences=sequences,
        config=GraphConfig(k=k, min_cooccurrence=1, min_transitions=1, min_npmi=0.0, similarity_threshold=0.0),
    )
    check_graph(g)
    assert g.names == names


def test_shipped_movielens_sample_graph() -> None:
    data = load_dataset("ml-latest-small-sample")
    ic = extract_concepts(data.catalog, config=ConceptConfig(category_kind="genre"))
    g = build_concept_graph(ic, sequences=data.interactions.sequences(), catalog=data.catalog)
    check_graph(g)
    idx = ic.index_of()
    assert idx["children"] in [c for c, _ in g.neighbours(idx["animation"], 5)]
    assert g.edges["transition"].nnz > 0 and g.edges["cooccurrence"].nnz > 0
    assert g.edges["hierarchy"].nnz == 0
