from __future__ import annotations

import json
from pathlib import Path

import faiss
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from interestlm.artifacts import (
    ArtifactError,
    load_array,
    load_catalog,
    load_faiss,
    load_graph,
    load_item_concepts,
    load_profiles,
    load_table,
    save_array,
    save_catalog,
    save_faiss,
    save_graph,
    save_item_concepts,
    save_profiles,
    save_table,
    verify_manifest,
    write_manifest,
)
from interestlm.core.schema import ConceptGraph, History, Interest, InterestProfile, ItemConcepts, ProfileEdits
from interestlm.core.tables import Catalog
from interestlm.testing.planted import planted_topics


def _sparse_equal(a: sp.csr_matrix, b: sp.csr_matrix) -> bool:
    return (
        isinstance(b, sp.csr_matrix)
        and a.shape == b.shape
        and a.dtype == b.dtype
        and np.array_equal(a.indptr, b.indptr)
        and np.array_equal(a.indices, b.indices)
        and np.array_equal(a.data, b.data)
    )


def _catalog_equal(a: Catalog, b: Catalog) -> bool:
    return (
        a.item_ids.tolist() == b.item_ids.tolist()
        and a.titles == b.titles
        and a.descriptions == b.descriptions
        and a.categories == b.categories
        and a.tags == b.tags
        and a.brands == b.brands
        and a.attributes == b.attributes
        and np.array_equal(a.released, b.released, equal_nan=True)
    )


def _item_concepts(with_vectors: bool = True) -> ItemConcepts:
    rng = np.random.default_rng(0)
    m = sp.random(30, 7, density=0.3, format="csr", dtype=np.float32, random_state=1)
    m.data[:] = rng.uniform(0.1, 1.0, size=m.nnz).astype(np.float32)
    vecs = rng.normal(size=(7, 8)).astype(np.float32) if with_vectors else None
    names = ["jazz", "cool jazz", "saxophone", "los angeles", "ciné noir", "heist", "space"]
    kinds = ["genre", "genre", "tag", "entity", "keyphrase", "tag", "category"]
    return ItemConcepts(names=names, kinds=kinds, matrix=m, vectors=vecs)


def _graph(with_kinds: bool = True) -> ConceptGraph:
    co = sp.csr_matrix(np.array([[0, 0.5, 0], [0.5, 0, 0.2], [0, 0.2, 0]], np.float32))
    hier = sp.csr_matrix(np.array([[0, 1, 0], [0, 0, 0], [0, 0, 0]], np.float32))
    return ConceptGraph(
        names=["jazz", "bebop", "charlie parker"],
        edges={"cooccurrence": co, "hierarchy": hier},
        adjacency=(co + hier + hier.T).tocsr(),
        relations={(2, 1): "genre", (0, 1): "subgenre"},
        kinds=["genre", "genre", "entity"] if with_kinds else None,
    )


def _all_npy_load_without_pickle(d: Path) -> int:
    n = 0
    for p in d.rglob("*.np[yz]"):
        loaded = np.load(p, allow_pickle=False)
        if isinstance(loaded, np.lib.npyio.NpzFile):
            for key in loaded.files:
                assert not loaded[key].dtype.hasobject
            loaded.close()
        else:
            assert not loaded.dtype.hasobject
        n += 1
    return n


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    arr=hnp.arrays(
        dtype=st.sampled_from([np.float32, np.float64, np.int32, np.int64, np.int8, np.bool_, np.dtype("<U5")]),
        shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5),
    )
)
def test_array_round_trip_exact(tmp_path: Path, arr: np.ndarray) -> None:
    save_array(tmp_path, "a", arr)
    back = load_array(tmp_path, "a")
    assert back.dtype == arr.dtype and back.shape == arr.shape
    assert np.array_equal(back, arr, equal_nan=arr.dtype.kind == "f")


def test_array_refuses_objects_and_paths(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="dtype object"):
        save_array(tmp_path, "o", np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="artifact name"):
        save_array(tmp_path, "../escape", np.zeros(2))
    with pytest.raises(ArtifactError, match="missing"):
        load_array(tmp_path, "nothing")


