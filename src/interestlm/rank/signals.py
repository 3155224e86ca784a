"""Named ranking signals: how well each item fits each profile, one matrix per signal.

Signals (each ``(n_profiles, n_scored_items)`` float32; higher = more of the named quantity):

=============  ================================================================================
interest       multi-interest fit: ``tau * log sum_c a_c exp(cos(q_c, x_i) / tau)`` over the
               profile's active interest clusters, where ``q_c`` is the recency-weighted mean of
               the cluster's members and ``a_c`` its share of the user's recent activity
               (PinnerSage importance; a user weight override scales it, weight 0 drops the
               interest). See :meth:`SignalContext.interest_queries`.
short_term     ``cos(short_term, x_i)``: the recency-weighted intent vector
concept        signed user concept weights . the item's concept row (concepts by name)
graph          positive user concepts propagated one hop through ``graph.adjacency`` . item row
collaborative  a baseline fitted on the training matrix, given the profile's history items
               (EASE up to 20k items, else item-kNN; ``collaborative="none"`` leaves it out)
transition     recency-weighted sum of next-item transition rows of the latest history items
sequential     next-item score of a trained sequence model over the history (the text- and
               concept-aware transformer of ``interestlm.models.seqrec``; only when one is given)
popularity     ``log(1 + training count)``
new_item       1 for items without training interactions, else 0: their interaction signals are
               imputed (a conditional mean, so never top-ranked); held-out data decides how much
               more often new items are chosen than that predicts
dislike        max cosine to the user's disliked items + disliked-concept match (a penalty:
               its learned weight should come out negative)
=============  ================================================================================

By default every signal but ``new_item`` is standardised per user (z-score over the scored items;
a constant row becomes 0) so that learned weights are comparable across signals. ``new_item``
stays 0/1: z-scoring a rare indicator would give its few ones huge values (one new item among
10,000 would score 100).

The short-term and dislike signals read ``SignalContext.item_vectors`` (text vectors: what the
latest items are about); the interest signal reads ``SignalContext.space_vectors``, the item space
of :mod:`interestlm.profiles.space` where the profile's interests were clustered (similarity there
predicts co-consumption), or ``item_vectors`` when there is none.

Why one file over 400 lines: every signal formula in one table, computed in one batched pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from interestlm.core.names import normalise_name
from interestlm.core.protocol import Model, TrainData
from interestlm.core.schema import SIGNALS, ConceptGraph, InterestProfile, ItemConcepts
from interestlm.core.tables import Catalog, Interactions
from interestlm.core.types import FloatArray, IntArray
from interestlm.models import make_model
from interestlm.retrieve.candidates import active_interests
from interestlm.retrieve.collaborative import Cooccurrence

#: Signals that are never standardised (indicators).
RAW_SIGNALS: frozenset[str] = frozenset({"new_item"})

#: Above this many items the collaborative signal uses item-kNN (EASE's dense inverse is too big).
EASE_MAX_ITEMS = 20_000
#: The largest item matrix kept a second time, transposed, for faster products (bytes; 128 MiB is
#: ~87,000 items of 384 dims). Above it the products read the matrix as it is.
TRANSPOSED_MAX_BYTES = 128 * 2**20

Collaborative = Literal["auto", "ease", "itemknn", "none"]


class SequenceScorer(Protocol):
    """A trained next-item model as a signal (``interestlm.models.seqrec.SeqRecScorer``)."""

    @property
    def n_items(self) -> int:
        """Items it scores."""
        ...

    def score(self, histories: list[npt.NDArray[np.integer]]) -> FloatArray:
        """``(len(histories), n_items)`` next-item scores."""
        ...

    def with_items(
        self, text_vectors: FloatArray | None, concepts: sp.spmatrix | None, image_vectors: FloatArray | None = None
    ) -> SequenceScorer:
        """The scorer with items appended, scored from their content (pictures: zero rows for none)."""
        ...


def _propagation(graph: ConceptGraph, n_concepts: int) -> sp.csr_matrix:
    """Concept-to-concept adjacency over the item concepts; knowledge-graph entity nodes (appended
    after them) are folded in as two-hop links, so ``concept -> entity -> concept`` still counts."""
    adj = sp.csr_matrix(graph.adjacency, dtype=np.float32)
    direct = adj[:n_concepts, :n_concepts]
    if graph.n_concepts == n_concepts:
        return direct
    via = adj[:n_concepts, n_concepts:]
    two_hop = (via @ via.T).tocsr()
    two_hop.setdiag(0)
    two_hop.eliminate_zeros()
    two_hop.data = np.minimum(two_hop.data, 1.0).astype(np.float32)
    return direct.maximum(0.5 * two_hop).tocsr()


class PaddedModel:
    """A fitted model's scores with zero columns for items added after it was fitted."""

    def __init__(self, model: Model, n_fitted: int, n_items: int) -> None:
        self.model = model
        self.n_fitted = n_fitted
        self.n_items = n_items

    def fit(self, train: TrainData, *, valid: object = None) -> PaddedModel:
        """Never refitted: the wrapped model already is."""
        return self

    def score(self, users: npt.NDArray[np.int32], histories: list[npt.NDArray[np.int32]]) -> FloatArray:
        """Wrapped scores, new items scored 0 (history items the model never saw are dropped)."""
        known = [np.asarray(h)[np.asarray(h) < self.n_fitted].astype(np.int32) for h in histories]
        base = np.asarray(self.model.score(users, known), dtype=np.float32)
        out = np.zeros((base.shape[0], self.n_items), dtype=np.float32)
        out[:, : base.shape[1]] = base
        return out


