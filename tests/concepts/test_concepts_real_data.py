import time

import numpy as np
import pytest

from interestlm.concepts import ConceptConfig, build_concept_graph, extract_concepts
from interestlm.data.registry import load_dataset
from interestlm.testing import shared_data

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
