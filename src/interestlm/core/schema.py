"""Domain containers shared by the stages: concepts, the concept graph, events and profiles.

Bulk data lives in numpy / scipy arrays (item and concept *indices*, float32 vectors); the
readable form (ids, names, JSON) is rendered at the edges. Containers are frozen keyword-only
dataclasses: a stage that changes one returns a new one (``dataclasses.replace``).

Index spaces used everywhere:

* item index ``i`` — a row of the dataset's :class:`~interestlm.core.tables.Catalog` and of the
  item vector matrix;
* concept index ``c`` — a position in :attr:`ItemConcepts.names` (and in the concept graph).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from interestlm.core.errors import BadInputError
from interestlm.core.names import normalise_name
from interestlm.core.types import FloatArray, IntArray

#: ``InterestProfile.extra`` key of the stand-in items a profile built from a text description was
#: seeded with: the user never saw them, so ranking keeps them and explanations never cite them.
SEED_ITEMS = "seed_items"

#: Every ranking signal name, in a fixed order (see :mod:`interestlm.rank.signals`).
SIGNALS: tuple[str, ...] = (
    "interest",
    "short_term",
    "concept",
    "graph",
    "visual",
    "collaborative",
    "transition",
    "sequential",
    "popularity",
    "new_item",
    "dislike",
)

#: Kinds of concept, by where they came from.
CONCEPT_KINDS: tuple[str, ...] = ("genre", "category", "brand", "tag", "attribute", "keyphrase", "entity")

#: Feedback kinds accepted by profile updates (and on the wire by the HTTP service).
EVENT_KINDS: tuple[str, ...] = ("view", "click", "like", "dislike", "rate", "review")


@dataclass(frozen=True, kw_only=True, eq=False)
class ItemConcepts:
    """Weighted concepts of every item.

    ``matrix[i, c]`` is the weight (in ``(0, 1]``) of concept ``c`` for item ``i``; rows may be
    empty. ``names`` are normalised (lower case, single spaces); ``kinds[c]`` is one of
    :data:`CONCEPT_KINDS`. ``vectors`` (optional) holds one L2-normalised embedding per concept.
    """

    names: list[str]
    kinds: list[str]
    matrix: sp.csr_matrix
    vectors: FloatArray | None = None

    def __post_init__(self) -> None:
        if len(self.names) != len(self.kinds):
            raise ValueError("ItemConcepts.names and kinds must have the same length")
        if self.matrix.shape[1] != len(self.names):
            raise ValueError(f"ItemConcepts.matrix has {self.matrix.shape[1]} columns, expected {len(self.names)}")
        if self.vectors is not None and self.vectors.shape[0] != len(self.names):
            raise ValueError("ItemConcepts.vectors must have one row per concept")

    @property
    def n_items(self) -> int:
        """Number of item rows."""
        return int(self.matrix.shape[0])

    @property
    def n_concepts(self) -> int:
        """Number of concepts."""
        return len(self.names)

    def index_of(self) -> dict[str, int]:
        """Map concept name -> concept index."""
        return {name: c for c, name in enumerate(self.names)}

    def of_item(self, item: int) -> list[tuple[int, float]]:
        """``(concept index, weight)`` pairs of one item, heaviest first."""
        # Rows are sorted once and kept: explanations read the same items' rows for every user.
        # The dataclass is frozen, and the cache is derived, so it lives in __dict__.
        cache: dict[int, list[tuple[int, float]]] = self.__dict__.setdefault("_rows", {})
        row = cache.get(item)
        if row is None:
            m = self.matrix if self.matrix.format == "csr" else self.matrix.tocsr()
            lo, hi = int(m.indptr[item]), int(m.indptr[item + 1])
            pairs = zip(m.indices[lo:hi].tolist(), m.data[lo:hi].tolist(), strict=True)
            row = cache[item] = [(int(c), float(w)) for c, w in sorted(pairs, key=lambda p: (-p[1], p[0]))]
        return list(row)


#: Edge types of the concept graph.
EDGE_TYPES: tuple[str, ...] = ("cooccurrence", "transition", "similarity", "hierarchy", "knowledge")


@dataclass(frozen=True, kw_only=True, eq=False)
class ConceptGraph:
    """Typed, weighted relations between concepts (same index space as :class:`ItemConcepts`).

    ``edges[t]`` is an ``n_concepts x n_concepts`` CSR matrix of non-negative weights for edge
    type ``t`` (one of :data:`EDGE_TYPES`; directed for ``transition`` and ``hierarchy``
    (parent -> child)). ``adjacency`` combines them (symmetric, weights in ``[0, 1]``) and is what
    profile exploration and ranking read. ``relations`` keeps the labels of imported
    knowledge-graph edges: ``(head, tail) -> relation``. ``kinds[c]`` (optional) is node ``c``'s
    kind, one of :data:`CONCEPT_KINDS`.

    Nodes ``0 .. n_item_concepts - 1`` are the item concepts, in :class:`ItemConcepts` order.
    Importing a knowledge graph may append nodes of kind ``"entity"`` after them (names that no
    item concept has, linked to one that does), so ``n_concepts`` can exceed the number of
    columns of :attr:`ItemConcepts.matrix`: an entity node belongs to no item.
    """

    names: list[str]
    edges: dict[str, sp.csr_matrix]
    adjacency: sp.csr_matrix
    relations: dict[tuple[int, int], str] = field(default_factory=dict)
    kinds: list[str] | None = None

    def __post_init__(self) -> None:
        if self.kinds is not None and len(self.kinds) != len(self.names):
            raise ValueError(f"ConceptGraph.kinds has {len(self.kinds)} entries, expected {len(self.names)}")

    @property
    def n_concepts(self) -> int:
        """Number of nodes."""
        return len(self.names)

    def name_index(self) -> dict[str, int]:
        """Node index by normalised name (:func:`normalise_name`); built once per node count."""
        cached = self.__dict__.get("_name_index")
        if cached is None or cached[0] != len(self.names):
            # Explanations look names up for every recommended item; rebuilding this per call cost
            # more than the rest of the explanation. Keyed by length: nodes are only ever appended.
            index = {normalise_name(n): c for c, n in enumerate(self.names)}
            cached = (len(self.names), index)
            self.__dict__["_name_index"] = cached
        out: dict[str, int] = cached[1]
        return out

    def neighbours(self, concept: int, k: int = 10) -> list[tuple[int, float]]:
        """The ``k`` strongest neighbours of ``concept`` in ``adjacency``, heaviest first."""
        row = self.adjacency.getrow(concept)
        order = np.lexsort((row.indices, -row.data))[:k]
        return [(int(row.indices[j]), float(row.data[j])) for j in order]

    def path(self, source: int, target: int, max_hops: int = 3) -> list[int] | None:
        """Shortest path (fewest hops, in ``adjacency``) from ``source`` to ``target``, or None."""
        if source == target:
            return [source]
        indptr, indices = self.adjacency.indptr, self.adjacency.indices
        parent = {source: source}
        frontier = deque([(source, 0)])
        while frontier:
            node, depth = frontier.popleft()
            if depth == max_hops:
                continue
            for nxt in indices[indptr[node] : indptr[node + 1]].tolist():
                if nxt in parent:
                    continue
                parent[nxt] = node
                if nxt == target:
                    out = [target]
                    while out[-1] != source:
                        out.append(parent[out[-1]])
                    return out[::-1]
                frontier.append((nxt, depth + 1))
        return None


@dataclass(frozen=True, kw_only=True)
class Event:
    """One piece of feedback from a user about an item (``kind`` in :data:`EVENT_KINDS`).

    ``value`` is the rating for ``rate``; ``text`` the review for ``review``. ``timestamp`` is
    seconds since the epoch (or a sequence position when the data has no times).
    """

    item: int
    kind: str
    timestamp: int
    value: float | None = None
    text: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in EVENT_KINDS:
            raise BadInputError(f"event kind {self.kind!r} is not one of {EVENT_KINDS}")
        if self.kind == "rate" and self.value is None:
            raise BadInputError("a 'rate' event needs a value")


@dataclass(frozen=True, kw_only=True, eq=False)
class History:
    """What a profile was built from, in time order: the evidence explanations may cite.

    ``polarity`` is the signed preference of each row in ``[-1, 1]`` (from the rating read on its
    scale's levels and centred on the user's mean, an explicit like/dislike, and review-text
    sentiment; 0 when unknown; see ``profiles/sentiment.py``).
    """

    items: IntArray
    timestamps: npt.NDArray[np.int64]
    ratings: FloatArray
    polarity: FloatArray

    def __len__(self) -> int:
        return len(self.items)


@dataclass(frozen=True, kw_only=True, eq=False)
class Interest:
    """One long-term interest cluster of a user's history."""

    label: str
    weight: float
    vector: FloatArray
    medoid: int
    items: tuple[int, ...]
    exemplars: tuple[int, ...]
    concepts: tuple[tuple[str, float], ...]
    #: Length of the (unnormalised) mean of the member vectors: 1 when all members coincide,
    #: lower for a spread-out cluster. ``cohesion * vector`` is the exact centroid, which lets a
    #: profile take a new item incrementally with the same Ward criterion that built it.
    cohesion: float = 1.0