def _train_data(sequences: Sequence[npt.NDArray[np.integer]], n_items: int) -> TrainData:
    """Sequences as the evaluation harness's :class:`TrainData` (positions as timestamps)."""
    lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
    items = (
        np.concatenate([np.asarray(s, dtype=np.int32) for s in sequences]) if len(sequences) else np.zeros(0, np.int32)
    )
    users = np.repeat(np.arange(len(sequences), dtype=np.int32), lengths)
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    inter = Interactions.build(
        user=users,
        item=items,
        user_ids=[str(u) for u in range(len(sequences))],
        timestamp=np.arange(len(items), dtype=np.int64) - starts,
    )
    return TrainData(interactions=inter, catalog=Catalog.build([str(i) for i in range(n_items)]))


@dataclass(frozen=True, kw_only=True, eq=False)
class SignalContext:
    """Everything signals are computed from, fitted once from the catalogue and training histories.

    ``concept_index`` maps concept names to columns of ``item_concepts.matrix``;
    ``propagation`` is the concept graph's ``adjacency`` (None without a graph);
    ``collaborative`` a fitted baseline (None when switched off); ``sequential`` a trained
    sequence model (None when not configured); ``transition`` the row-normalised next-item matrix;
    ``log_popularity`` ``log(1 + count)`` per item; ``space_vectors`` the items in the space the
    profiles' interests live in (None: ``item_vectors``). The remaining fields are settings:
    ``interest_half_life`` (in actions: how fast an interest's activity and its query forget
    older members), ``interest_temperature`` (``tau``: near 0 the best-fitting interest alone
    counts, large values average them), ``n_recent`` and ``recency``
    (how many latest items the transition signal reads, and the decay per step back),
    ``max_dislikes`` (latest disliked items compared); ``image_vectors`` the items' pictures
    (unit rows; an all-zero row is an item without one), None when the catalogue has none.
    """

    item_vectors: FloatArray
    item_concepts: ItemConcepts
    concept_index: dict[str, int]
    propagation: sp.csr_matrix | None
    collaborative: Model | None
    transition: sp.csr_matrix
    log_popularity: FloatArray
    sequential: SequenceScorer | None = None
    space_vectors: FloatArray | None = None
    image_vectors: FloatArray | None = None
    interest_half_life: float = 3.0
    interest_temperature: float = 0.1
    n_recent: int = 5
    recency: float = 0.7
    max_dislikes: int = 10

    @property
    def n_items(self) -> int:
        """Catalogue size (columns of an unrestricted signal matrix)."""
        return int(self.item_vectors.shape[0])

    @property
    def names(self) -> tuple[str, ...]:
        """The signals this context can compute, in :data:`SIGNALS` order."""
        missing = {"graph"} if self.propagation is None else set()
        if self.collaborative is None:
            missing.add("collaborative")
        if self.sequential is None:
            missing.add("sequential")
        if self.image_vectors is None:
            missing.add("visual")
        return tuple(name for name in SIGNALS if name not in missing)

    @classmethod
    def build(
        cls,
        item_vectors: npt.ArrayLike,
        item_concepts: ItemConcepts,
        *,
        train_sequences: Sequence[npt.NDArray[np.integer]],
        n_items: int,
        graph: ConceptGraph | None = None,
        collaborative: Collaborative = "auto",
        collaborative_config: dict[str, float] | None = None,
        sequential: SequenceScorer | None = None,
        space_vectors: npt.ArrayLike | None = None,
        image_vectors: npt.ArrayLike | None = None,
        transition_k: int = 100,
        interest_half_life: float = 3.0,
        interest_temperature: float = 0.1,
        n_recent: int = 5,
        recency: float = 0.7,
        max_dislikes: int = 10,
    ) -> SignalContext:
        """Fit the collaborative model, transitions and popularity from ``train_sequences``.

        ``collaborative="auto"`` picks EASE for catalogues of at most :data:`EASE_MAX_ITEMS`
        items, item-kNN above; ``collaborative_config`` is passed to the baseline. ``sequential``
        (already trained) must score all ``n_items``; ``space_vectors`` (one row per item) place the
        items in the space of the profiles' interests; ``image_vectors`` (one row per item, zero
        where an item has no picture) enable the ``visual`` signal.
        """
        vectors = np.ascontiguousarray(item_vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != n_items:
            raise ValueError(f"item_vectors must have shape (n_items={n_items}, dim), got {vectors.shape}")
        if not np.isfinite(vectors).all():
            raise ValueError("item_vectors contain NaN or infinite values")
        space = None if space_vectors is None else np.ascontiguousarray(space_vectors, dtype=np.float32)
        if space is not None and (space.ndim != 2 or space.shape[0] != n_items or not np.isfinite(space).all()):
            raise ValueError(f"space_vectors must be finite with shape (n_items={n_items}, dim), got {space.shape}")
        images = None if image_vectors is None else np.ascontiguousarray(image_vectors, dtype=np.float32)
        if images is not None and (images.ndim != 2 or images.shape[0] != n_items or not np.isfinite(images).all()):
            raise ValueError(f"image_vectors must be finite with shape (n_items={n_items}, dim), got {images.shape}")
        if item_concepts.n_items != n_items:
            raise ValueError(f"item_concepts has {item_concepts.n_items} item rows, expected n_items={n_items}")
        if graph is not None and graph.n_concepts < item_concepts.n_concepts:
            raise ValueError(
                f"graph has {graph.n_concepts} concepts, item_concepts has {item_concepts.n_concepts}: "
                "they must share one concept index space"
            )
        if sequential is not None and sequential.n_items != n_items:
            raise ValueError(f"the sequential scorer scores {sequential.n_items} items, expected n_items={n_items}")
        if collaborative not in ("auto", "ease", "itemknn", "none"):
            raise ValueError(f"collaborative must be 'auto', 'ease', 'itemknn' or 'none', got {collaborative!r}")
        if n_recent < 1 or not 0 < recency <= 1 or max_dislikes < 1:
            raise ValueError("need n_recent >= 1, 0 < recency <= 1 and max_dislikes >= 1")
        if not (interest_half_life > 0 and interest_temperature > 0):
            raise ValueError("need interest_half_life > 0 and interest_temperature > 0")
        kind = collaborative
        if kind == "auto":
            kind = "ease" if n_items <= EASE_MAX_ITEMS else "itemknn"
        model: Model | None = None
        if kind != "none":
            model = make_model(kind, **(collaborative_config or {})).fit(_train_data(train_sequences, n_items))
        cooc = Cooccurrence(window=1, k=transition_k).fit(train_sequences, n_items)
        return cls(
            item_vectors=vectors,
            item_concepts=item_concepts,
            concept_index=item_concepts.index_of(),
            propagation=_propagation(graph, item_concepts.n_concepts) if graph is not None else None,
            collaborative=model,
            transition=cooc.transition_,
            log_popularity=np.log1p(cooc.counts_).astype(np.float32),
            sequential=sequential,
            space_vectors=space,
            image_vectors=images,
            interest_half_life=interest_half_life,
            interest_temperature=interest_temperature,
            n_recent=n_recent,
            recency=recency,
            max_dislikes=max_dislikes,
        )

    def with_items(
        self,
        vectors: npt.ArrayLike,
        concept_rows: sp.csr_matrix,
        *,
        space_vectors: npt.ArrayLike | None = None,
        image_vectors: npt.ArrayLike | None = None,
    ) -> SignalContext:
        """The context with new items appended (text vectors and concept rows; no interactions yet).

        Collaborative, transition and popularity signals give new items zero evidence; the content
        signals (interest, short-term, concept, graph) and the sequence model (whose item vectors
        come from content) score them at once. ``space_vectors`` (the new items' place in the
        interest space) are required when the context has ``space_vectors``; ``image_vectors``
        (zero rows for items without a picture; None: none has one) feed the ``visual`` signal.
        """
        new = np.ascontiguousarray(vectors, dtype=np.float32)
        if new.ndim != 2 or new.shape[1] != self.item_vectors.shape[1]:
            raise ValueError(f"new item vectors must have shape (n, {self.item_vectors.shape[1]}), got {new.shape}")
        n_items = self.n_items + new.shape[0]
        concepts = ItemConcepts(
            names=self.item_concepts.names,
            kinds=self.item_concepts.kinds,
            matrix=sp.vstack([self.item_concepts.matrix, concept_rows]).tocsr().astype(np.float32),
            vectors=self.item_concepts.vectors,
        )
        transition = self.transition.copy().tocsr()
        transition.resize((n_items, n_items))
        model = self.collaborative
        inner, n_fitted = (model.model, model.n_fitted) if isinstance(model, PaddedModel) else (model, self.n_items)
        return replace(
            self,
            item_vectors=np.vstack([self.item_vectors, new]),
            item_concepts=concepts,
            collaborative=PaddedModel(inner, n_fitted, n_items) if inner is not None else None,
            transition=transition,
            log_popularity=np.concatenate([self.log_popularity, np.zeros(new.shape[0], np.float32)]),
            space_vectors=self._appended_space(new.shape[0], space_vectors),
            image_vectors=self._appended_images(new.shape[0], image_vectors),
            sequential=self._appended_sequential(new, concept_rows, image_vectors),
        )

    def _appended_space(self, n_new: int, space_vectors: npt.ArrayLike | None) -> FloatArray | None:
        """``space_vectors`` with ``n_new`` rows appended (checked against the context's own)."""
        if self.space_vectors is None:
            return None
        if space_vectors is None:
            raise ValueError("this context has space_vectors: new items need theirs (space_vectors=...)")
        new = np.ascontiguousarray(space_vectors, dtype=np.float32)
        if new.shape != (n_new, self.space_vectors.shape[1]):
            expected = (n_new, self.space_vectors.shape[1])
            raise ValueError(f"new space vectors must have shape {expected}, got {new.shape}")
        return np.vstack([self.space_vectors, new])

    def _appended_sequential(
        self, new: FloatArray, concept_rows: sp.csr_matrix, image_vectors: npt.ArrayLike | None
    ) -> SequenceScorer | None:
        """The sequence model scoring the new items too (from their text, concepts and pictures)."""
        if self.sequential is None:
            return None
        images = None if image_vectors is None else np.asarray(image_vectors, dtype=np.float32)
        return self.sequential.with_items(new, concept_rows, images)

    def _appended_images(self, n_new: int, image_vectors: npt.ArrayLike | None) -> FloatArray | None:
        """``image_vectors`` with ``n_new`` rows appended (zero rows when the new items have none)."""
        if self.image_vectors is None:
            return None
        dim = self.image_vectors.shape[1]
        new = np.zeros((n_new, dim), np.float32) if image_vectors is None else np.asarray(image_vectors, np.float32)
        if new.shape != (n_new, dim):
            raise ValueError(f"new image vectors must have shape {(n_new, dim)}, got {new.shape}")
        return np.vstack([self.image_vectors, new])

    @property
    def pictured(self) -> npt.NDArray[np.bool_]:
        """Which items have a picture (non-zero ``image_vectors`` row), derived once per array."""
        images = self.image_vectors
        if images is None:
            return np.zeros(self.n_items, dtype=bool)
        out = self._derived("_pictured", images, lambda: np.linalg.norm(images, axis=1) > 0)
        assert isinstance(out, np.ndarray)
        return out

    def _derived(self, key: str, source: object, make: Callable[[], object]) -> object:
        """A value derived from ``source`` (an array of this context), computed once per array:
        arrays are replaced when items are added, never mutated. Kept in ``__dict__`` because the
        dataclass is frozen and the value is derived, not state."""
        cached = self.__dict__.get(key)
        if cached is None or cached[0] is not source:
            cached = (source, make())
            self.__dict__[key] = cached
        return cached[1]

    @property
    def concept_rows(self) -> sp.csr_matrix:
        """``item_concepts.matrix`` as float32 CSR (every ranking multiplies by it)."""
        matrix = self.item_concepts.matrix
        out = self._derived("_concept_rows", matrix, lambda: sp.csr_matrix(matrix, dtype=np.float32))
        assert isinstance(out, sp.csr_matrix)
        return out

    @property
    def interest_norm_max(self) -> float:
        """The largest norm of an ``interest_vectors`` row (bounds the interest signal's exponent)."""
        vectors = self.interest_vectors
        out = self._derived(
            "_interest_norm_max",
            vectors,
            lambda: float(np.sqrt(np.einsum("ij,ij->i", vectors, vectors).max(initial=0.0))),
        )
        assert isinstance(out, float)
        return out

    def transposed(self, vectors: FloatArray) -> FloatArray | None:
        """``vectors.T`` as a C-ordered copy, kept once per array, for this context's item or space
        vectors of at most :data:`TRANSPOSED_MAX_BYTES` (None otherwise: ``similarities`` then reads
        ``vectors`` as it is).

        ``rows @ vectors_t`` with the items contiguous along the output is the product BLAS runs
        fastest here: 1.2 vs 1.7 ms for 5 rows against 9,742 x 256 items, 1.8 vs 3.3 ms for 12
        rows against 9,742 x 384 (one thread, caches cold), and no slower for 256 rows.
        """
        key = "_t_items" if vectors is self.item_vectors else "_t_space" if vectors is self.space_vectors else None
        if key is None or vectors.nbytes > TRANSPOSED_MAX_BYTES:
            return None  # only this context's own matrices are kept transposed
        out = self._derived(key, vectors, lambda: np.ascontiguousarray(vectors.T, dtype=np.float32))
        assert isinstance(out, np.ndarray)
        return out

    @property
    def interest_vectors(self) -> FloatArray:
        """The vectors the interest signal scores: ``space_vectors``, else ``item_vectors``."""
        return self.item_vectors if self.space_vectors is None else self.space_vectors

    def concept_vector(
        self, concepts: Sequence[tuple[str, float]], *, sign: Literal["signed", "positive", "abs"]
    ) -> FloatArray:
        """Dense concept-space vector of ``(name, weight)`` pairs; unknown names ignored."""
        out = np.zeros(self.item_concepts.n_concepts, dtype=np.float32)
        for name, weight in concepts:
            c = self.concept_index.get(normalise_name(name))
            if c is None:
                continue
            w = float(weight)
            if sign == "positive":
                w = max(w, 0.0)
            elif sign == "abs":
                w = abs(w)
            out[c] += w
        return out


def similarities(rows: FloatArray, items: FloatArray, items_t: FloatArray | None = None) -> FloatArray:
    """``rows @ items.T`` as a C-ordered float32 matrix; ``items_t`` (``items.T`` in C order,
    :meth:`SignalContext.transposed`) is the faster operand when given.

    Without it, for a few rows (one user's list) BLAS is faster with the item matrix as the left
    operand (0.7 vs 1.2 ms for one row against 9,742 x 384 on one core); the transposed result is
    then copied to C order, which costs little at that size.
    """
    if items_t is not None:
        return np.asarray(rows @ items_t, dtype=np.float32)
    if len(rows) <= 32:
        return np.ascontiguousarray((items @ rows.T).T, dtype=np.float32)
    return np.asarray(rows @ items.T, dtype=np.float32)


def standardise(matrix: FloatArray, *, tol: float = 1e-6, reference: IntArray | None = None) -> FloatArray:
    """Z-score every row in place (mean 0, std 1); rows with std <= ``tol`` become 0.

    With ``reference`` (column positions), each row's mean and spread are those of its reference
    columns, applied to all of its columns: a candidate list scored beside a random sample of the
    catalogue is put on the catalogue's scale, whichever other columns are scored with it.
    """
    if matrix.shape[1] == 0:
        return matrix
    # Without a reference the basis is the matrix itself; with one, a copy of those columns.
    basis = matrix if reference is None else matrix[:, reference]
    mean = basis.mean(axis=1, keepdims=True, dtype=np.float64).astype(np.float32)
    basis -= mean
    if reference is not None:
        matrix -= mean
    std = np.sqrt(np.mean(np.square(basis, dtype=np.float32), axis=1, keepdims=True, dtype=np.float64))
    flat = std.ravel() <= tol
    scale = np.divide(1.0, std, out=np.zeros_like(std), where=std > tol).astype(np.float32)
    matrix *= scale
    matrix[flat] = 0.0
    return matrix


def interest_queries(
    profiles: Sequence[InterestProfile], ctx: SignalContext, *, vectors: FloatArray | None = None
) -> tuple[FloatArray, npt.NDArray[np.int64], FloatArray]:
    """Query vectors, owning profile and log activity share of every active interest.

    An interest's members are weighted by ``2 ** (-age / interest_half_life)``, ``age`` being the
    number of actions since the member's latest row in the history: the query ``q_c`` is the unit
    weighted mean of the members' vectors, the activity ``a_c`` the sum of the weights (the
    interest's PinnerSage importance), so an interest is represented by what the user took from it
    lately and counts as much as the user is into it now. The displayed long-term weight only
    enters through a user override, which scales the activity by ``override / weight`` (0 drops
    the interest). An interest none of whose members is in the history (a hand-made profile) is
    its stored vector with its weight as activity. Shares are normalised per profile.

    ``vectors`` (default: the interest space) places the members elsewhere, e.g. in picture space:
    there an interest without a member that has a picture has no query, and a hand-made interest
    (no member in the history) none either.
    """
    elsewhere = vectors is not None
    vectors = ctx.interest_vectors if vectors is None else vectors
    dim = vectors.shape[1]
    queries: list[FloatArray] = []
    owners: list[int] = []
    activity: list[float] = []
    for b, p in enumerate(profiles):
        active = active_interests(p)
        if not active:
            continue
        # Distinct history items and the actions since each one's latest row.
        distinct, ages = np.unique(p.history.items[::-1], return_index=True)
        rows: list[tuple[FloatArray, float]] = []
        for pos, weight in active:
            interest = p.interests[pos]
            if not elsewhere and interest.vector.shape != (dim,):
                raise ValueError(
                    f"profile {p.user_id!r}: interest {pos} has a {interest.vector.shape} vector, items have {dim} dims"
                )
            members = np.asarray(interest.items, dtype=np.int64)
            at = np.minimum(np.searchsorted(distinct, members), max(len(distinct) - 1, 0))
            known = members[distinct[at] == members] if len(distinct) else members[:0]
            scale = weight / interest.weight if interest.weight > 0 else weight
            if len(known):
                decay = np.exp2(-ages[np.searchsorted(distinct, known)] / ctx.interest_half_life)
                query = (decay @ vectors[known].astype(np.float64)).astype(np.float32)
                mass = float(decay.sum()) * scale
            elif elsewhere:
                continue
            else:
                query, mass = interest.vector.astype(np.float32), float(weight)
            norm = float(np.linalg.norm(query))
            if norm > 0 and mass > 0:
                rows.append((query / norm, mass))
        total = sum(m for _, m in rows)
        for query, mass in rows:
            queries.append(query)
            owners.append(b)
            activity.append(mass / total)
    if not queries:
        return np.zeros((0, dim), np.float32), np.zeros(0, np.int64), np.zeros(0, np.float32)
    return (
        np.stack(queries).astype(np.float32),
        np.asarray(owners, dtype=np.int64),
        np.log(np.asarray(activity, dtype=np.float64)).astype(np.float32),
    )


def soft_max_over_interests(
    queries: FloatArray,
    owners: npt.NDArray[np.int64],
    log_shares: FloatArray,
    items: FloatArray,
    tau: float,
    *,
    items_norm_max: float | None = None,
    items_t: FloatArray | None = None,
) -> tuple[npt.NDArray[np.int64], FloatArray]:
    """``tau * log sum_c a_c exp(q_c . x / tau)`` over each owner's queries (owners sorted), for
    every row of ``items``: the owners that have queries, and one row of scores per owner.

    The sum over an owner's queries is a sparse ``(owners x queries)`` matrix of the shares
    ``a_c`` times ``exp(q_c . x / tau)``: a segment reduction along the first axis of a dense
    block (``np.add.reduceat``) was 3x slower than the whole matrix product. The usual shift by
    the row maximum is skipped when ``|q . x| / tau`` cannot overflow float32's ``exp`` (the
    shares sum to 1 per owner, so at least one term of every sum is near its own size); past
    that bound the shifted form runs. ``items_norm_max`` (any upper bound of the rows' norms,
    e.g. the whole catalogue's for a subset) saves computing it; ``items_t`` is ``items.T`` in C
    order (see :func:`similarities`).
    """
    t = np.float32(tau)
    starts = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]])
    if items_norm_max is None:
        items_norm_max = float(np.sqrt(np.einsum("ij,ij->i", items, items).max(initial=0.0)))
    # Cauchy-Schwarz bound on |q . x| / tau; exp overflows float32 above ~88.
    bound = float(np.linalg.norm(queries, axis=1).max(initial=0.0)) * items_norm_max / float(tau)
    z = similarities(queries, items, items_t)
    if bound < 60.0:
        z *= np.float32(1.0 / tau)
        np.exp(z, out=z)
        segment = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(owners)]))
        shares = sp.csr_matrix(
            (np.exp(log_shares.astype(np.float64)).astype(np.float32), (segment, np.arange(len(owners)))),
            shape=(len(starts), len(owners)),
        )
        total = np.asarray(shares @ z, dtype=np.float32)
        np.log(total, out=total)
        total *= t
        return owners[starts], total
    z /= t
    z += log_shares[:, None]
    peak = np.maximum.reduceat(z, starts, axis=0)
    z -= np.repeat(peak, np.diff(np.r_[starts, len(z)]), axis=0)
    np.exp(z, out=z)
    scored: FloatArray = t * (np.log(np.add.reduceat(z, starts, axis=0)) + peak)
    return owners[starts], scored


