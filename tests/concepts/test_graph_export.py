import json
from pathlib import Path

import networkx as nx
import numpy as np

from interestlm.concepts import (
    ConceptConfig,
    GraphConfig,
    build_concept_graph,
    extract_concepts,
    graph_to_networkx,
    import_triples,
    to_graphml,
    to_json,
)
from interestlm.core.schema import EDGE_TYPES, ConceptGraph
from interestlm.core.tables import Catalog


def small_graph(tmp_path: Path) -> ConceptGraph:
    cats = [("Beauty", "Skin Care")] * 3 + [("Beauty", "Hair Care")] * 3 + [("Beauty",)]
    tags = [("gentle",), ("gentle",), ("gentle",), ("shiny",), ("shiny",), ("shiny",), ()]
    catalog = Catalog.build([str(i) for i in range(7)], categories=cats, tags=tags)
    ic = extract_concepts(catalog, config=ConceptConfig(min_item_count=1))
    sequences = [np.array([0, 3, 1, 4]), np.array([0, 3]), np.array([1, 4, 2, 5])]
    graph = build_concept_graph(
        ic, sequences=sequences, catalog=catalog, config=GraphConfig(min_cooccurrence=1, min_transitions=1)
    )
    kg = tmp_path / "kg.tsv"
    kg.write_text("gentle\tsuits\tSensitive Skin\n", encoding="utf-8")
    graph, _ = import_triples(graph, kg)
    return graph


def expected_edge_count(graph: ConceptGraph) -> int:
    total = 0
    for t, m in graph.edges.items():
        total += m.nnz if t in ("transition", "hierarchy", "knowledge") else m.nnz // 2
    return total


def test_graphml_round_trip_through_networkx(tmp_path: Path) -> None:
    graph = small_graph(tmp_path)
    path = to_graphml(graph, tmp_path / "graph.graphml")
    back = nx.read_graphml(path)
    assert back.number_of_nodes() == graph.n_concepts
    assert back.number_of_edges() == expected_edge_count(graph) > 0
    kinds = nx.get_node_attributes(back, "kind")
    names = nx.get_node_attributes(back, "name")
    assert sorted(names.values()) == sorted(graph.names)
    assert sorted(kinds.values()) == sorted(graph.kinds or [])
    types = {d["type"] for _, _, d in back.edges(data=True)}
    assert {"cooccurrence", "hierarchy", "knowledge"} <= types <= set(EDGE_TYPES)
    # GraphML keeps the multigraph key (the edge type) as the edge id.
    knowledge = [
        {k: v for k, v in d.items() if k != "id"} for _, _, d in back.edges(data=True) if d["type"] == "knowledge"
    ]
    assert knowledge == [{"type": "knowledge", "weight": 1.0, "directed": True, "relation": "suits"}]


def test_json_is_node_link_with_kinds_and_typed_edges(tmp_path: Path) -> None:
    graph = small_graph(tmp_path)
    doc = json.loads(json.dumps(to_json(graph)))
    assert doc["directed"] and doc["multigraph"]
    assert [n["id"] for n in doc["nodes"]] == list(range(graph.n_concepts))
    assert doc["nodes"][-1] == {"id": graph.n_concepts - 1, "name": "sensitive skin", "kind": "entity"}
    assert len(doc["links"]) == expected_edge_count(graph)
    index = {n: c for c, n in enumerate(graph.names)}
    hierarchy = {(link["source"], link["target"]) for link in doc["links"] if link["type"] == "hierarchy"}
    assert hierarchy == {(index["beauty"], index["skin care"]), (index["beauty"], index["hair care"])}
    assert all(0 <= link["weight"] <= 1 for link in doc["links"])
    g = graph_to_networkx(graph)
    assert g.number_of_nodes() == graph.n_concepts