@dataclass(frozen=True, kw_only=True)
class ProfileEdits:
    """A user's own corrections, honoured by ranking: pinned and muted concepts (by name) and
    per-interest weight overrides (by interest position; weight 0 removes the interest)."""

    pinned: frozenset[str] = frozenset()
    muted: frozenset[str] = frozenset()
    interest_weights: tuple[tuple[int, float], ...] = ()


@dataclass(frozen=True, kw_only=True, eq=False)
class InterestProfile:
    """The layered profile of one user (see ``profiles/``); ``to_json`` lives in ``profiles/``.

    ``concepts`` and ``explore`` map concept names to signed / positive weights, heaviest first.
    ``likes`` / ``dislikes`` are item indices; ``short_term`` is an L2-normalised vector (zeros
    when the user has no history).
    """

    user_id: str
    history: History
    interests: tuple[Interest, ...]
    likes: tuple[int, ...]
    dislikes: tuple[int, ...]
    # (issue 20) Items the user rated or reviewed without liking or disliking them (most recent first).
    lukewarm: tuple[int, ...] = ()
    liked_concepts: tuple[tuple[str, float], ...]
    disliked_concepts: tuple[tuple[str, float], ...]
    short_term: FloatArray
    short_term_items: tuple[int, ...]
    concepts: tuple[tuple[str, float], ...]
    explore: tuple[tuple[str, float], ...]
    summary: str
    summary_source: str = "template"
    edits: ProfileEdits = field(default_factory=ProfileEdits)
    mean_rating: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def seed_items(self) -> frozenset[int]:
        """Stand-in history items of a profile built from a text description (``extra["seed_items"]``)."""
        return frozenset(int(i) for i in self.extra.get(SEED_ITEMS, ()))

    @property
    def seen_items(self) -> IntArray:
        """History items the user really interacted with: ``history.items`` without the seed items."""
        seeds = self.seed_items
        items = self.history.items
        if not seeds:
            return items
        return items[~np.isin(items, np.fromiter(seeds, np.int64, len(seeds)))]