def test_pickled_npy_is_refused(tmp_path: Path) -> None:
    np.save(tmp_path / "evil.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ArtifactError, match="not a plain numpy array"):
        load_array(tmp_path, "evil")


@pytest.mark.parametrize("with_vectors", [True, False])
def test_item_concepts_round_trip(tmp_path: Path, with_vectors: bool) -> None:
    ic = _item_concepts(with_vectors)
    save_item_concepts(tmp_path, ic)
    back = load_item_concepts(tmp_path)
    assert back.names == ic.names and back.kinds == ic.kinds
    assert _sparse_equal(ic.matrix, back.matrix)
    if with_vectors:
        assert ic.vectors is not None and back.vectors is not None
        assert back.vectors.dtype == np.float32 and np.array_equal(back.vectors, ic.vectors)
    else:
        assert back.vectors is None
    lines = (tmp_path / "concepts.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[4]) == {"name": "ciné noir", "kind": "keyphrase"}


def test_saving_without_vectors_removes_stale_vectors(tmp_path: Path) -> None:
    save_item_concepts(tmp_path, _item_concepts(True))
    save_item_concepts(tmp_path, _item_concepts(False))
    assert load_item_concepts(tmp_path).vectors is None


def test_item_concepts_bad_lines_are_named(tmp_path: Path) -> None:
    save_item_concepts(tmp_path, _item_concepts())
    path = tmp_path / "concepts.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join([lines[0], '{"name": "x", "kind": "colour"}', *lines[2:]]) + "\n", encoding="utf-8")
    with pytest.raises(ArtifactError, match=r"concepts\.jsonl:2: field 'kind'"):
        load_item_concepts(tmp_path)
    path.write_text("\n".join([lines[0], "{not json", *lines[2:]]) + "\n", encoding="utf-8")
    with pytest.raises(ArtifactError, match=r"concepts\.jsonl:2: invalid JSON"):
        load_item_concepts(tmp_path)
    path.write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")
    with pytest.raises(ArtifactError, match="disagree"):
        load_item_concepts(tmp_path)


@pytest.mark.parametrize("with_kinds", [True, False])
def test_graph_round_trip(tmp_path: Path, with_kinds: bool) -> None:
    g = _graph(with_kinds)
    save_graph(tmp_path, g)
    back = load_graph(tmp_path)
    assert back.names == g.names
    assert back.kinds == g.kinds
    assert back.relations == g.relations
    assert set(back.edges) == set(g.edges)
    for t in g.edges:
        assert _sparse_equal(g.edges[t], back.edges[t])
    assert _sparse_equal(g.adjacency, back.adjacency)
    assert back.path(0, 2) == g.path(0, 2) == [0, 1, 2]


def test_graph_shape_mismatch_is_named(tmp_path: Path) -> None:
    save_graph(tmp_path, _graph())
    meta = json.loads((tmp_path / "graph.json").read_text())
    meta["names"], meta["kinds"] = meta["names"][:2], meta["kinds"][:2]
    (tmp_path / "graph.json").write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="graph adjacency has shape"):
        load_graph(tmp_path)
    meta["kinds"] = ["genre", "colour"]
    (tmp_path / "graph.json").write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="field 'kinds'"):
        load_graph(tmp_path)


def test_table_round_trip(tmp_path: Path) -> None:
    cols = {
        "user": np.array([3, 1, 2], np.int32),
        "score": np.array([0.5, np.nan, -1.25], np.float32),
        "when": np.array([1, 2, 3], np.int64),
        "name": ["a", "ß", ""],
    }
    save_table(tmp_path, "scores", cols)
    back = load_table(tmp_path, "scores")
    assert list(back) == list(cols)
    for key in ("user", "score", "when"):
        assert back[key].dtype == np.asarray(cols[key]).dtype
        assert np.array_equal(back[key], cols[key], equal_nan=True)
    assert back["name"].tolist() == cols["name"]
    with pytest.raises(ValueError, match="different lengths"):
        save_table(tmp_path, "bad", {"a": [1, 2], "b": [1]})


def test_catalog_round_trip_exact(tmp_path: Path) -> None:
    catalog = planted_topics().catalog
    save_catalog(tmp_path, catalog)
    assert _catalog_equal(catalog, load_catalog(tmp_path))
    odd = Catalog.build(
        ["1", "b/2", "ünï"],
        titles=["Heat", "", 'Say "hi"'],
        categories=[(), ("a", "b"), ("ß",)],
        tags=[("x",), (), ()],
        attributes=[(), (), ("colour: red", "")],
        released=[817776000.0, np.nan, -1e9],
    )
    save_catalog(tmp_path / "odd", odd)
    back = load_catalog(tmp_path / "odd")
    assert _catalog_equal(odd, back)
    assert isinstance(back.categories[1], tuple)


