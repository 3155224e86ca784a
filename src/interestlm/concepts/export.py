"""The concept graph out of the library: networkx, GraphML and node-link JSON.

Nodes carry ``name`` and ``kind``; every typed edge becomes one edge with ``type``, ``weight`` and
``directed`` (symmetric types are written once, from the lower to the higher index) and, for
imported knowledge, ``relation``. ``adjacency`` is derived from the typed edges and not written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import networkx as nx

from interestlm.concepts.graph import DIRECTED_EDGE_TYPES
from interestlm.core.schema import ConceptGraph


def graph_to_networkx(graph: ConceptGraph) -> nx.MultiDiGraph:
    """A ``MultiDiGraph`` with nodes ``0 .. n-1`` and one edge per (type, head, tail)."""
    g = nx.MultiDiGraph()
    for c, name in enumerate(graph.names):
        attrs: dict[str, Any] = {"name": name}
        if graph.kinds is not None:
            attrs["kind"] = graph.kinds[c]
        g.add_node(c, **attrs)
    for edge_type in sorted(graph.edges):
        directed = edge_type in DIRECTED_EDGE_TYPES
        coo = graph.edges[edge_type].tocoo()
        for head, tail, weight in zip(coo.row.tolist(), coo.col.tolist(), coo.data.tolist(), strict=True):
            if not directed and head > tail:
                continue
            attrs = {"type": edge_type, "weight": float(weight), "directed": directed}
            relation = graph.relations.get((head, tail))
            if edge_type == "knowledge" and relation is not None:
                attrs["relation"] = relation
            g.add_edge(head, tail, key=edge_type, **attrs)
    return g


def to_graphml(graph: ConceptGraph, path: str | Path) -> Path:
    """Write the graph as GraphML (readable by networkx, Gephi, yEd); returns the path."""
    out = Path(path)
    nx.write_graphml(graph_to_networkx(graph), out)
    return out


def to_json(graph: ConceptGraph) -> dict[str, Any]:
    """Node-link JSON: ``{"directed", "multigraph", "nodes": [{id, name, kind}], "links": [...]}``."""
    g = graph_to_networkx(graph)
    nodes = [{"id": int(c), **attrs} for c, attrs in g.nodes(data=True)]
    links = [{"source": int(h), "target": int(t), **attrs} for h, t, attrs in g.edges(data=True)]
    return {"directed": True, "multigraph": True, "nodes": nodes, "links": links}
