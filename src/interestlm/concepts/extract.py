"""Weighted concepts of every item: structured catalog fields plus keyphrases mined from text.

Sources, and the kind each gives (:data:`~interestlm.core.schema.CONCEPT_KINDS`):

* ``Catalog.categories`` -> ``config.category_kind`` (``"category"``; pass ``"genre"`` for
  MovieLens, whose categories are genres);
* ``Catalog.brands`` -> ``"brand"``; ``Catalog.attributes`` -> ``"attribute"`` (numeric S3-Rec ids
  are named ``"attribute 261"``);
* ``Catalog.tags`` -> ``"tag"`` (a tag repeated in an item's tuple weighs more);
* TF-IDF n-grams of the item text -> ``"keyphrase"``.

Names are normalised (:func:`~interestlm.concepts.names.normalise_name`), so the same name from
two sources is one concept, of the most structured kind. With an encoder, near-duplicate names
(cosine >= ``merge_threshold``) are merged too.

Why one file over 400 lines: the concept sources and their merge rules.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import faiss
import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.cluster.hierarchy import DisjointSet
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer

from interestlm.concepts.names import KIND_PRIORITY, OPAQUE_KINDS, STRUCTURED_KINDS
from interestlm.core.names import normalise_name
from interestlm.core.schema import ItemConcepts
from interestlm.core.tables import Catalog
from interestlm.core.types import FloatArray
from interestlm.encode import Encoder


@dataclass(frozen=True, kw_only=True)
class ConceptConfig:
    """Settings of :func:`extract_concepts`.

    Weights are per source kind, in ``(0, 1]``: an item's concept weight is the base weight of its
    kind (tags: ``tag_weight * (1 - 0.5 ** count)``; keyphrases: ``keyphrase_weight`` times the
    phrase's TF-IDF value over the item's largest one). Tags and keyphrases on fewer than ``min_item_count`` items
    are dropped; structured concepts are always kept.

    ``lm_thin_items`` (off by default) lets a language model add concepts at fit time to items
    with fewer than ``lm_min_concepts`` concepts: up to ``lm_max_concepts`` names chosen from the
    vocabulary concepts nearest the item (:mod:`interestlm.concepts.lm`), at weight ``lm_weight``,
    for at most ``lm_max_items`` items (those with the fewest concepts first). ``interestlm fit
    --lm local|http`` turns it on.
    """

    max_keyphrases: int = 5
    ngram_range: tuple[int, int] = (1, 3)
    min_df: int = 2
    max_df: float = 0.3
    max_vocabulary: int = 200_000
    merge_threshold: float = 0.92
    category_kind: str = "category"
    category_weight: float = 1.0
    brand_weight: float = 1.0
    attribute_weight: float = 1.0
    tag_weight: float = 1.0
    keyphrase_weight: float = 0.6
    min_item_count: int = 2
    batch_size: int = 256
    lm_thin_items: bool = False
    lm_min_concepts: int = 2
    lm_max_concepts: int = 3
    lm_max_items: int = 500
    lm_weight: float = 0.5

    def __post_init__(self) -> None:
        if self.category_kind not in ("genre", "category"):
            raise ValueError(f"ConceptConfig.category_kind must be 'genre' or 'category', got {self.category_kind!r}")
        lo, hi = self.ngram_range
        if not 1 <= lo <= hi:
            raise ValueError(f"ConceptConfig.ngram_range must satisfy 1 <= low <= high, got {self.ngram_range}")
        if self.max_keyphrases < 0:
            raise ValueError(f"ConceptConfig.max_keyphrases must be >= 0, got {self.max_keyphrases}")
        if self.min_df < 1:
            raise ValueError(f"ConceptConfig.min_df must be >= 1, got {self.min_df}")
        if not 0.0 < self.max_df <= 1.0:
            raise ValueError(f"ConceptConfig.max_df must be in (0, 1], got {self.max_df}")
        if not -1.0 <= self.merge_threshold <= 1.0:
            raise ValueError(f"ConceptConfig.merge_threshold must be a cosine in [-1, 1], got {self.merge_threshold}")
        for name in ("category_weight", "brand_weight", "attribute_weight", "tag_weight", "keyphrase_weight"):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise ValueError(f"ConceptConfig.{name} must be in (0, 1], got {value}")
        if self.min_item_count < 1:
            raise ValueError(f"ConceptConfig.min_item_count must be >= 1, got {self.min_item_count}")
        if self.max_vocabulary < 1 or self.batch_size < 1:
            raise ValueError("ConceptConfig.max_vocabulary and batch_size must be positive")
        if self.lm_min_concepts < 1 or self.lm_max_concepts < 1 or self.lm_max_items < 0:
            raise ValueError(
                "ConceptConfig needs lm_min_concepts >= 1, lm_max_concepts >= 1 and lm_max_items >= 0, got "
                f"{self.lm_min_concepts}, {self.lm_max_concepts}, {self.lm_max_items}"
            )
        if not 0.0 < self.lm_weight <= 1.0:
            raise ValueError(f"ConceptConfig.lm_weight must be in (0, 1], got {self.lm_weight}")


def extract_concepts(
    catalog: Catalog,
    *,
    texts: Sequence[str] | None = None,
    encoder: Encoder | None = None,
    config: ConceptConfig | None = None,
) -> ItemConcepts:
    """Concepts of every catalog item (see the module doc); ``texts`` default to title + description.

    Concepts are ordered by kind (as in ``CONCEPT_KINDS``), then by name. ``vectors`` is set (the
    encoder's embeddings of the kept names) only when an ``encoder`` is given.
    """
    cfg = config if config is not None else ConceptConfig()
    n_items = len(catalog)
    if texts is None:
        texts = [f"{t}\n{d}" for t, d in zip(catalog.titles, catalog.descriptions, strict=True)]
    elif len(texts) != n_items:
        raise ValueError(f"texts has {len(texts)} rows, the catalog has {n_items} items")

    acc = _Accumulator()
    _add_structured(acc, catalog, cfg)
    _add_keyphrases(acc, texts, cfg)
    names, kinds = acc.names, acc.kinds
    matrix = _max_matrix(acc.rows(), acc.cols(), acc.weights(), (n_items, len(names)))

    # Keyphrases are the bulk of the names, and a rare one is noise: drop them before paying to embed them.
    keep = _frequent_or_structured(matrix, kinds, cfg.min_item_count, only_kind="keyphrase")
    names, kinds, matrix = _select(names, kinds, matrix, keep)

    vectors: FloatArray | None = None
    if encoder is not None:
        vectors = np.asarray(encoder.encode(names, batch_size=cfg.batch_size), dtype=np.float32)
        if vectors.shape[0] != len(names):
            raise ValueError(f"encoder returned {vectors.shape[0]} vectors for {len(names)} concept names")
        names, kinds, matrix, vectors = _merge_near_duplicates(names, kinds, matrix, vectors, cfg.merge_threshold)

    keep = _frequent_or_structured(matrix, kinds, cfg.min_item_count, only_kind=None)
    order = sorted(np.flatnonzero(keep).tolist(), key=lambda c: (KIND_PRIORITY[kinds[c]], names[c]))
    names = [names[c] for c in order]
    kinds = [kinds[c] for c in order]
    cols = np.asarray(order, dtype=np.int64)
    matrix = sp.csr_matrix(matrix[:, cols], dtype=np.float32)
    matrix.sort_indices()
    if vectors is not None:
        vectors = np.ascontiguousarray(vectors[cols])
    return ItemConcepts(names=names, kinds=kinds, matrix=matrix, vectors=vectors)


# --------------------------------------------------------------------------- sources


class _Accumulator:
    """(item, concept, weight) triples; a name met again keeps one index and the strongest kind."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.names: list[str] = []
        self.kinds: list[str] = []
        self._rows: list[int] = []
        self._cols: list[int] = []
        self._weights: list[float] = []

    def add(self, item: int, name: str, kind: str, weight: float) -> None:
        if not name:
            return
        c = self.index.get(name)
        if c is None:
            c = self.index[name] = len(self.names)
            self.names.append(name)
            self.kinds.append(kind)
        elif KIND_PRIORITY[kind] < KIND_PRIORITY[self.kinds[c]]:
            self.kinds[c] = kind
        self._rows.append(item)
        self._cols.append(c)
        self._weights.append(weight)

    def rows(self) -> npt.NDArray[np.int64]:
        return np.asarray(self._rows, dtype=np.int64)

    def cols(self) -> npt.NDArray[np.int64]:
        return np.asarray(self._cols, dtype=np.int64)

    def weights(self) -> FloatArray:
        return np.asarray(self._weights, dtype=np.float32)


def _attribute_name(value: str) -> str:
    value = value.strip()
    return f"attribute {value}" if value.isdigit() else normalise_name(value)


def _add_structured(acc: _Accumulator, catalog: Catalog, cfg: ConceptConfig) -> None:
    for i in range(len(catalog)):
        for category in catalog.categories[i]:
            acc.add(i, normalise_name(category), cfg.category_kind, cfg.category_weight)
        if catalog.brands[i]:
            acc.add(i, normalise_name(catalog.brands[i]), "brand", cfg.brand_weight)
        for attribute in catalog.attributes[i]:
            acc.add(i, _attribute_name(attribute), "attribute", cfg.attribute_weight)
        counts: dict[str, int] = {}
        for tag in catalog.tags[i]:
            name = normalise_name(tag)
            if name:
                counts[name] = counts.get(name, 0) + 1
        for name, count in counts.items():
            acc.add(i, name, "tag", cfg.tag_weight * (1.0 - 0.5**count))


#: Characters that end a phrase: an n-gram never spans them.
_PHRASE_BREAK = re.compile(r"[.,;:!?()\[\]{}\"|/\\<>\n\r\t]+")


def _keyphrase_analyzer(ngram_range: tuple[int, int]) -> Callable[[str], list[str]]:
    lo, hi = ngram_range
    stop = ENGLISH_STOP_WORDS

    def runs(text: str) -> Iterator[list[str]]:
        for chunk in _PHRASE_BREAK.split(unicodedata.normalize("NFKC", text).lower()):
            run: list[str] = []
            for tok in normalise_name(chunk).split():
                # Numbers (years above all) and one-letter tokens are no concepts, and break phrases.
                if len(tok) < 2 or tok.isdigit():
                    if run:
                        yield run
                    run = []
                else:
                    run.append(tok)
            if run:
                yield run

    def analyse(text: str) -> list[str]:
        out: list[str] = []
        for run in runs(text):
            for n in range(lo, min(hi, len(run)) + 1):
                for start in range(len(run) - n + 1):
                    gram = run[start : start + n]
                    # A phrase may hold stop words inside ("beauty and the beast") but not at its ends.
                    if gram[0] in stop or gram[-1] in stop:
                        continue
                    out.append(" ".join(gram))
        return out

    return analyse


def _add_keyphrases(acc: _Accumulator, texts: Sequence[str], cfg: ConceptConfig) -> None:
    n_docs = len(texts)
    if cfg.max_keyphrases == 0 or n_docs == 0 or cfg.max_df * n_docs < cfg.min_df:
        return
    if not any(t.strip() for t in texts):
        return
    vectorizer = TfidfVectorizer(
        analyzer=_keyphrase_analyzer(cfg.ngram_range),
        min_df=cfg.min_df,
        max_df=cfg.max_df,
        max_features=cfg.max_vocabulary,
        sublinear_tf=True,
        dtype=np.float32,
    )
    try:
        tfidf = sp.csr_matrix(vectorizer.fit_transform(texts))
    except ValueError as exc:
        # Too little text for min_df/max_df to leave any phrase: no keyphrases, not an error.
        if "no terms remain" in str(exc) or "empty vocabulary" in str(exc):
            return
        raise
    vocab = np.empty(len(vectorizer.vocabulary_), dtype=object)
    for term, j in vectorizer.vocabulary_.items():
        vocab[j] = term
    n_tokens = np.fromiter((term.count(" ") + 1 for term in vocab), dtype=np.int64, count=len(vocab))
    indptr, indices, data = tfidf.indptr, tfidf.indices, tfidf.data
    k = cfg.max_keyphrases
    for i in range(n_docs):
        start, end = indptr[i], indptr[i + 1]
        if start == end:
            continue
        row_idx, row_val = indices[start:end], data[start:end]
        # Relative to the item's best phrase, so long descriptions do not dilute every weight.
        scale = cfg.keyphrase_weight / float(row_val.max())
        chosen: list[str] = []
        # Ties (a phrase as rare as its words) go to the longer phrase: "time travel" over "time".
        lengths = n_tokens[row_idx]
        for j in np.lexsort((row_idx, -lengths, -np.round(row_val, 5))).tolist():
            name = str(vocab[row_idx[j]])
            padded = f" {name} "
            # A phrase inside (or around) one already chosen repeats it: "star" next to "star wars".
            if any(padded in f" {c} " or f" {c} " in padded for c in chosen):
                continue
            chosen.append(name)
            acc.add(i, name, "keyphrase", scale * float(row_val[j]))
            if len(chosen) == k:
                break


# --------------------------------------------------------------------------- matrix helpers


def _max_matrix(
    rows: npt.NDArray[np.int64], cols: npt.NDArray[np.int64], weights: FloatArray, shape: tuple[int, int]
) -> sp.csr_matrix:
    """CSR from triples where a repeated (row, col) keeps its largest weight (clipped into (0, 1])."""
    if len(rows) == 0:
        return sp.csr_matrix(shape, dtype=np.float32)
    key = rows * max(shape[1], 1) + cols
    order = np.lexsort((-weights, key))
    key_sorted = key[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = key_sorted[1:] != key_sorted[:-1]
    sel = order[first]
    values = np.clip(weights[sel], np.float32(1e-6), np.float32(1.0)).astype(np.float32)
    return sp.csr_matrix((values, (rows[sel], cols[sel])), shape=shape, dtype=np.float32)


def _item_counts(matrix: sp.csr_matrix) -> npt.NDArray[np.int64]:
    return np.bincount(matrix.indices, minlength=matrix.shape[1]).astype(np.int64)


def _frequent_or_structured(
    matrix: sp.csr_matrix, kinds: list[str], min_item_count: int, *, only_kind: str | None
) -> npt.NDArray[np.bool_]:
    counts = _item_counts(matrix)
    keep = np.ones(len(kinds), dtype=bool)
    for c, kind in enumerate(kinds):
        if counts[c] == 0:
            keep[c] = False
        elif kind not in STRUCTURED_KINDS and (only_kind is None or kind == only_kind):
            keep[c] = counts[c] >= min_item_count
    return keep


def _select(
    names: list[str], kinds: list[str], matrix: sp.csr_matrix, keep: npt.NDArray[np.bool_]
) -> tuple[list[str], list[str], sp.csr_matrix]:
    cols = np.flatnonzero(keep)
    return (
        [names[c] for c in cols],
        [kinds[c] for c in cols],
        sp.csr_matrix(matrix[:, cols], dtype=np.float32),
    )


# --------------------------------------------------------------------------- near-duplicate merge


def similar_pairs(
    vectors: FloatArray, candidates: npt.NDArray[np.int64], threshold: float
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], FloatArray]:
    """Pairs ``a < b`` among ``candidates`` (rows of unit ``vectors``) with cosine >= ``threshold``.

    Exact inner-product range search (faiss), blocked internally: memory grows with the number of
    pairs found, never with ``len(candidates) ** 2``.
    """
    empty = np.zeros(0, dtype=np.int64)
    if len(candidates) < 2:
        return empty, empty.copy(), np.zeros(0, dtype=np.float32)
    x = np.ascontiguousarray(vectors[candidates], dtype=np.float32)
    index = faiss.IndexFlatIP(x.shape[1])
    index.add(x)
    # faiss keeps results strictly above the radius; nudge it so cosine == threshold counts.
    lims, sims, ids = index.range_search(x, float(threshold) - 1e-6)
    bounds = np.asarray(lims, dtype=np.int64)
    counts = bounds[1:] - bounds[:-1]
    query = np.repeat(np.arange(len(candidates), dtype=np.int64), counts)
    ids = ids.astype(np.int64)
    mask = (ids > query) & (sims >= threshold - 1e-6)
    return candidates[query[mask]], candidates[ids[mask]], sims[mask].astype(np.float32)


def _merge_near_duplicates(
    names: list[str], kinds: list[str], matrix: sp.csr_matrix, vectors: FloatArray, threshold: float
) -> tuple[list[str], list[str], sp.csr_matrix, FloatArray]:
    """Union-find over similar name pairs; a group holds at most one structured concept."""
    n = len(names)
    structured = np.array([k in STRUCTURED_KINDS for k in kinds], dtype=bool)
    usable = np.array([k not in OPAQUE_KINDS for k in kinds], dtype=bool) & (np.linalg.norm(vectors, axis=1) > 0)
    a, b, sims = similar_pairs(vectors, np.flatnonzero(usable).astype(np.int64), threshold)
    # Two structured concepts are distinct by the data's own definition ("action" vs "adventure").
    ok = ~(structured[a] & structured[b])
    a, b, sims = a[ok], b[ok], sims[ok]
    if len(a) == 0:
        return names, kinds, matrix, vectors
    sets = DisjointSet(range(n))
    has_structured = structured.copy()
    for j in np.lexsort((b, a, -sims)).tolist():
        ra, rb = sets[int(a[j])], sets[int(b[j])]
        if ra == rb or (has_structured[ra] and has_structured[rb]):
            continue
        sets.merge(ra, rb)
        has_structured[sets[ra]] = has_structured[ra] or has_structured[rb]

    counts = _item_counts(matrix)
    groups: dict[int, list[int]] = {}
    for c in range(n):
        groups.setdefault(sets[c], []).append(c)
    col_map = np.empty(n, dtype=np.int64)
    new_names: list[str] = []
    new_kinds: list[str] = []
    reps: list[int] = []
    for g, members in enumerate(groups.values()):
        # The structured member names the group; else the name most items use (then shortest, then A-Z).
        rep = min(members, key=lambda c: (not structured[c], -counts[c], len(names[c]), names[c]))
        kind = kinds[rep] if structured[rep] else min((kinds[c] for c in members), key=KIND_PRIORITY.__getitem__)
        col_map[members] = g
        new_names.append(names[rep])
        new_kinds.append(kind)
        reps.append(rep)
    coo = matrix.tocoo()
    merged = _max_matrix(
        coo.row.astype(np.int64), col_map[coo.col], coo.data.astype(np.float32), (matrix.shape[0], len(new_names))
    )
    return new_names, new_kinds, merged, np.ascontiguousarray(vectors[np.asarray(reps, dtype=np.int64)])


__all__ = ["ConceptConfig", "extract_concepts", "similar_pairs"]
