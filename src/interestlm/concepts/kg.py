"""Knowledge-graph import: ``head<TAB>relation<TAB>tail`` triples linked onto concepts by name.

Ends are matched by normalised name (:func:`~interestlm.concepts.names.normalise_name`) against
the graph's nodes. A triple whose two ends are nodes becomes a directed ``knowledge`` edge
(head -> tail) with its relation label kept in ``ConceptGraph.relations``. An end that is no node
but sits within ``max_hops`` triples of one becomes a new node of kind ``"entity"``, appended
after the existing nodes (so a concept and an item concept can meet through it). Triples that
reach no node are counted as unmatched and reported, with examples. The result does not depend
on the order of the lines.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from interestlm.concepts.graph import symmetrise
from interestlm.core.errors import DataError, OnError
from interestlm.core.names import normalise_name
from interestlm.core.schema import ConceptGraph


@dataclass(frozen=True, kw_only=True)
class KGImportReport:
    """What :func:`import_triples` did with a file.

    ``n_read`` counts well-formed triples; ``n_linked`` those that became edges; ``n_unmatched``
    those that reached no node (``unmatched`` holds the first few as ``file:line: head | relation |
    tail``); ``n_self_loops`` those whose two ends name the same node. ``rejected`` lists every
    malformed line (only with ``on_error="skip"``; otherwise the first one raised).
    """

    path: str
    n_read: int
    n_linked: int
    n_new_entities: int
    n_unmatched: int
    n_self_loops: int
    unmatched: tuple[str, ...]
    rejected: tuple[str, ...]

    @property
    def n_rejected(self) -> int:
        """Number of malformed lines skipped."""
        return len(self.rejected)

    def summary(self) -> str:
        """Readable counts and the first unmatched and rejected lines."""
        lines = [
            f"{self.path}: {self.n_read} triples read, {self.n_linked} linked, {self.n_new_entities} new entities, "
            f"{self.n_unmatched} unmatched, {self.n_self_loops} self loops, {self.n_rejected} lines rejected"
        ]
        if self.unmatched:
            lines.append("unmatched (first):")
            lines.extend(f"  {u}" for u in self.unmatched)
        if self.rejected:
            lines.append("rejected:")
            lines.extend(f"  {r}" for r in self.rejected)
        return "\n".join(lines)


@dataclass(frozen=True)
class _Triple:
    line: int
    head: str
    relation: str
    tail: str


def import_triples(
    graph: ConceptGraph,
    path: str | Path,
    *,
    on_error: OnError = "raise",
    max_hops: int = 1,
    weight: float = 1.0,
    max_examples: int = 20,
) -> tuple[ConceptGraph, KGImportReport]:
    """Add the triples of a TSV file to ``graph`` as ``knowledge`` edges (see the module doc).

    Blank lines and lines starting with ``#`` are ignored. A line without exactly three
    non-empty tab-separated fields raises a ValueError naming the file and line, or with
    ``on_error="skip"`` is counted and listed in the report. Knowledge edges get ``weight`` and
    are all kept in ``adjacency`` (never pruned: a person asked for them).
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    if max_hops < 1:
        raise ValueError(f"max_hops must be >= 1, got {max_hops}")
    if not 0.0 < weight <= 1.0:
        raise ValueError(f"weight must be in (0, 1], got {weight}")
    where = str(path)
    triples, rejected = _read_triples(Path(path), on_error)

    index: dict[str, int] = {}
    for c, name in enumerate(graph.names):
        index.setdefault(name, c)
    present = set(index)
    new_entities: list[str] = []
    for _ in range(max_hops):
        reached: dict[str, None] = {}
        for t in triples:
            if (t.head in present) != (t.tail in present):
                reached.setdefault(t.tail if t.head in present else t.head, None)
        if not reached:
            break
        present.update(reached)
        new_entities.extend(reached)
    n_old = graph.n_concepts
    for offset, name in enumerate(new_entities):
        index[name] = n_old + offset
    n = n_old + len(new_entities)

    heads: list[int] = []
    tails: list[int] = []
    labels: dict[tuple[int, int], list[str]] = {}
    unmatched: list[str] = []
    n_unmatched = n_self = 0
    for t in triples:
        if t.head not in present or t.tail not in present:
            n_unmatched += 1
            if len(unmatched) < max_examples:
                unmatched.append(f"{where}:{t.line}: {t.head} | {t.relation} | {t.tail}")
            continue
        h, tl = index[t.head], index[t.tail]
        if h == tl:
            n_self += 1
            continue
        heads.append(h)
        tails.append(tl)
        pair_labels = labels.setdefault((h, tl), [])
        if t.relation not in pair_labels:
            pair_labels.append(t.relation)

    knowledge = sp.csr_matrix(
        (np.full(len(heads), weight, dtype=np.float32), (heads, tails)), shape=(n, n), dtype=np.float32
    )
    knowledge.data[:] = weight  # repeated triples sum on construction; a fact counts once
    edges = {edge_type: _resize(m, n) for edge_type, m in graph.edges.items()}
    edges["knowledge"] = _clip(edges.get("knowledge", _resize(sp.csr_matrix((0, 0)), n)).maximum(knowledge))
    adjacency = _clip(_resize(graph.adjacency, n).maximum(symmetrise(knowledge)))
    relations = dict(graph.relations)
    for pair, rels in labels.items():
        old = relations.get(pair)
        merged = ([old] if old else []) + [r for r in rels if r != old]
        relations[pair] = "; ".join(merged)
    kinds = None if graph.kinds is None else [*graph.kinds, *(["entity"] * len(new_entities))]
    new_graph = replace(
        graph,
        names=[*graph.names, *new_entities],
        kinds=kinds,
        edges=edges,
        adjacency=adjacency,
        relations=relations,
    )
    report = KGImportReport(
        path=where,
        n_read=len(triples),
        n_linked=len(heads),
        n_new_entities=len(new_entities),
        n_unmatched=n_unmatched,
        n_self_loops=n_self,
        unmatched=tuple(unmatched),
        rejected=tuple(rejected),
    )
    return new_graph, report