class _Batch:
    """One batch of profiles scored against a fixed item set (shared pieces computed once)."""

    def __init__(
        self,
        profiles: Sequence[InterestProfile],
        ctx: SignalContext,
        items: IntArray | None,
        vectors: FloatArray,
        concept_rows: sp.csr_matrix,
        space: FloatArray,
        wanted: Sequence[str] = (),
    ) -> None:
        self.wanted = frozenset(wanted)
        # Whole-catalogue batches multiply by the context's transposed copies (kept once).
        self.vectors_t = ctx.transposed(vectors) if items is None else None
        self.space_t = ctx.transposed(space) if items is None else None
        self._text: tuple[FloatArray, npt.NDArray[np.int64]] | None = None
        self.profiles = profiles
        self.ctx = ctx
        self.items = items
        self.vectors = vectors
        self.space = space
        self.concept_rows = concept_rows
        self.n = len(vectors)

    def _columns(self, full: npt.NDArray[np.floating]) -> FloatArray:
        cols = full if self.items is None else full[:, self.items]
        return np.ascontiguousarray(cols, dtype=np.float32)

    def _text_similarities(self) -> tuple[FloatArray, npt.NDArray[np.int64]]:
        """``rows @ vectors.T`` for the short-term queries (first ``len(profiles)`` rows, when
        wanted) and the batch's distinct disliked items (sorted ids returned), in one product:
        each pass over the text vectors is paid once (a single list is bound by memory)."""
        if self._text is None:
            dim = self.vectors.shape[1]
            blocks: list[FloatArray] = []
            if "short_term" in self.wanted:
                queries = np.zeros((len(self.profiles), dim), dtype=np.float32)
                for b, p in enumerate(self.profiles):
                    if p.short_term.size == dim:
                        queries[b] = p.short_term
                    elif p.short_term.size:
                        raise ValueError(
                            f"profile {p.user_id!r}: short_term has {p.short_term.size} dims, items have {dim}"
                        )
                blocks.append(queries)
            disliked = np.zeros(0, dtype=np.int64)
            if "dislike" in self.wanted:
                disliked = np.unique(
                    np.asarray([i for p in self.profiles for i in p.dislikes[: self.ctx.max_dislikes]], dtype=np.int64)
                )
                blocks.append(np.asarray(self.ctx.item_vectors[disliked], dtype=np.float32))
            rows = np.concatenate(blocks) if blocks else np.zeros((0, dim), dtype=np.float32)
            self._text = (similarities(rows, self.vectors, self.vectors_t), disliked)
        return self._text

    def _nearest_disliked(self) -> FloatArray:
        """``out[b, x]`` = max cosine of ``x`` to user ``b``'s latest disliked items; 0 without any.

        Users share disliked items, so each distinct one's similarities come from one product
        (:meth:`_text_similarities`); the maximum is taken slot by slot (every user's j-th
        dislike at once): ``np.maximum.reduceat`` along rows was several times slower.
        """
        out = np.zeros((len(self.profiles), self.n), dtype=np.float32)
        sims, distinct = self._text_similarities()
        offset = len(self.profiles) if "short_term" in self.wanted else 0
        lists = [np.asarray(p.dislikes[: self.ctx.max_dislikes], dtype=np.int64) for p in self.profiles]
        for slot in range(max((len(x) for x in lists), default=0)):
            users = np.asarray([b for b, x in enumerate(lists) if len(x) > slot], dtype=np.int64)
            rows = offset + np.searchsorted(distinct, [lists[b][slot] for b in users])
            block = sims[rows]
            out[users] = block if slot == 0 else np.maximum(out[users], block)
        return out

    def interest(self) -> FloatArray:
        """``tau * log sum_c a_c exp(cos(q_c, x) / tau)`` per profile (0 for one without interests)."""
        queries, owners, log_shares = interest_queries(self.profiles, self.ctx)
        out = np.zeros((len(self.profiles), self.n), dtype=np.float32)
        if not len(queries):
            return out
        rows, scored = soft_max_over_interests(
            queries, owners, log_shares, self.space, self.ctx.interest_temperature,
            items_norm_max=self.ctx.interest_norm_max, items_t=self.space_t,
        )
        out[rows] = scored
        return out

    def visual(self) -> FloatArray:
        """How much a candidate's picture looks like the pictures of each active interest's members.

        The interests' queries in picture space are their members' unit image vectors, weighted
        as :func:`interest_queries` weights them (recent members count more); the score is the
        same soft maximum over interests. A candidate without a picture gets the mean score of
        the candidates that have one: the signal says nothing either way about it.
        """
        images = self.ctx.image_vectors
        if images is None:
            raise ValueError("the visual signal needs a SignalContext built with image_vectors")
        cand = images if self.items is None else images[self.items]
        has = self.ctx.pictured if self.items is None else self.ctx.pictured[self.items]
        queries, owners, log_shares = interest_queries(self.profiles, self.ctx, vectors=images)
        out = np.zeros((len(self.profiles), self.n), dtype=np.float32)
        if not len(queries) or not has.any():
            return out
        rows, scored = soft_max_over_interests(
            queries, owners, log_shares, np.ascontiguousarray(cand[has]), self.ctx.interest_temperature
        )
        block = np.repeat(scored.mean(axis=1, keepdims=True), self.n, axis=1)
        block[:, has] = scored
        out[rows] = block
        return out

    def short_term(self) -> FloatArray:
        if "short_term" not in self.wanted:
            self.wanted |= {"short_term"}
            self._text = None
        return np.array(self._text_similarities()[0][: len(self.profiles)], dtype=np.float32)

    def _by_concepts(self, users: FloatArray) -> FloatArray:
        """``users (B, C) . concept_rows.T`` computed as sparse @ dense (cost: nnz x B)."""
        return np.ascontiguousarray(np.asarray(self.concept_rows @ users.T, dtype=np.float32).T)

    def concept(self) -> FloatArray:
        users = np.stack([self.ctx.concept_vector(p.concepts, sign="signed") for p in self.profiles])
        return self._by_concepts(users)

    def graph(self) -> FloatArray:
        propagation = self.ctx.propagation
        if propagation is None:
            raise ValueError("the graph signal needs a SignalContext built with a concept graph")
        users = np.stack([self.ctx.concept_vector(p.concepts, sign="positive") for p in self.profiles])
        spread = np.asarray(propagation.T @ users.T, dtype=np.float32).T
        return self._by_concepts(np.ascontiguousarray(spread))

    def collaborative(self) -> FloatArray:
        model = self.ctx.collaborative
        if model is None:
            raise ValueError("the collaborative signal needs a SignalContext built with collaborative != 'none'")
        users = np.arange(len(self.profiles), dtype=np.int32)
        histories = [np.asarray(p.history.items, dtype=np.int32) for p in self.profiles]
        return self._columns(model.score(users, histories))

    def transition(self) -> FloatArray:
        rows: list[npt.NDArray[np.int64]] = []
        cols: list[npt.NDArray[np.int64]] = []
        vals: list[FloatArray] = []
        for b, p in enumerate(self.profiles):
            recent = np.asarray(p.history.items[-self.ctx.n_recent :], dtype=np.int64)
            rows.append(np.full(len(recent), b, dtype=np.int64))
            cols.append(recent)
            vals.append(np.power(self.ctx.recency, np.arange(len(recent))[::-1]).astype(np.float32))
        weights = sp.csr_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
            shape=(len(self.profiles), self.ctx.n_items),
        )
        return self._columns((weights @ self.ctx.transition).toarray())

    def sequential(self) -> FloatArray:
        model = self.ctx.sequential
        if model is None:
            raise ValueError("the sequential signal needs a SignalContext built with a sequence model")
        return self._columns(model.score([np.asarray(p.history.items) for p in self.profiles]))

    def popularity(self) -> FloatArray:
        pop = self.ctx.log_popularity if self.items is None else self.ctx.log_popularity[self.items]
        return np.repeat(pop[None, :], len(self.profiles), axis=0).astype(np.float32, copy=False)

    def new_item(self) -> FloatArray:
        pop = self.ctx.log_popularity if self.items is None else self.ctx.log_popularity[self.items]
        fresh = (pop <= 0).astype(np.float32)
        return np.repeat(fresh[None, :], len(self.profiles), axis=0)

    def dislike(self) -> FloatArray:
        if "dislike" not in self.wanted:
            self.wanted |= {"dislike"}
            self._text = None
        # Dislikes are listed most recent first: the latest ``max_dislikes`` are compared.
        nearest = self._nearest_disliked()
        users = np.stack([self.ctx.concept_vector(p.disliked_concepts, sign="abs") for p in self.profiles])
        return nearest + self._by_concepts(users)


