"""The concept graph: typed, weighted relations between the concepts of :class:`ItemConcepts`.

Edge types (:data:`~interestlm.core.schema.EDGE_TYPES`), each an ``n x n`` CSR matrix with weights in
``[0, 1]``:

* ``cooccurrence`` (symmetric): positive NPMI of two concepts on the same item;
* ``transition`` (directed): positive NPMI of a concept on a user's item ``t`` and another on
  item ``t + 1``, from time-ordered item sequences;
* ``similarity`` (symmetric): cosine of the concept vectors, k nearest neighbours above a floor;
* ``hierarchy`` (directed, parent -> child): from category paths, where a child's items (almost)
  all carry the parent and the parent is listed first;
* ``knowledge`` (directed): empty here, filled by :func:`~interestlm.concepts.kg.import_triples`.

``adjacency`` is the maximum over the types (each symmetrised and scaled by its type weight),
pruned to each node's ``k`` strongest neighbours and symmetrised again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import faiss
import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from interestlm.concepts.names import OPAQUE_KINDS
from interestlm.core.names import normalise_name
from interestlm.core.schema import EDGE_TYPES, ConceptGraph, ItemConcepts
from interestlm.core.tables import Catalog
from interestlm.core.topk import top_k_per_row

#: Edge types whose matrices are directed (the others are symmetric).
DIRECTED_EDGE_TYPES: frozenset[str] = frozenset({"transition", "hierarchy", "knowledge"})


@dataclass(frozen=True, kw_only=True)
class GraphConfig:
    """Settings of :func:`build_concept_graph`.

    ``k``: neighbours kept per node in ``adjacency``; ``max_edges_per_type``: per node (outgoing)
    in each typed matrix. NPMI edges need at least ``min_cooccurrence`` / ``min_transitions``
    supporting items / moves and an NPMI of at least ``min_npmi`` / ``min_transition_npmi``.
    A category is a child of another when at least ``hierarchy_containment`` of its items carry
    the other. ``*_weight`` scales each type inside ``adjacency``.
    """

    k: int = 20
    max_edges_per_type: int = 50
    min_cooccurrence: int = 3
    min_npmi: float = 0.1
    min_transitions: int = 3
    min_transition_npmi: float = 0.1
    similarity_threshold: float = 0.75
    similarity_k: int = 10
    hierarchy_containment: float = 0.95
    cooccurrence_weight: float = 1.0
    transition_weight: float = 1.0
    similarity_weight: float = 1.0
    hierarchy_weight: float = 1.0

    def __post_init__(self) -> None:
        for name in ("k", "max_edges_per_type", "min_cooccurrence", "min_transitions", "similarity_k"):
            if getattr(self, name) < 1:
                raise ValueError(f"GraphConfig.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("min_npmi", "min_transition_npmi", "hierarchy_containment"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"GraphConfig.{name} must be in [0, 1], got {getattr(self, name)}")
        if not -1.0 <= self.similarity_threshold <= 1.0:
            raise ValueError(f"GraphConfig.similarity_threshold must be in [-1, 1], got {self.similarity_threshold}")
        for name in ("cooccurrence_weight", "transition_weight", "similarity_weight", "hierarchy_weight"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"GraphConfig.{name} must be in [0, 1], got {getattr(self, name)}")

    def type_weight(self, edge_type: str) -> float:
        """Scale of ``edge_type`` inside ``adjacency`` (imported knowledge always 1)."""
        return float(getattr(self, f"{edge_type}_weight", 1.0))


def build_concept_graph(
    item_concepts: ItemConcepts,
    *,
    sequences: Sequence[npt.NDArray[np.integer]] | None = None,
    catalog: Catalog | None = None,
    config: GraphConfig | None = None,
) -> ConceptGraph:
    """Typed edges between concepts (see the module doc) and their combined ``adjacency``.

    ``sequences`` are users' item indices in time order (transition edges only when given);
    ``catalog`` gives the category paths (hierarchy edges only when given); similarity edges
    need ``item_concepts.vectors``.
    """
    cfg = config if config is not None else GraphConfig()
    n = item_concepts.n_concepts
    presence = _presence(item_concepts.matrix)
    edges = {t: _empty(n) for t in EDGE_TYPES}
    edges["cooccurrence"] = _cooccurrence(presence, cfg)
    if sequences is not None:
        edges["transition"] = _transitions(presence, sequences, cfg)
    if item_concepts.vectors is not None:
        edges["similarity"] = _similarity(item_concepts, cfg)
    if catalog is not None:
        edges["hierarchy"] = _hierarchy(item_concepts, catalog, cfg)
    return ConceptGraph(
        names=list(item_concepts.names),
        kinds=list(item_concepts.kinds),
        edges=edges,
        adjacency=combine_edges(edges, cfg),
    )


def combine_edges(edges: dict[str, sp.csr_matrix], config: GraphConfig | None = None) -> sp.csr_matrix:
    """Symmetric adjacency in ``[0, 1]``: max over types, top ``k`` per node, no self loops."""
    cfg = config if config is not None else GraphConfig()
    if not edges:
        raise ValueError("combine_edges needs at least one edge matrix")
    n = next(iter(edges.values())).shape[0]
    adjacency = _empty(n)
    for edge_type, matrix in edges.items():
        if matrix.shape != (n, n):
            raise ValueError(f"edge matrix {edge_type!r} has shape {matrix.shape}, expected ({n}, {n})")
        scaled = symmetrise(matrix) * cfg.type_weight(edge_type)
        adjacency = sp.csr_matrix(adjacency.maximum(scaled))
    adjacency = _drop_diagonal(adjacency)
    return _finish(symmetrise(top_k_per_row(adjacency, cfg.k)))


# --------------------------------------------------------------------------- edge types


def _cooccurrence(presence: sp.csr_matrix, cfg: GraphConfig) -> sp.csr_matrix:
    has_concept = np.diff(presence.indptr) > 0
    total = float(has_concept.sum())
    n = presence.shape[1]
    if total == 0:
        return _empty(n)
    counts = sp.csr_matrix(presence.T @ presence).tocoo()
    item_counts = np.asarray(presence.sum(axis=0)).ravel()
    npmi = _npmi(counts, item_counts, item_counts, total, cfg.min_cooccurrence, cfg.min_npmi)
    return _finish(symmetrise(top_k_per_row(npmi, cfg.max_edges_per_type)))


def _transitions(
    presence: sp.csr_matrix, sequences: Sequence[npt.NDArray[np.integer]], cfg: GraphConfig
) -> sp.csr_matrix:
    n_items, n = presence.shape
    starts: list[npt.NDArray[np.int64]] = []
    ends: list[npt.NDArray[np.int64]] = []
    for u, seq in enumerate(sequences):
        s = np.asarray(seq, dtype=np.int64)
        if len(s) and (s.min() < 0 or s.max() >= n_items):
            raise ValueError(f"sequences[{u}] holds item indices outside [0, {n_items})")
        if len(s) > 1:
            starts.append(s[:-1])
            ends.append(s[1:])
    if not starts:
        return _empty(n)
    a, b = np.concatenate(starts), np.concatenate(ends)
    has_concept = np.diff(presence.indptr) > 0
    keep = has_concept[a] & has_concept[b]
    a, b = a[keep], b[keep]
    total = float(len(a))
    if total == 0:
        return _empty(n)
    # Item-to-item move counts, then concept-to-concept through the item-concept incidence: no pair loops.
    moves = sp.csr_matrix((np.ones(len(a), dtype=np.float64), (a, b)), shape=(n_items, n_items))
    counts = sp.csr_matrix(presence.T @ moves @ presence).tocoo()
    from_counts = presence.T @ np.asarray(moves.sum(axis=1)).ravel()
    to_counts = presence.T @ np.asarray(moves.sum(axis=0)).ravel()
    npmi = _npmi(counts, from_counts, to_counts, total, cfg.min_transitions, cfg.min_transition_npmi)
    return _finish(top_k_per_row(npmi, cfg.max_edges_per_type))


def _similarity(item_concepts: ItemConcepts, cfg: GraphConfig) -> sp.csr_matrix:
    vectors = item_concepts.vectors
    n = item_concepts.n_concepts
    if vectors is None:
        return _empty(n)
    usable = np.array([k not in OPAQUE_KINDS for k in item_concepts.kinds], dtype=bool)
    usable &= np.linalg.norm(vectors, axis=1) > 0
    ids = np.flatnonzero(usable)
    if len(ids) < 2:
        return _empty(n)
    x = np.ascontiguousarray(vectors[ids], dtype=np.float32)
    index = faiss.IndexFlatIP(x.shape[1])
    index.add(x)
    k = min(cfg.similarity_k + 1, len(ids))
    sims, nbrs = index.search(x, k)
    rows = np.repeat(np.arange(len(ids)), k)
    cols, vals = nbrs.ravel(), sims.ravel()
    mask = (cols >= 0) & (cols != rows) & (vals >= cfg.similarity_threshold)
    matrix = sp.csr_matrix(
        (np.clip(vals[mask], 0.0, 1.0), (ids[rows[mask]], ids[cols[mask]])), shape=(n, n), dtype=np.float32
    )
    return _finish(symmetrise(matrix))


def _hierarchy(item_concepts: ItemConcepts, catalog: Catalog, cfg: GraphConfig) -> sp.csr_matrix:
    n = item_concepts.n_concepts
    if len(catalog) != item_concepts.n_items:
        raise ValueError(f"catalog has {len(catalog)} items, item_concepts has {item_concepts.n_items}")
    index = item_concepts.index_of()
    lookup: dict[str, int] = {}
    count = np.zeros(n, dtype=np.int64)
    before: dict[tuple[int, int], int] = {}
    for categories in catalog.categories:
        path: list[int] = []
        for category in categories:
            c = lookup.get(category)
            if c is None:
                c = lookup[category] = index.get(normalise_name(category), -1)
            if c >= 0 and c not in path:
                path.append(c)
        for p, parent in enumerate(path):
            count[parent] += 1
            for child in path[p + 1 :]:
                before[parent, child] = before.get((parent, child), 0) + 1
    # Each category's parent: the most specific category that covers (almost) all its items and is
    # listed before it. Flat labels such as genres rarely cover one another, so they get none.
    best: dict[int, tuple[tuple[int, int, int], float]] = {}
    for (parent, child), first in before.items():
        second = before.get((child, parent), 0)
        containment = (first + second) / count[child]
        if first <= second or count[parent] < count[child] or containment < cfg.hierarchy_containment:
            continue
        key = (int(count[parent]), -first, parent)
        if child not in best or key < best[child][0]:
            best[child] = (key, containment)
    if not best:
        return _empty(n)
    children = np.fromiter(best, dtype=np.int64, count=len(best))
    parents = np.array([best[c][0][2] for c in best], dtype=np.int64)
    weights = np.array([min(best[c][1], 1.0) for c in best], dtype=np.float32)
    return _finish(sp.csr_matrix((weights, (parents, children)), shape=(n, n), dtype=np.float32))


# --------------------------------------------------------------------------- helpers


def _npmi(
    counts: sp.coo_matrix,
    from_counts: npt.NDArray[np.floating],
    to_counts: npt.NDArray[np.floating],
    total: float,
    min_count: int,
    min_npmi: float,
) -> sp.csr_matrix:
    """Normalised PMI ``log(p(a,b) / p(a) p(b)) / -log p(a,b)`` of pair counts, positive part only."""
    rows, cols, n_ab = counts.row, counts.col, counts.data.astype(np.float64)
    mask = (rows != cols) & (n_ab >= min_count)
    rows, cols, n_ab = rows[mask], cols[mask], n_ab[mask]
    pmi = np.log(n_ab * total / (from_counts[rows] * to_counts[cols]))
    neg_log_joint = -np.log(n_ab / total)
    # p(a,b) = 1: both always present together, the strongest association there is.
    with np.errstate(divide="ignore", invalid="ignore"):
        npmi = np.where(neg_log_joint > 1e-12, pmi / neg_log_joint, 1.0)
    keep = (npmi > 0) & (npmi >= min_npmi)
    return sp.csr_matrix(
        (np.clip(npmi[keep], 0.0, 1.0).astype(np.float32), (rows[keep], cols[keep])), shape=counts.shape
    )


def _presence(matrix: sp.csr_matrix) -> sp.csr_matrix:
    out = sp.csr_matrix(matrix, dtype=np.float64, copy=True)
    out.eliminate_zeros()
    out.data[:] = 1.0
    return out


def _empty(n: int) -> sp.csr_matrix:
    return sp.csr_matrix((n, n), dtype=np.float32)


def _drop_diagonal(matrix: sp.csr_matrix) -> sp.csr_matrix:
    coo = matrix.tocoo()
    off = coo.row != coo.col
    return sp.csr_matrix((coo.data[off], (coo.row[off], coo.col[off])), shape=matrix.shape, dtype=np.float32)


def _finish(matrix: sp.csr_matrix) -> sp.csr_matrix:
    out = sp.csr_matrix(matrix, dtype=np.float32)
    out.data = np.clip(out.data, 0.0, 1.0).astype(np.float32)
    out.eliminate_zeros()
    out.sort_indices()
    return out


def symmetrise(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """``max(M, M.T)`` elementwise, as float32 CSR."""
    m = sp.csr_matrix(matrix, dtype=np.float32)
    return sp.csr_matrix(m.maximum(m.T), dtype=np.float32)