def test_catalog_written_before_release_times_loads_them_unknown(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    save_catalog(tmp_path, Catalog.build(["a", "b"], titles=["x", "y"], released=[1.0, 2.0]))
    path = tmp_path / "items.parquet"
    pq.write_table(pq.read_table(path).drop_columns(["released"]), path)
    back = load_catalog(tmp_path)
    assert back.titles == ["x", "y"] and np.isnan(back.released).all()


def test_catalog_missing_column_is_named(tmp_path: Path) -> None:
    save_table(tmp_path, "items", {"item_id": ["a"], "title": ["t"]})
    with pytest.raises(ArtifactError, match=r"items\.parquet: missing column\(s\) \['description'"):
        load_catalog(tmp_path)


def test_faiss_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 16)).astype(np.float32)
    index = faiss.IndexFlatIP(16)
    index.add(x)
    save_faiss(tmp_path, index)
    assert (tmp_path / "index.faiss").is_file()
    back = load_faiss(tmp_path)
    assert back.ntotal == 50
    d1, i1 = index.search(x[:5], 4)
    d2, i2 = back.search(x[:5], 4)
    assert np.array_equal(i1, i2) and np.array_equal(d1, d2)
    (tmp_path / "broken.faiss").write_bytes(b"not an index")
    with pytest.raises(ArtifactError, match=r"broken\.faiss"):
        load_faiss(tmp_path, "broken")


def _full_artifact(d: Path) -> None:
    save_item_concepts(d, _item_concepts())
    save_graph(d / "graph", _graph())
    save_catalog(d, planted_topics(n_users=3).catalog)
    save_array(d, "vectors", np.eye(4, dtype=np.float32))
    save_table(d, "weights", {"signal": ["a", "b"], "weight": np.array([0.3, 0.7], np.float32)})
    index = faiss.IndexFlatIP(4)
    index.add(np.eye(4, dtype=np.float32))
    save_faiss(d, index)


def test_manifest_records_versions_and_every_file(tmp_path: Path) -> None:
    _full_artifact(tmp_path)
    manifest = write_manifest(tmp_path, extra={"dataset": "planted", "k": 10})
    on_disk = json.loads((tmp_path / "manifest.json").read_text())
    assert on_disk == manifest
    assert {"numpy", "scipy", "pyarrow", "faiss-cpu", "interestlm", "python"} <= set(manifest["versions"])
    assert manifest["extra"] == {"dataset": "planted", "k": 10}
    assert "graph/graph_adjacency.npz" in manifest["files"]
    assert "manifest.json" not in manifest["files"]
    for rel, entry in manifest["files"].items():
        assert entry["size"] == (tmp_path / rel).stat().st_size
        assert len(entry["sha256"]) == 64
    assert verify_manifest(tmp_path) == manifest
    with pytest.raises(ValueError, match="JSON-serialisable"):
        write_manifest(tmp_path, extra={"bad": object()})


def test_verify_manifest_names_modified_missing_and_unlisted_files(tmp_path: Path) -> None:
    _full_artifact(tmp_path)
    write_manifest(tmp_path)
    # Same size, different content: only the hash can catch it.
    vec = tmp_path / "vectors.npy"
    raw = bytearray(vec.read_bytes())
    raw[-1] ^= 0x01
    vec.write_bytes(bytes(raw))
    with pytest.raises(ArtifactError, match=r"vectors\.npy: content changed"):
        verify_manifest(tmp_path)
    (tmp_path / "graph" / "graph.json").unlink()
    with pytest.raises(ArtifactError, match=r"graph/graph\.json: missing"):
        verify_manifest(tmp_path)
    write_manifest(tmp_path)
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ArtifactError, match=r"notes\.txt: not in the manifest"):
        verify_manifest(tmp_path)
    verify_manifest(tmp_path, allow_unlisted=True)
    (tmp_path / "items.parquet").write_bytes(b"short")
    with pytest.raises(ArtifactError, match=r"items\.parquet: size changed"):
        verify_manifest(tmp_path, allow_unlisted=True)


def test_verify_manifest_without_manifest(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match=r"manifest\.json is missing"):
        verify_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text("[1, 2]")
    with pytest.raises(ArtifactError, match="JSON object"):
        verify_manifest(tmp_path)


