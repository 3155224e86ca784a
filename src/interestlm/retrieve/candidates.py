"""Candidate generation for one profile: the union of several retrieval sources, seen items removed."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from typing import Literal

import faiss
import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from interestlm.core.schema import InterestProfile, ItemConcepts
from interestlm.core.types import FloatArray, IntArray
from interestlm.retrieve.collaborative import Cooccurrence, Popularity
from interestlm.retrieve.concepts import ConceptIndex
from interestlm.retrieve.vector import ExactIndex, FaissIndex, VectorIndex

#: The vector indexes the candidate stage can search (see :meth:`CandidateStage.build`).
IndexKind = Literal["exact", "flat", "hnsw"]


def interleave(lists: Iterable[npt.NDArray[np.integer]], n: int) -> IntArray:
    """Round-robin merge of ranked lists (first of each, then second of each, ...), first copy kept, ``n`` at most."""
    ranked = [np.asarray(x, dtype=np.int64).ravel() for x in lists]
    ranked = [x[x >= 0] for x in ranked if len(x)]
    if not ranked or n <= 0:
        return np.zeros(0, np.int32)
    width = max(len(x) for x in ranked)
    grid = np.full((len(ranked), width), -1, dtype=np.int64)
    for row, x in enumerate(ranked):
        grid[row, : len(x)] = x
    flat = grid.T.ravel()
    flat = flat[flat >= 0]
    _, first = np.unique(flat, return_index=True)
    return flat[np.sort(first)][:n].astype(np.int32)


def active_interests(profile: InterestProfile) -> list[tuple[int, float]]:
    """``(position, weight)`` of the profile's interests after the user's weight overrides (0 drops one)."""
    overrides = dict(profile.edits.interest_weights)
    out = []
    for pos, interest in enumerate(profile.interests):
        weight = float(overrides.get(pos, interest.weight))
        if weight > 0:
            out.append((pos, weight))
    return out


def retrieve_candidates(
    profile: InterestProfile,
    *,
    index: VectorIndex,
    n_candidates: int,
    concept_index: ConceptIndex | None = None,
    cooccurrence: Cooccurrence | None = None,
    popularity: Popularity | None = None,
    exclude: Iterable[int] | None = None,
    n_recent: int = 5,
    interest_index: VectorIndex | None = None,
) -> IntArray:
    """Up to ``n_candidates`` items for ``profile``, none of them seen, disliked or in ``exclude``.

    Sources, merged round-robin so each contributes its best items first: a vector search per
    interest cluster (user weight overrides honoured) and for the short-term vector; the concept
    index queried with the profile's positive and pinned concepts (muted ones left out); items
    co-occurring with and following the ``n_recent`` latest history items; popularity (the only
    source for a user without history). Popularity also fills up when the others run short.

    ``interest_index`` holds the items in the space the profile's interests live in (the
    behaviour-adapted item space of ``profiles.space``); the short-term vector is searched in
    ``index`` (text vectors). Without it, both are searched in ``index``.
    """
    return retrieve_many(
        [profile],
        index=index,
        n_candidates=n_candidates,
        concept_index=concept_index,
        cooccurrence=cooccurrence,
        popularity=popularity,
        exclude=None if exclude is None else [exclude],
        n_recent=n_recent,
        interest_index=interest_index,
    )[0]


def retrieve_many(
    profiles: Sequence[InterestProfile],
    *,
    index: VectorIndex,
    n_candidates: int,
    concept_index: ConceptIndex | None = None,
    cooccurrence: Cooccurrence | None = None,
    popularity: Popularity | None = None,
    exclude: Sequence[Iterable[int]] | None = None,
    n_recent: int = 5,
    interest_index: VectorIndex | None = None,
) -> list[IntArray]:
    """:func:`retrieve_candidates` for many profiles at once (``exclude``: one set per profile).

    Every profile's interest queries go to the interest index in one search, and every short-term
    vector to the text index in another, so a batch costs two index passes, not two per profile;
    each profile's lists are merged exactly as for one profile alone.
    """
    if n_candidates < 1:
        raise ValueError(f"n_candidates must be >= 1, got {n_candidates}")
    if exclude is not None and len(exclude) != len(profiles):
        raise ValueError(f"exclude has {len(exclude)} sets, expected one per profile ({len(profiles)})")
    seen: list[set[int]] = []
    for b, profile in enumerate(profiles):
        s = {int(i) for i in profile.history.items.tolist()} | {int(i) for i in profile.dislikes}
        if exclude is not None:
            s |= {int(i) for i in exclude[b]}
        seen.append(s)
    sources = _Sources(
        profiles, seen, index=index, interest_index=interest_index, concept_index=concept_index,
        cooccurrence=cooccurrence, n_recent=n_recent,
    )
    out: list[IntArray | None] = [None] * len(profiles)
    pending = list(range(len(profiles)))
    # The merge takes round by round from every source, so n candidates rarely need more than a few
    # rounds past n / (number of sources): each source is read to that depth first (a FAISS
    # search of k=1,000 per query cost most of a batch), and deeper only for the profiles whose
    # merge ran out of a source cut at that depth. The lists are the same as from full depth.
    depth = min(n_candidates, max(16, 2 * -(-n_candidates // 8)))
    popular: dict[int, IntArray] = {}
    while pending:
        lists = sources.lists(pending, depth)
        deeper = []
        for b, ranked in zip(pending, lists, strict=True):
            if popularity is not None:
                # Popularity is a source too (the only one without history) and fills up what is short.
                if b not in popular:
                    popular[b] = popularity.top(n_candidates, exclude=seen[b])[1]
                ranked = [*ranked, popular[b][:depth]]
            merged = interleave(ranked, n_candidates)
            short = len(merged) < n_candidates and depth < n_candidates
            if short and any(np.count_nonzero(np.asarray(x) >= 0) >= depth for x in ranked):
                deeper.append(b)  # a source cut at this depth may hold more
                continue
            if b in popular and len(merged) < n_candidates:
                merged = _fill(merged, popular[b], n_candidates)
            out[b] = merged
        pending, depth = deeper, min(n_candidates, 2 * depth)
    return [x if x is not None else np.zeros(0, np.int32) for x in out]


class _Sources:
    """Each profile's ranked source lists, read to a given depth (see :func:`retrieve_many`)."""

    def __init__(
        self,
        profiles: Sequence[InterestProfile],
        seen: list[set[int]],
        *,
        index: VectorIndex,
        interest_index: VectorIndex | None,
        concept_index: ConceptIndex | None,
        cooccurrence: Cooccurrence | None,
        n_recent: int,
    ) -> None:
        self.profiles, self.seen = profiles, seen
        self.index, self.interest_index = index, interest_index
        self.concept_index, self.cooccurrence, self.n_recent = concept_index, cooccurrence, n_recent

    def lists(self, rows: Sequence[int], depth: int) -> list[list[npt.NDArray[np.integer]]]:
        """The source lists (at most ``depth`` items each) of the profiles at ``rows``, in merge order:
        interests, short-term vector, concepts, next items, co-occurring items."""
        profiles = [self.profiles[b] for b in rows]
        seen = [self.seen[b] for b in rows]
        out: list[list[npt.NDArray[np.integer]]] = [[] for _ in rows]
        # Interests and the short-term vector live in different spaces (and dimensions): one search each.
        interests = [[p.interests[pos].vector for pos, _ in active_interests(p)] for p in profiles]
        short_term = [[p.short_term] if p.short_term.size and np.any(p.short_term) else [] for p in profiles]
        for queries, searched in ((interests, self.interest_index or self.index), (short_term, self.index)):
            owners = [j for j, q in enumerate(queries) for _ in q]
            if owners:
                q = np.asarray(np.stack([v for qs in queries for v in qs]), dtype=np.float32)
                _, found = searched.search(q, depth, exclude=[seen[j] for j in owners])
                for j, row in zip(owners, found, strict=True):
                    out[j].append(row)
        for j, profile in enumerate(profiles):
            if self.concept_index is not None:
                muted = set(profile.edits.muted)
                weights = {name: w for name, w in profile.concepts if w > 0 and name not in muted}
                for name in profile.edits.pinned:
                    weights[name] = max(weights.get(name, 0.0), 1.0)
                if weights:
                    out[j].append(self.concept_index.search_names(weights, depth, exclude=seen[j])[1])
        if self.cooccurrence is not None and self.n_recent > 0:
            recent = [p.history.items[-self.n_recent :] for p in profiles]
            have = [j for j, r in enumerate(recent) if len(r)]
            # Later items weigh more: the next item follows the latest ones most closely.
            recency = [np.power(0.8, np.arange(len(recent[j]))[::-1]).astype(np.float32) for j in have]
            following, near = self.cooccurrence.related_many(
                [recent[j] for j in have], depth, weights=recency, exclude=[seen[j] for j in have]
            )
            for j, after, close in zip(have, following, near, strict=True):
                out[j] += [after, close]
        return out


