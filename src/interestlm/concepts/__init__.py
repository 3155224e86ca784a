"""Concepts of items (fields + keyphrases), the concept graph, knowledge-graph import and export."""

from interestlm.concepts.export import graph_to_networkx, to_graphml, to_json
from interestlm.concepts.extract import ConceptConfig, extract_concepts
from interestlm.concepts.graph import DIRECTED_EDGE_TYPES, GraphConfig, build_concept_graph, combine_edges
from interestlm.concepts.kg import KGImportReport, import_triples
from interestlm.concepts.names import normalise_name, spelling_key

__all__ = [
    "DIRECTED_EDGE_TYPES",
    "ConceptConfig",
    "GraphConfig",
    "KGImportReport",
    "build_concept_graph",
    "combine_edges",
    "extract_concepts",
    "graph_to_networkx",
    "import_triples",
    "normalise_name",
    "spelling_key",
    "to_graphml",
    "to_json",
]