def _read_triples(path: Path, on_error: OnError) -> tuple[list[_Triple], list[str]]:
    where = str(path)
    triples: list[_Triple] = []
    rejected: list[str] = []
    line_no = 0
    try:
        with path.open(encoding="utf-8") as fh:
            for line_no, raw in enumerate(fh, start=1):
                line = raw.rstrip("\r\n")
                if not line.strip() or line.lstrip().startswith("#"):
                    continue
                try:
                    triples.append(_parse(where, line_no, line))
                except DataError as exc:
                    if on_error == "raise":
                        raise
                    rejected.append(str(exc))
    except UnicodeDecodeError as exc:
        raise ValueError(f"{where}:{line_no + 1}: not UTF-8 text ({exc.reason})") from exc
    except OSError as exc:
        raise ValueError(f"{where}: cannot read knowledge-graph triples ({exc.strerror or exc})") from exc
    return triples, rejected


def _parse(where: str, line_no: int, line: str) -> _Triple:
    parts = line.split("\t")
    if len(parts) != 3:
        raise DataError(
            where, line_no, "line", f"expected 3 tab-separated fields (head, relation, tail), found {len(parts)}"
        )
    head, relation, tail = (p.strip() for p in parts)
    for field_name, value in (("head", head), ("relation", relation), ("tail", tail)):
        if not value:
            raise DataError(where, line_no, field_name, "is empty")
    head_name, tail_name = normalise_name(head), normalise_name(tail)
    for field_name, value, name in (("head", head, head_name), ("tail", tail, tail_name)):
        if not name:
            raise DataError(where, line_no, field_name, f"{value!r} has no letters or digits")
    return _Triple(line=line_no, head=head_name, relation=relation, tail=tail_name)


def _resize(matrix: sp.csr_matrix, n: int) -> sp.csr_matrix:
    """The same entries in an ``n x n`` matrix (new rows and columns empty)."""
    coo = matrix.tocoo()
    return sp.csr_matrix((coo.data.astype(np.float32), (coo.row, coo.col)), shape=(n, n), dtype=np.float32)


def _clip(matrix: sp.csr_matrix) -> sp.csr_matrix:
    out = sp.csr_matrix(matrix, dtype=np.float32)
    out.data = np.clip(out.data, 0.0, 1.0).astype(np.float32)
    out.eliminate_zeros()
    out.sort_indices()
    return out