@dataclass(frozen=True, kw_only=True)
class Explanation:
    """Why ``item`` was recommended to a user, from evidence in their profile.

    ``interest`` is the position in ``profile.interests`` of the cluster the item serves (None
    when no cluster is similar); ``concepts`` are concepts the item shares with the user's liked
    concepts, strongest first; ``evidence`` are 0-3 items from the user's history (never a
    disliked one) most similar to ``item``; ``path`` names concepts linking one of the user's
    concepts to one of the item's in the concept graph (empty when concepts are shared or no path
    exists); ``text`` is the rendered sentence and ``text_source`` who wrote it (``template``, or
    ``kind:model`` for validated language-model text).
    """

    item: int
    interest: int | None
    interest_label: str
    concepts: tuple[str, ...]
    evidence: tuple[int, ...]
    path: tuple[str, ...]
    text: str
    text_source: str = "template"
    #: The signal that carried most of the item's score (``interest``, ``collaborative``, ...;
    #: see :mod:`interestlm.rank.signals`), or None when unknown; the sentence leads with it.
    reason: str | None = None
    #: The user's pinned concepts among ``concepts`` (what "You pinned ..." may name).
    pinned: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Recommendation:
    """One recommended item for a user: its fused score, each signal's share of it, and why.

    ``contributions`` maps a signal name to ``weight * value`` for this item (plus ``pin`` when a
    pinned concept lifted it); they sum to ``score``.
    """

    item: int
    item_id: str
    score: float
    explanation: Explanation | None = None
    contributions: dict[str, float] = field(default_factory=dict)