def test_nothing_written_needs_pickle(tmp_path: Path) -> None:
    _full_artifact(tmp_path)
    assert _all_npy_load_without_pickle(tmp_path) == 6
    # No pickle protocol header in any file we wrote.
    for p in tmp_path.rglob("*"):
        if p.is_file() and p.suffix in {".npy", ".json", ".jsonl"}:
            assert b"\x80\x04\x95" not in p.read_bytes()


def _profile(user_id: str, n_interests: int, seed: int) -> InterestProfile:
    rng = np.random.default_rng(seed)
    n = 6
    vec = rng.normal(size=(max(n_interests, 1), 8)).astype(np.float32)
    return InterestProfile(
        user_id=user_id,
        history=History(
            items=rng.integers(0, 50, size=n).astype(np.int32),
            timestamps=np.arange(n, dtype=np.int64) * 100,
            ratings=rng.uniform(1, 5, size=n).astype(np.float32),
            polarity=rng.uniform(-1, 1, size=n).astype(np.float32),
        ),
        interests=tuple(
            Interest(
                label=f"topic {j}",
                weight=1.0 / n_interests,
                vector=vec[j],
                medoid=j,
                items=(j, j + 1),
                exemplars=(j,),
                concepts=(("jazz", 0.75), ("ciné", 0.25)),
                cohesion=0.8,
            )
            for j in range(n_interests)
        ),
        likes=(1, 2),
        dislikes=(3,),
        liked_concepts=(("jazz", 1.0),),
        disliked_concepts=(("noise", -0.5),),
        short_term=vec[0],
        short_term_items=(1, 2),
        concepts=(("jazz", 1.0), ("noise", -0.5)),
        explore=(("bebop", 0.3),),
        summary='Likes "jazz".',
        edits=ProfileEdits(pinned=frozenset({"jazz"}), muted=frozenset({"noise"}), interest_weights=((0, 0.5),)),
        mean_rating=3.5,
        extra={"note": [1, "a"], "scores": np.arange(3, dtype=np.float32)},
    )


def _profiles_equal(a: InterestProfile, b: InterestProfile) -> None:
    assert a.user_id == b.user_id
    for name in ("items", "timestamps", "ratings", "polarity"):
        x, y = getattr(a.history, name), getattr(b.history, name)
        assert x.dtype == y.dtype and np.array_equal(x, y)
    assert len(a.interests) == len(b.interests)
    for i, j in zip(a.interests, b.interests, strict=True):
        assert np.array_equal(i.vector, j.vector) and i.vector.dtype == j.vector.dtype
        assert (i.label, i.weight, i.medoid, i.items, i.exemplars, i.concepts, i.cohesion) == (
            j.label, j.weight, j.medoid, j.items, j.exemplars, j.concepts, j.cohesion,
        )
    for name in ("likes", "dislikes", "liked_concepts", "disliked_concepts", "short_term_items", "concepts",
                 "explore", "summary", "summary_source", "edits", "mean_rating"):
        assert getattr(a, name) == getattr(b, name), name
    assert np.array_equal(a.short_term, b.short_term)
    assert a.extra["note"] == b.extra["note"]
    assert np.array_equal(a.extra["scores"], b.extra["scores"])


def test_profiles_round_trip(tmp_path: Path) -> None:
    profiles = [_profile("u/1", 2, 0), _profile("ünï", 0, 1), _profile("u3", 3, 2)]
    save_profiles(tmp_path, profiles)
    assert len((tmp_path / "profiles.jsonl").read_text(encoding="utf-8").splitlines()) == 3
    back = load_profiles(tmp_path)
    assert len(back) == 3
    for a, b in zip(profiles, back, strict=True):
        _profiles_equal(a, b)
    assert _all_npy_load_without_pickle(tmp_path) == 1
    save_profiles(tmp_path / "empty", [])
    assert load_profiles(tmp_path / "empty") == []


def test_profiles_damage_is_named(tmp_path: Path) -> None:
    save_profiles(tmp_path, [_profile("a", 1, 0), _profile("b", 1, 1)])
    path = tmp_path / "profiles.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    state = json.loads(lines[1])
    del state["likes"]
    path.write_text(lines[0] + "\n" + json.dumps(state) + "\n", encoding="utf-8")
    with pytest.raises(ArtifactError, match=r"profiles\.jsonl:2: cannot rebuild profile.*likes"):
        load_profiles(tmp_path)
    path.write_text(lines[0] + "\n", encoding="utf-8")
    with pytest.raises(ArtifactError, match="does not belong to any line"):
        load_profiles(tmp_path)