def vector_index(vectors: FloatArray, kind: IndexKind) -> VectorIndex:
    """An index of ``vectors`` of the given kind (see :meth:`CandidateStage.build`)."""
    if kind == "exact":
        return ExactIndex(vectors)
    if kind in ("flat", "hnsw"):
        return FaissIndex(vectors, kind=kind)
    raise ValueError(f"index kind must be 'exact', 'flat' or 'hnsw', got {kind!r}")


def _kind_of(index: VectorIndex) -> IndexKind:
    """The kind :func:`vector_index` would build ``index`` as."""
    if isinstance(index, FaissIndex):
        return "hnsw" if index.kind == "hnsw" else "flat"
    return "exact"


def _grown(index: VectorIndex, vectors: FloatArray) -> VectorIndex:
    """A copy of ``index`` with ``vectors`` appended (``index`` itself unchanged)."""
    if isinstance(index, FaissIndex):
        grown: VectorIndex = FaissIndex.from_faiss(faiss.clone_index(index.index_), ef_search=index.ef_search)
    else:
        grown = copy.copy(index)  # ExactIndex.add replaces its matrix, never writes into it
    grown.add(vectors)
    return grown


def _padded(matrix: sp.csr_matrix, n: int) -> sp.csr_matrix:
    """``matrix`` with empty rows and columns up to ``n x n``."""
    indptr = np.r_[matrix.indptr, np.full(n - matrix.shape[0], matrix.indptr[-1], dtype=matrix.indptr.dtype)]
    return sp.csr_matrix((matrix.data, matrix.indices, indptr), shape=(n, n))


