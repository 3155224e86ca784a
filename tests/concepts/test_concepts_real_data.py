import time

import numpy as np
import pytest

from interestlm.concepts import ConceptConfig, build_concept_graph, extract_concepts
from interestlm.core.names import normalise_name
from interestlm.data.registry import load_dataset
from interestlm.testing import shared_data
from interestlm.text import item_texts

pytestmark = pytest.mark.integration


def test_movielens_latest_small_concepts_and_graph() -> None:
    data = load_dataset("ml-latest-small", data_root=shared_data("ml-latest-small").parent)
    t0 = time.perf_counter()
    ic = extract_concepts(data.catalog, config=ConceptConfig(category_kind="genre"))
    t1 = time.perf_counter()
    graph = build_concept_graph(ic, sequences=data.interactions.sequences(), catalog=data.catalog)
    t2 = time.perf_counter()
    print(f"\nml-latest-small: {data.n_items} items, {ic.n_concepts} concepts, extract {t1 - t0:.2f}s, "
          f"graph {t2 - t1:.2f}s, edges { {t: m.nnz for t, m in graph.edges.items()} }")
    index = ic.index_of()
    assert sum(k == "genre" for k in ic.kinds) == 19
    assert ic.kinds[index["sci fi"]] == "genre"
    assert 500 < ic.n_concepts < 20_000
    # Most movies get more than their genres.
    assert np.mean(ic.matrix.getnnz(axis=1) > 0) > 0.99
    neighbours = [graph.names[c] for c, _ in graph.neighbours(index["animation"], 10)]
    assert "children" in neighbours
    assert graph.edges["cooccurrence"][index["animation"], index["children"]] > 0.3
    assert graph.edges["transition"].nnz > 1000
    assert graph.edges["hierarchy"].nnz == 0  # genres are flat
    assert (graph.adjacency != graph.adjacency.T).nnz == 0
    assert t2 - t0 < 60


def test_beauty_attributes_concepts_and_graph() -> None:
    data = load_dataset("beauty", data_root=shared_data("amazon-s3rec").parent)
    t0 = time.perf_counter()
    ic = extract_concepts(data.catalog)
    t1 = time.perf_counter()
    graph = build_concept_graph(ic, sequences=data.interactions.sequences(), catalog=data.catalog)
    t2 = time.perf_counter()
    print(f"\nbeauty: {data.n_items} items, {ic.n_concepts} concepts, extract {t1 - t0:.2f}s, "
          f"graph {t2 - t1:.2f}s, edges { {t: m.nnz for t, m in graph.edges.items()} }")
    distinct = {a for attrs in data.catalog.attributes for a in attrs}
    assert ic.n_concepts == len(distinct)
    assert set(ic.kinds) == {"attribute"}
    assert ic.matrix.nnz == sum(len(a) for a in data.catalog.attributes)
    assert graph.edges["cooccurrence"].nnz > 0 and graph.edges["transition"].nnz > 0
    assert np.median(graph.adjacency.getnnz(axis=1)) <= 2 * 20  # top 20 each, joined symmetrically
    assert t2 - t0 < 60


def test_movielens_concepts_are_no_title_fragments_and_keep_series_names() -> None:
    """Issue 20, item 5: the fragments quoted there are gone, series names stay, coverage holds."""
    data = load_dataset("ml-latest-small", data_root=shared_data("ml-latest-small").parent)
    ic = extract_concepts(data.catalog, texts=item_texts(data.catalog), config=ConceptConfig(category_kind="genre"))
    names = set(ic.names)
    fragments = {"step", "tommy", "drop", "did last summer", "legend of ron", "social", "network", "dragon tattoo"}
    assert not names & fragments
    assert not names & {"tags", "categories", "doragon bôru", "like", "just"}
    assert {"star wars", "dragon ball", "toy story", "harry potter", "shrek", "police academy"} <= names
    assert np.mean(ic.matrix.getnnz(axis=1) > 0) > 0.99
    # MovieLens items have no text but titles, genres and tags: a keyphrase named in the titles of
    # all its items is a series name, which >= 3 titles of the catalog name.
    titles = [f" {normalise_name(t)} " for t in data.catalog.titles]
    for c in np.flatnonzero(np.asarray(ic.kinds) == "keyphrase").tolist():
        padded = f" {ic.names[c]} "
        items = np.flatnonzero(ic.matrix[:, c].toarray().ravel())
        if all(padded in titles[i] for i in items):
            assert sum(padded in t for t in titles) >= 3, ic.names[c]