_COMPUTE: dict[str, Callable[[_Batch], FloatArray]] = {
    "interest": _Batch.interest,
    "short_term": _Batch.short_term,
    "concept": _Batch.concept,
    "graph": _Batch.graph,
    "visual": _Batch.visual,
    "collaborative": _Batch.collaborative,
    "transition": _Batch.transition,
    "sequential": _Batch.sequential,
    "popularity": _Batch.popularity,
    "new_item": _Batch.new_item,
    "dislike": _Batch.dislike,
}


def compute_signals(
    profiles: Sequence[InterestProfile],
    ctx: SignalContext,
    *,
    items: npt.ArrayLike | None = None,
    names: Sequence[str] | None = None,
    standardised: bool = True,
    batch_size: int = 256,
    reference: IntArray | None = None,
) -> dict[str, FloatArray]:
    """Each named signal as a ``(len(profiles), n)`` float32 matrix (``n`` = ``len(items)`` or all items).

    ``names`` defaults to every signal ``ctx`` can compute (:attr:`SignalContext.names`);
    profiles are processed ``batch_size`` at a time. Signals are standardised per profile over
    the scored items, or over the ``reference`` positions among them (see :func:`standardise`).
    """
    wanted = tuple(ctx.names if names is None else names)
    unknown = [n for n in wanted if n not in SIGNALS]
    if unknown:
        raise ValueError(f"unknown signals {unknown}; known: {list(SIGNALS)}")
    unavailable = [n for n in wanted if n not in ctx.names]
    if unavailable:
        raise ValueError(f"signals {unavailable} are not available in this SignalContext (available: {ctx.names})")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    cols: IntArray | None = None
    if items is not None:
        cols = np.asarray(items, dtype=np.int32).ravel()
        if len(cols) and (cols.min() < 0 or cols.max() >= ctx.n_items):
            raise ValueError(f"items must lie in [0, {ctx.n_items})")
    n = ctx.n_items if cols is None else len(cols)
    if reference is not None:
        reference = np.asarray(reference, dtype=np.int32).ravel()
        if not len(reference) or reference.min() < 0 or reference.max() >= n:
            raise ValueError(f"reference must be non-empty positions in [0, {n})")
    for p in profiles:
        h = p.history.items
        if len(h) and (int(h.min()) < 0 or int(h.max()) >= ctx.n_items):
            raise ValueError(f"profile {p.user_id!r}: history items outside [0, {ctx.n_items})")
        if any(not 0 <= i < ctx.n_items for i in p.dislikes):
            raise ValueError(f"profile {p.user_id!r}: disliked items outside [0, {ctx.n_items})")
    vectors = ctx.item_vectors if cols is None else np.ascontiguousarray(ctx.item_vectors[cols])
    space = ctx.interest_vectors if cols is None else np.ascontiguousarray(ctx.interest_vectors[cols])
    concept_rows = ctx.concept_rows
    if cols is not None:
        concept_rows = concept_rows[cols]
    out = {name: np.empty((len(profiles), n), dtype=np.float32) for name in wanted}
    for start in range(0, len(profiles), batch_size):
        stop = min(start + batch_size, len(profiles))
        batch = _Batch(profiles[start:stop], ctx, cols, vectors, concept_rows, space, wanted)
        for name in wanted:
            block = _COMPUTE[name](batch)
            standardise_it = standardised and name not in RAW_SIGNALS
            out[name][start:stop] = standardise(block, reference=reference) if standardise_it else block
    return out