def _fill(merged: IntArray, extra: npt.NDArray[np.integer], n: int) -> IntArray:
    """``merged`` followed by the items of ``extra`` it lacks, ``n`` at most."""
    rest = np.asarray(extra, dtype=np.int32)
    rest = rest[~np.isin(rest, merged)]
    return np.concatenate([merged, rest])[:n].astype(np.int32)


class CandidateStage:
    """Per-user candidates for large catalogues: the sources of :func:`retrieve_candidates`,
    built once over the catalogue (FAISS vectors, concept index, co-occurrence, popularity).

    The ranker scores only these candidates when the catalogue is above its
    ``candidates_above`` size; ``benchmarks/bench_candidates.py`` measures their recall against
    full ranking.
    """

    def __init__(
        self,
        *,
        index: VectorIndex,
        concept_index: ConceptIndex,
        cooccurrence: Cooccurrence,
        popularity: Popularity,
        n_candidates: int = 1000,
        interest_index: VectorIndex | None = None,
    ) -> None:
        if n_candidates < 1:
            raise ValueError(f"n_candidates must be >= 1, got {n_candidates}")
        self.index = index
        self.concept_index = concept_index
        self.cooccurrence = cooccurrence
        self.popularity = popularity
        self.n_candidates = n_candidates
        self.interest_index = interest_index

    @classmethod
    def build(
        cls,
        item_vectors: FloatArray,
        item_concepts: ItemConcepts,
        sequences: Sequence[npt.NDArray[np.integer]],
        *,
        n_candidates: int = 1000,
        space_vectors: FloatArray | None = None,
        index_kind: IndexKind = "exact",
    ) -> CandidateStage:
        """Every source fitted on the catalogue and the training sequences; ``space_vectors`` (the
        items in the interests' space, when it is not the text vectors) get their own index.

        ``index_kind``: ``"exact"`` (BLAS products and a partial sort, :class:`ExactIndex`),
        ``"flat"`` (FAISS's exact index) or ``"hnsw"`` (FAISS's graph index: approximate, sublinear
        search, built in minutes for a million items). The candidate stage asks for hundreds of
        items per query, each query with its own exclusions; there FAISS's flat index took twice
        the CPU time of the exact one (10.8 vs 5.5 ms per user at 29,226 items, same candidates).
        """
        n_items = int(item_vectors.shape[0])
        return cls(
            interest_index=vector_index(space_vectors, index_kind) if space_vectors is not None else None,
            index=vector_index(item_vectors, index_kind),
            concept_index=ConceptIndex(item_concepts),
            cooccurrence=Cooccurrence().fit(sequences, n_items),
            popularity=Popularity().fit(sequences, n_items),
            n_candidates=n_candidates,
        )

    def updated(
        self,
        item_vectors: FloatArray,
        item_concepts: ItemConcepts,
        space_vectors: FloatArray | None = None,
        *,
        edited: bool = False,
    ) -> CandidateStage:
        """A stage over the grown or edited catalogue (all items' text vectors, concepts and, with
        an interest index, interest-space vectors); this one is left as it is (it may still be
        serving). Appended items are added to the indexes; when existing items were ``edited``
        the vector and concept indexes are rebuilt. New items have no interactions: no
        co-occurrence, no popularity."""
        n_old, n_items = len(self.index), len(item_vectors)
        if n_items < n_old:
            raise ValueError(f"the catalogue shrank from {n_old} to {n_items} items")
        if self.interest_index is not None and space_vectors is None:
            raise ValueError("this stage has an interest index: it needs the items' space_vectors")
        interest_index = None
        if edited:
            index = vector_index(item_vectors, _kind_of(self.index))
            if self.interest_index is not None and space_vectors is not None:
                interest_index = vector_index(space_vectors, _kind_of(self.interest_index))
            concept_index = ConceptIndex(item_concepts)
        else:
            index = _grown(self.index, item_vectors[n_old:])
            if self.interest_index is not None and space_vectors is not None:
                interest_index = _grown(self.interest_index, space_vectors[n_old:])
            concept_index = copy.copy(self.concept_index)
            concept_index.add(item_concepts.matrix[n_old:])
        added = n_items - n_old
        cooccurrence = copy.copy(self.cooccurrence)
        cooccurrence.similarity_ = _padded(self.cooccurrence.similarity_, n_items)
        cooccurrence.transition_ = _padded(self.cooccurrence.transition_, n_items)
        cooccurrence.counts_ = np.r_[self.cooccurrence.counts_, np.zeros(added, np.float32)]
        popularity = copy.copy(self.popularity)
        popularity.counts_ = np.r_[self.popularity.counts_, np.zeros(added, np.float32)]
        return CandidateStage(
            index=index,
            interest_index=interest_index,
            concept_index=concept_index,
            cooccurrence=cooccurrence,
            popularity=popularity,
            n_candidates=self.n_candidates,
        )

    def retrieve(self, profile: InterestProfile) -> IntArray:
        """Up to ``n_candidates`` unseen items for ``profile`` (see :func:`retrieve_candidates`)."""
        return self.retrieve_many([profile])[0]

    def retrieve_many(self, profiles: Sequence[InterestProfile]) -> list[IntArray]:
        """:meth:`retrieve` for each profile, the vector searches batched (see :func:`retrieve_many`)."""
        return retrieve_many(
            profiles,
            index=self.index,
            n_candidates=self.n_candidates,
            concept_index=self.concept_index,
            cooccurrence=self.cooccurrence,
            popularity=self.popularity,
            interest_index=self.interest_index,
        )
