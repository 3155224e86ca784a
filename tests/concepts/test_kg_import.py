from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from interestlm.concepts import GraphConfig, build_concept_graph, import_triples
from interestlm.core.schema import ConceptGraph, ItemConcepts

TRIPLES = """# genre knowledge
Sci-Fi\tsubgenre_of\tSpeculative Fiction

Horror\tsubgenre of\tspeculative fiction
Space\trelated_to\tsci fi
Foo\tbar\tBaz
Speculative Fiction\tsame_as\tSPECULATIVE-FICTION
"""


def base_graph() -> ConceptGraph:
    names = ["comedy", "horror", "sci fi", "space"]
    # Items: sci fi + space together; horror alone; comedy alone: no path sci fi -> horror yet.
    rows, cols = [0, 0, 1, 2, 3, 3], [2, 3, 1, 0, 2, 3]
    matrix = sp.csr_matrix((np.ones(6, dtype=np.float32), (rows, cols)), shape=(4, 4))
    ic = ItemConcepts(names=names, kinds=["genre", "genre", "genre", "tag"], matrix=matrix)
    return build_concept_graph(ic, config=GraphConfig(min_cooccurrence=1))


def write(tmp_path: Path, text: str, name: str = "kg.tsv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_triples_link_concepts_add_entities_and_report_unmatched(tmp_path: Path) -> None:
    graph = base_graph()
    sci, horror, space = 2, 1, 3
    assert graph.path(sci, horror) is None
    path = write(tmp_path, TRIPLES)
    new, report = import_triples(graph, path)

    assert new.names[:4] == graph.names
    assert new.names[4:] == ["speculative fiction"]
    assert new.kinds is not None and new.kinds[4] == "entity" and new.kinds[:4] == graph.kinds
    entity = 4
    assert new.n_concepts == 5
    assert all(m.shape == (5, 5) for m in [new.adjacency, *new.edges.values()])
    k = new.edges["knowledge"]
    assert k[sci, entity] == 1 and k[horror, entity] == 1 and k[space, sci] == 1
    assert k[entity, sci] == 0  # directed head -> tail
    assert new.relations[(sci, entity)] == "subgenre_of"
    assert new.relations[(space, sci)] == "related_to"
    assert (new.adjacency != new.adjacency.T).nnz == 0
    assert new.path(sci, horror) == [sci, entity, horror]  # two hops through the KG entity
    # The original graph is untouched.
    assert graph.n_concepts == 4 and graph.edges["knowledge"].shape == (4, 4)

    assert report.n_read == 5
    assert report.n_linked == 3
    assert report.n_new_entities == 1
    assert report.n_unmatched == 1
    assert report.n_self_loops == 1
    assert report.unmatched == (f"{path}:6: foo | bar | baz",)
    assert report.rejected == ()
    assert "1 unmatched" in report.summary()


def test_malformed_line_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "Sci-Fi\tsubgenre_of\tSpeculative Fiction\n# ok\nonly\ttwo fields\nHorror\tis\tscary\n")
    with pytest.raises(ValueError, match=rf"{path}:3: field 'line': expected 3 tab-separated fields"):
        import_triples(base_graph(), path)
    empty_field = write(tmp_path, "Horror\t \tscary\n", "empty.tsv")
    with pytest.raises(ValueError, match=rf"{empty_field}:1: field 'relation': is empty"):
        import_triples(base_graph(), empty_field)
    with pytest.raises(ValueError, match="cannot read"):
        import_triples(base_graph(), tmp_path / "missing.tsv")


def test_skip_mode_counts_and_lists_rejected_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "Sci-Fi\tsubgenre_of\tSpeculative Fiction\nbad line\n!!!\tr\tx\nHorror\tis\tscary\n")
    new, report = import_triples(base_graph(), path, on_error="skip")
    assert report.n_rejected == 2
    assert report.rejected[0].startswith(f"{path}:2:")
    assert report.rejected[1].startswith(f"{path}:3: field 'head'")
    assert report.n_read == 2 and report.n_linked == 2 and report.n_new_entities == 2
    assert new.names[4:] == ["speculative fiction", "scary"]


def test_result_does_not_depend_on_line_order(tmp_path: Path) -> None:
    lines = [
        "A\tr\tsci fi",  # adds entity "a"
        "b\tr\tA",  # both ends unknown until "a" exists: beyond one hop, unmatched
        "a\ts\thorror",  # "a" then links to horror
        "space\tt\tnew thing",
    ]
    results = set()
    rng = np.random.default_rng(0)
    for _ in range(6):
        order = rng.permutation(len(lines))
        path = write(tmp_path, "\n".join(lines[i] for i in order) + "\n")
        new, report = import_triples(base_graph(), path)
        edges = {(new.names[h], new.names[t]) for h, t in zip(*new.edges["knowledge"].nonzero(), strict=True)}
        results.add((frozenset(new.names[4:]), frozenset(edges), report.n_unmatched))
    assert results == {
        (frozenset({"a", "new thing"}), frozenset({("a", "sci fi"), ("a", "horror"), ("space", "new thing")}), 1)
    }


def test_more_hops_reach_further_entities(tmp_path: Path) -> None:
    path = write(tmp_path, "sci fi\tr\tE1\nE1\tr\tE2\nE2\tr\tE3\n")
    one, r1 = import_triples(base_graph(), path, max_hops=1)
    two, r2 = import_triples(base_graph(), path, max_hops=2)
    assert one.names[4:] == ["e1"] and r1.n_unmatched == 2
    assert two.names[4:] == ["e1", "e2"] and r2.n_unmatched == 1 and r2.n_linked == 2


def test_importing_twice_merges_relation_labels(tmp_path: Path) -> None:
    first, _ = import_triples(base_graph(), write(tmp_path, "space\trelated_to\tsci fi\n", "a.tsv"))
    more = write(tmp_path, "space\tpart_of\tsci fi\nspace\trelated_to\tsci fi\n", "b.tsv")
    second, report = import_triples(first, more)
    assert second.relations[(3, 2)] == "related_to; part_of"
    assert second.n_concepts == 4 and report.n_new_entities == 0
