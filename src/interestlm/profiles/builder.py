"""Layered user-interest profiles: build from a history, update from one event without refitting.

Layers (see DESIGN.md, "Profiles"):

* **interests** — Ward clustering of the vectors of the items the user did not dislike
  (adaptive count: cut at ``distance_threshold``, at most ``max_interests``), PinnerSage style:
  each cluster keeps its medoid item, a few exemplars near it, a time-decayed weight and a label
  made of its heaviest concepts. An interest's ``vector`` is the *normalised mean* of its
  members, not the medoid's vector: the mean summarises a spread-out cluster better for
  scoring, and ``cohesion * vector`` is the exact centroid, so an update can apply Ward's
  merge criterion to a new item without re-clustering. The medoid stays available as an item.
* **sentiment** — three levels per item from its current polarity: liked, lukewarm (rated or
  reviewed, but neither) and disliked, with concept sums over the liked and disliked ones. A
  concept is never both liked and disliked: one carried by any liked item, or by an item whose
  current rating is at the top of the scale (``like_rating``), is never disliked (nor negative
  in the concept layer), and one is disliked only when it is net negative in the concept layer,
  i.e. its disliked items outweigh the user's other items that carry it;
* **short_term** — recency-weighted mean of the last actions' vectors (half-life in actions);
* **concepts** — signed, time-decayed concept weights (``x idf``), max ``|w|`` = 1;
* **explore** — concepts one or two hops from the user's top concepts in the concept graph;
* **summary** — :func:`~interestlm.profiles.summary.template_summary`.

Which polarity counts: an item's *current* polarity is that of its latest row that carries
evidence, a rating or a non-zero polarity (so a later dislike overrides an earlier like, a later
lukewarm rating overrides an earlier dislike, and a plain view does not undo either).

Time follows the user, not the calendar: an event's age is how many of the user's events came
after it plus the time between those events with each gap capped at ``max_gap_days``, so a year
away (or a live event stamped today after a history from 2005) ages nothing more than a short
break. See :class:`ProfileConfig` for the bound this puts on what one new event can move.

Why one file over 400 lines: build, incremental update and edit must apply one clustering and decay
rule; split apart they drifted.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.cluster.hierarchy import linkage
from scipy.spatial.distance import cdist, pdist, squareform

from interestlm.core.names import NameIndex
from interestlm.core.schema import ConceptGraph, Event, History, Interest, InterestProfile, ItemConcepts, ProfileEdits
from interestlm.core.types import FloatArray
from interestlm.profiles.edits import edit_profile
from interestlm.profiles.sentiment import RatingLevels, ReviewSentiment, rating_polarity
from interestlm.profiles.summary import template_summary

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Pairs = tuple[tuple[str, float], ...]

_SECONDS_PER_DAY = 86_400.0
#: First-hop concepts expanded for the second hop of exploration.
_SECOND_HOP_NODES = 20


@dataclass(frozen=True, kw_only=True)
class ProfileConfig:
    """Knobs of the profile layers (defaults suit unit-length MiniLM item vectors).

    ``distance_threshold`` is a Ward merge height: two single items merge when their Euclidean
    distance (on unit vectors, ``sqrt(2 - 2 cos)``) is below it; larger clusters need to be
    proportionally closer, so long histories split into more interests (hence ``max_interests``).
    1.4 gave 2-3 interests to MovieLens users with under 40 ratings and about 5 to those with
    40-100 (MiniLM vectors).

    **Time is the user's own clock.** An event's weight is ``2 ** -age`` with ``age =
    (events after it) / half_life_positions + (capped time after it) / half_life_days``; the
    capped time sums the gaps between the user's own later events, each gap capped at
    ``max_gap_days`` (``time_unit="positions"``: data without times, the first term only). A year
    away, or a live event stamped today after a history that ended in 2018, ages the history by
    one capped gap, not by the calendar.

    **The bound.** One new latest event ages every older one by at most the factor ``r = 2 **
    -(1 / half_life_positions + max_gap_days / half_life_days)`` and itself weighs 1, so the
    normalised interest weights move by at most ``L1 = 2 / (1 + r * M)``, ``M`` the decayed
    weight of the events whose items sit in the user's interests
    (:meth:`ProfileBuilder.weight_shift_bound` gives it for a profile). When the user's latest
    ``n`` events all sit in interests, ``M >= 1 + r + ... + r ** (n - 1)``
    (:meth:`weight_shift_bound`): with the defaults ``r = 0.967``, and **one event moves the
    weights by at most 0.13 (L1) for a user with 20 events in their interests** (0.21 with 10,
    0.36 with 5). This holds for a full rebuild as for :meth:`ProfileBuilder.update`, on the same
    grouping of items. Disliked items sit in no interest, so a user whose history is mostly
    dislikes has little long-term mass and moves more. (An event that turns an item from
    disliked to not disliked, or back, moves that item's earlier events too, and can move more.)
    Short-term intent is not damped: the new item leads it at once.

    **Sentiment** (see :mod:`~interestlm.profiles.sentiment`): ratings are read on their scale's
    levels (``like_rating``, ``dislike_rating``, ``rating_midpoint``), so a rating below a generous
    rater's own mean is lukewarm, not a dislike.
    """

    #: Interests: Ward cut height, cap on their number, and on the items clustered (the most
    #: recent; older ones join the nearest medoid).
    distance_threshold: float = 1.4
    max_interests: int = 8
    max_cluster_items: int = 500
    #: Time decay of interest weights and concept weights, on the user's own clock (above).
    time_unit: Literal["seconds", "positions"] = "seconds"
    half_life_days: float = 365.0
    half_life_positions: float = 100.0
    max_gap_days: float = 14.0
    #: An item is liked at polarity >= like_threshold, disliked at <= -dislike_threshold (never
    #: while its current rating is >= like_rating), lukewarm when rated or reviewed but neither;
    #: at most max_likes of each are listed (most recent first).
    like_threshold: float = 0.4
    dislike_threshold: float = 0.4
    max_likes: int = 50
    #: Short-term vector: the last short_term_n actions, halving weight every
    #: short_term_half_life actions back.
    short_term_n: int = 10
    short_term_half_life: float = 3.0
    #: Concept sign of a row with non-negative polarity is at least this (consumption is a mild
    #: positive signal); n_* are how many concepts each layer keeps.
    implicit_weight: float = 0.3
    n_concepts: int = 30
    n_sentiment_concepts: int = 10
    n_interest_concepts: int = 10
    #: Interest labels: up to label_concepts shared concepts scoring >= label_min_share of the best.
    label_concepts: int = 3
    label_min_share: float = 0.5
    n_exemplars: int = 3
    #: Exploration through the concept graph.
    explore_k: int = 10
    explore_seeds: int = 10
    explore_hops: Literal[1, 2] = 2
    second_hop_weight: float = 0.5
    #: Rating polarity, at fit and for live "rate"/"review" events alike (RatingLevels): a rating
    #: >= like_rating is a like and one <= dislike_rating a dislike whatever the user's mean; in
    #: between it is lukewarm unless it clearly beats both the user's mean and rating_midpoint.
    #: Strength: distance from the user's mean (rating_midpoint when the user has none) /
    #: rating_scale, clipped to [-1, 1]; a review's text polarity gets text_weight of the blend.
    #: The defaults suit five-star scales (ten-point: e.g. rating_scale 2, rating_midpoint 5.5,
    #: like_rating 8, dislike_rating 5).
    rating_scale: float = 1.0
    rating_midpoint: float = 3.0
    text_weight: float = 0.5
    like_rating: float = 4.0
    dislike_rating: float = 2.5

    def __post_init__(self) -> None:
        positive = (
            "distance_threshold", "half_life_days", "half_life_positions", "short_term_half_life", "rating_scale"
        )
        if not (math.isfinite(self.max_gap_days) and self.max_gap_days >= 0):
            raise ValueError(f"ProfileConfig.max_gap_days must be >= 0 and finite, got {self.max_gap_days}")
        for name in positive:
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"ProfileConfig.{name} must be positive and finite, got {value}")
        at_least_one = ("max_interests", "max_cluster_items", "short_term_n", "label_concepts")
        for name in at_least_one:
            if getattr(self, name) < 1:
                raise ValueError(f"ProfileConfig.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("max_likes", "n_concepts", "n_sentiment_concepts", "n_interest_concepts", "n_exemplars",
                     "explore_k", "explore_seeds"):
            if getattr(self, name) < 0:
                raise ValueError(f"ProfileConfig.{name} must be >= 0, got {getattr(self, name)}")
        for name in ("like_threshold", "dislike_threshold", "implicit_weight", "label_min_share", "text_weight",
                     "second_hop_weight"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"ProfileConfig.{name} must be in [0, 1], got {value}")
        if self.time_unit not in ("seconds", "positions"):
            raise ValueError(f"ProfileConfig.time_unit must be 'seconds' or 'positions', got {self.time_unit!r}")
        if self.explore_hops not in (1, 2):
            raise ValueError(f"ProfileConfig.explore_hops must be 1 or 2, got {self.explore_hops}")
        try:
            self.rating_levels  # noqa: B018 -- validates like_rating, dislike_rating, rating_midpoint
        except ValueError as err:
            raise ValueError(f"ProfileConfig: {err}") from None

    @property
    def rating_levels(self) -> RatingLevels:
        """The rating scale's levels (``like_rating``, ``dislike_rating``, ``rating_midpoint``)."""
        return RatingLevels(
            like_rating=self.like_rating, dislike_rating=self.dislike_rating, midpoint=self.rating_midpoint
        )

    def step_decay(self) -> float:
        """The most one later event can age an event by: ``r`` in the class doc."""
        per_event = 1.0 / self.half_life_positions
        if self.time_unit == "seconds":
            per_event += self.max_gap_days / self.half_life_days
        return float(2.0**-per_event)

    def weight_shift_bound(self, n_events: int) -> float:
        """The largest L1 change of the normalised interest weights that one new latest event can
        cause when the user's latest ``n_events`` events all sit in interests (class doc)."""
        if n_events < 0:
            raise ValueError(f"n_events must be >= 0, got {n_events}")
        r = self.step_decay()
        mass = float(n_events) if r == 1.0 else (1.0 - r**n_events) / (1.0 - r)
        return 2.0 / (1.0 + r * mass)


@dataclass(frozen=True, kw_only=True, eq=False)
class _ItemState:
    """Per distinct history item, ordered by its latest row: the item and its current polarity."""

    items: I64
    polarity: F64
    #: The rating of the row that set the current polarity (NaN: that row had none, or no row did).
    rating: F64
    #: Whether any row carries evidence (a rating or a non-zero polarity): lukewarm needs it.
    evidence: npt.NDArray[np.bool_]
    #: Row -> position in ``items``.
    row_item: I64


@dataclass(kw_only=True, eq=False)
class _Cluster:
    """A mutable interest while it is being built or updated."""

    members: list[int]
    medoid: int
    exemplars: tuple[int, ...]
    centroid: F64
    concepts: Pairs = ()
    label: str = ""


def _item_state(history: History) -> _ItemState:
    n = len(history)
    items = history.items.astype(np.int64)
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return _ItemState(
            items=empty, polarity=np.zeros(0), rating=np.zeros(0), evidence=np.zeros(0, dtype=bool), row_item=empty
        )
    uniq, ridx, inverse = np.unique(items[::-1], return_index=True, return_inverse=True)
    last_row = (n - 1 - ridx).astype(np.int64)
    pol = np.zeros(len(uniq), dtype=np.float64)
    rating = np.full(len(uniq), np.nan)
    evidence = np.zeros(len(uniq), dtype=bool)
    ratings = history.ratings.astype(np.float64)
    nz = np.flatnonzero((history.polarity != 0) | ~np.isnan(ratings))
    if len(nz):
        u2, r2 = np.unique(items[nz][::-1], return_index=True)
        at = np.searchsorted(uniq, u2)
        pol[at] = history.polarity[nz][::-1][r2]
        rating[at] = ratings[nz][::-1][r2]
        evidence[at] = True
    order = np.argsort(last_row, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    row_item = rank[inverse[::-1]]
    return _ItemState(
        items=uniq[order], polarity=pol[order], rating=rating[order], evidence=evidence[order], row_item=row_item
    )


def ward_labels(
    x: npt.NDArray[np.floating],
    *,
    distance_threshold: float,
    max_clusters: int,
    distances: npt.NDArray[np.float64] | None = None,
) -> I64:
    """Flat Ward clusters of the rows of ``x`` (labels ``0..k-1``, numbered by first member).

    The tree cut at ``distance_threshold``, or at ``max_clusters`` clusters when that gives
    more: the partition of scikit-learn's ``AgglomerativeClustering(linkage="ward",
    distance_threshold=...)`` (then ``n_clusters=max_clusters``), from one scipy linkage. The
    cut is read off the linkage directly: ``fcluster`` costs twice the linkage itself on the
    short histories that make up most users. ``distances``: ``pdist(x)`` when the caller has
    it (the linkage of ``x`` computes exactly that first).
    """
    n = len(x)
    if n <= 1:
        return np.zeros(n, dtype=np.int64)
    tree = linkage(x if distances is None else distances, method="ward")
    # Ward merge heights come out sorted (no inversions), so a cut applies a prefix of merges.
    merges = int(np.searchsorted(tree[:, 2], distance_threshold, side="right"))
    merges = max(merges, n - max_clusters)
    parent = np.arange(2 * n - 1, dtype=np.int64)
    joined = n + np.arange(merges, dtype=np.int64)
    parent[tree[:merges, 0].astype(np.int64)] = joined
    parent[tree[:merges, 1].astype(np.int64)] = joined
    while True:
        # Pointer jumping: every node reaches its root in O(log depth) passes.
        jumped = parent[parent]
        if np.array_equal(jumped, parent):
            break
        parent = jumped
    _, first, labels = np.unique(parent[:n], return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    out: I64 = rank[labels]
    return out


def _l2(x: F64) -> tuple[FloatArray, float]:
    norm = float(np.linalg.norm(x))
    vec = (x / norm if norm > 0 else np.zeros_like(x)).astype(np.float32)
    return vec, norm


class ProfileBuilder:
    """Builds and updates :class:`~interestlm.core.schema.InterestProfile` s over one item space.

    ``item_vectors`` (``n_items x d``, unit rows) and ``item_concepts`` share the item index;
    ``graph`` (optional) shares the concept index. ``short_term_vectors`` (default
    ``item_vectors``) are what the short-term layer averages: the recommender clusters interests
    in a behaviour-adapted space and keeps short-term intent in the text space. ``concept_idf``
    defaults to the smoothed idf of each concept over items. ``sentiment`` scores the text of
    review events (created on first need when not given).
    """

    def __init__(
        self,
        item_vectors: FloatArray,
        item_concepts: ItemConcepts,
        *,
        graph: ConceptGraph | None = None,
        concept_idf: npt.NDArray[np.floating] | None = None,
        config: ProfileConfig | None = None,
        sentiment: ReviewSentiment | None = None,
        short_term_vectors: FloatArray | None = None,
    ) -> None:
        vectors = np.asarray(item_vectors)
        if vectors.ndim != 2:
            raise ValueError(f"item_vectors must be 2-D (n_items x d), got shape {vectors.shape}")
        if vectors.shape[0] != item_concepts.n_items:
            raise ValueError(
                f"item_vectors has {vectors.shape[0]} rows but item_concepts has {item_concepts.n_items} items"
            )
        if graph is not None and list(graph.names[: item_concepts.n_concepts]) != list(item_concepts.names):
            # Graph nodes 0..n-1 must be the item concepts (knowledge-graph entities may follow).
            raise ValueError("graph.names must start with item_concepts.names, in the same order")
        self.item_vectors = vectors
        self.short_term_vectors = vectors if short_term_vectors is None else np.asarray(short_term_vectors)
        if self.short_term_vectors.ndim != 2 or self.short_term_vectors.shape[0] != vectors.shape[0]:
            raise ValueError(
                f"short_term_vectors must have {vectors.shape[0]} rows, got shape {self.short_term_vectors.shape}"
            )
        self.item_concepts = item_concepts
        self.graph = graph
        self.config = config if config is not None else ProfileConfig()
        self.sentiment = sentiment
        n_items, n_concepts = item_concepts.n_items, item_concepts.n_concepts
        matrix = sp.csr_matrix(item_concepts.matrix, dtype=np.float64)
        matrix.sum_duplicates()
        if concept_idf is None:
            df = np.bincount(matrix.indices[matrix.data > 0], minlength=n_concepts).astype(np.float64)
            idf = np.log((1.0 + n_items) / (1.0 + df)) + 1.0
        else:
            idf = np.asarray(concept_idf, dtype=np.float64)
            if idf.shape != (n_concepts,):
                raise ValueError(f"concept_idf has shape {idf.shape}, expected ({n_concepts},)")
        self.concept_idf = idf
        # Concept weight x idf, read through raw CSR arrays: scipy's fancy row indexing costs
        # tens of microseconds per call, which 22k users x several layers cannot afford.
        self._indptr = matrix.indptr.astype(np.int64)
        self._cindex = matrix.indices.astype(np.int64)
        self._cweight = matrix.data * idf[matrix.indices]
        self._names = np.asarray(item_concepts.names, dtype=object)
        self._graph_names = np.asarray(graph.names if graph is not None else item_concepts.names, dtype=object)
        # Pin / mute may name any graph node (knowledge-graph entities included).
        self._name_index = {name: c for c, name in enumerate(self._graph_names.tolist())}
        self._vocabulary = NameIndex(self._graph_names.tolist())
        if graph is not None:
            adjacency = sp.csr_matrix(graph.adjacency, dtype=np.float64)
            self._adj: tuple[I64, I64, F64] | None = (
                adjacency.indptr.astype(np.int64), adjacency.indices.astype(np.int64), adjacency.data
            )
        else:
            self._adj = None

    # ------------------------------------------------------------------ public

    @property
    def n_items(self) -> int:
        """Number of items."""
        return int(self.item_vectors.shape[0])

    def weight_shift_bound(self, profile: InterestProfile) -> float:
        """The most one new latest event can move ``profile``'s interest weights (L1): ``2 / (1 +
        r * M)``, ``M`` the decayed weight of its events in interests (see :class:`ProfileConfig`)."""
        history = profile.history
        members = np.fromiter((x for i in profile.interests for x in i.items), dtype=np.int64)
        mass = float(self._decay(history)[np.isin(history.items, members)].sum())
        return 2.0 / (1.0 + self.config.step_decay() * mass)

    def build(self, user_id: str, history: History) -> InterestProfile:
        """The full profile of one user from their history."""
        self._check_history(history)
        state = _item_state(history)
        clusters = self._cluster(state)
        return self._assemble(user_id, history, state, clusters, ProfileEdits())

    def build_many(
        self, user_ids: Sequence[str], histories: Sequence[History], *, progress: bool = False
    ) -> list[InterestProfile]:
        """Profiles for many users (``user_ids[j]`` owns ``histories[j]``)."""
        if len(user_ids) != len(histories):
            raise ValueError(f"{len(user_ids)} user ids but {len(histories)} histories")
        pairs: Iterable[tuple[str, History]] = zip(user_ids, histories, strict=True)
        if progress:
            from tqdm.auto import tqdm

            pairs = tqdm(pairs, total=len(user_ids), desc="profiles", unit="user")
        return [self.build(str(u), h) for u, h in pairs]

    def update(self, profile: InterestProfile, event: Event) -> InterestProfile:
        """``profile`` after one more event, without re-clustering (milliseconds).

        The event joins the history (in time order). A disliked item leaves its interest (an
        emptied interest disappears); an item the user did not dislike joins the interest whose
        centroid Ward would merge it into when that merge stays under ``distance_threshold``
        (or when ``max_interests`` is reached), else it opens a new interest. Weights, sentiment,
        short-term, concepts, explore and summary are recomputed from the history (vectorised).
        Edits are kept; interest weight overrides follow their interest when the order changes.
        """
        item = int(event.item)
        if not 0 <= item < self.n_items:
            raise ValueError(f"event item {item} is out of range [0, {self.n_items})")
        history = self._append(profile, event)
        state = _item_state(history)
        _, disliked = self._levels(state)
        clusters = [self._to_cluster(interest) for interest in profile.interests]
        owner = next((k for k, c in enumerate(clusters) if item in c.members), None)
        keep = list(range(len(clusters)))
        if disliked[np.flatnonzero(state.items == item)[0]]:
            if owner is not None:
                cluster = clusters[owner]
                cluster.members.remove(item)
                if cluster.members:
                    self._refresh(cluster, removed=item)
                else:
                    keep.remove(owner)
        elif owner is None:
            target = self._nearest(clusters, item)
            if target is None:
                clusters.append(self._singleton(item))
                keep.append(len(clusters) - 1)
            else:
                clusters[target].members.append(item)
                self._refresh(clusters[target], added=item)
        kept = [clusters[k] for k in keep]
        old_position = {k: j for j, k in enumerate(keep)}
        overrides = tuple(
            (old_position[p], w) for p, w in profile.edits.interest_weights if p in old_position
        )
        edits = replace(profile.edits, interest_weights=overrides)
        return self._assemble(profile.user_id, history, state, kept, edits)

    def edit(
        self,
        profile: InterestProfile,
        *,
        pin: Sequence[str] = (),
        mute: Sequence[str] = (),
        unpin: Sequence[str] = (),
        unmute: Sequence[str] = (),
        interest_weights: dict[int, float | None] | None = None,
    ) -> InterestProfile:
        """:func:`~interestlm.profiles.edits.edit_profile` against the full concept vocabulary,
        then ``explore`` and the summary recomputed (pinned concepts seed exploration)."""
        edited = edit_profile(
            profile, pin=pin, mute=mute, unpin=unpin, unmute=unmute, interest_weights=interest_weights,
            vocabulary=self._vocabulary,
        )
        full = self._concept_mass(edited.history)
        edited = replace(edited, explore=self._explore(full, edited.edits))
        return replace(edited, summary=template_summary(edited))

    # ------------------------------------------------------------------ checks and helpers

    def _check_history(self, history: History) -> None:
        n = len(history)
        for name in ("timestamps", "ratings", "polarity"):
            if len(getattr(history, name)) != n:
                raise ValueError(f"History.{name} has {len(getattr(history, name))} rows, expected {n}")
        if n and (history.items.min() < 0 or history.items.max() >= self.n_items):
            raise ValueError(f"History.items must be item indices in [0, {self.n_items})")
        if n > 1 and np.any(np.diff(history.timestamps) < 0):
            raise ValueError("History.timestamps must be in time order (non-decreasing)")

    def _event_polarity(self, profile: InterestProfile, event: Event) -> float:
        cfg = self.config
        if event.kind == "like":
            return 1.0
        if event.kind == "dislike":
            return -1.0
        mean = profile.mean_rating if profile.mean_rating is not None else cfg.rating_midpoint
        rating = (
            float(rating_polarity([event.value], user_mean=mean, scale=cfg.rating_scale, levels=cfg.rating_levels)[0])
            if event.value is not None and event.kind in ("rate", "review")
            else None
        )
        if event.kind == "review" and event.text:
            if self.sentiment is None:
                self.sentiment = ReviewSentiment()
            text = self.sentiment.score_one(event.text)
            return text if rating is None else (1 - cfg.text_weight) * rating + cfg.text_weight * text
        return 0.0 if rating is None else rating

    def _append(self, profile: InterestProfile, event: Event) -> History:
        h = profile.history
        at = int(np.searchsorted(h.timestamps, event.timestamp, side="right"))
        rating = (
            float(event.value) if event.value is not None and event.kind in ("rate", "review") else float("nan")
        )
        polarity = float(np.clip(self._event_polarity(profile, event), -1.0, 1.0))
        return History(
            items=np.insert(h.items, at, event.item).astype(np.int32),
            timestamps=np.insert(h.timestamps, at, event.timestamp).astype(np.int64),
            ratings=np.insert(h.ratings, at, rating).astype(np.float32),
            polarity=np.insert(h.polarity, at, polarity).astype(np.float32),
        )

    def _decay(self, history: History) -> F64:
        """Weight of each row on the user's own clock (:class:`ProfileConfig`): events after it,
        plus the gaps between those events, each capped at ``max_gap_days``."""
        n = len(history)
        if n == 0:
            return np.zeros(0)
        cfg = self.config
        age = (n - 1 - np.arange(n)).astype(np.float64) / cfg.half_life_positions
        if cfg.time_unit == "seconds" and n > 1:
            gaps = np.minimum(np.diff(history.timestamps.astype(np.float64)) / _SECONDS_PER_DAY, cfg.max_gap_days)
            # Capped time after each row: the sum of the (capped) gaps that follow it.
            after = np.concatenate([np.cumsum(gaps[::-1])[::-1], [0.0]])
            age += after / cfg.half_life_days
        decay: F64 = np.exp2(-age)
        return decay

    def _levels(self, state: _ItemState) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
        """Which items are liked and which disliked (the rest with evidence are lukewarm).

        An item whose current rating is at the top of the scale is never disliked, whatever
        polarity a caller gave its row.
        """
        cfg = self.config
        pol = state.polarity
        liked = (pol >= cfg.like_threshold) & (pol > 0)
        disliked = (pol <= -cfg.dislike_threshold) & (pol < 0) & ~self._top_rated(state)
        return liked, disliked

    def _top_rated(self, state: _ItemState) -> npt.NDArray[np.bool_]:
        """Items whose current rating is at the top of the scale (``like_rating`` or more)."""
        top: npt.NDArray[np.bool_] = np.nan_to_num(state.rating, nan=-np.inf) >= self.config.like_rating
        return top

    def _protected(self, state: _ItemState) -> I64:
        """Concepts no dislike may sign negative: those of liked items and of items whose current
        rating is at the top of the scale (sorted, unique)."""
        liked, _ = self._levels(state)
        _, concepts, _ = self._gather(state.items[liked | self._top_rated(state)])
        out: I64 = np.unique(concepts)
        return out

    def _gather(self, items: npt.NDArray[np.integer]) -> tuple[I64, I64, F64]:
        """(entry's row in ``items``, concept, weight x idf) for every concept of every item."""
        items = np.asarray(items, dtype=np.int64)
        starts = self._indptr[items]
        lengths = self._indptr[items + 1] - starts
        total = int(lengths.sum())
        if total == 0:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, np.zeros(0)
        rows = np.repeat(np.arange(len(items), dtype=np.int64), lengths)
        offsets = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(lengths) - lengths - starts, lengths)
        return rows, self._cindex[offsets], self._cweight[offsets]

    def _sums(
        self, items: npt.NDArray[np.integer], row_weights: F64, *, keep_positive: I64 | None = None
    ) -> tuple[I64, F64]:
        """Concepts of ``items`` summed with a weight per item: (concept indices, sums), non-zero only.

        ``keep_positive`` (sorted concept indices): these concepts take no negative contribution.
        """
        if len(items) == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        rows, concepts, weights = self._gather(items)
        values = weights * row_weights[rows]
        if keep_positive is not None and len(keep_positive):
            values = np.where((values < 0) & np.isin(concepts, keep_positive), 0.0, values)
        n_concepts = len(self._names)
        if 16 * len(concepts) >= n_concepts:
            # Many entries: a dense sum over all concepts beats sorting them.
            dense = np.bincount(concepts, weights=values, minlength=n_concepts)
            nonzero = np.flatnonzero(dense)
            return nonzero.astype(np.int64), dense[nonzero].astype(np.float64)
        uniq, inverse = np.unique(concepts, return_inverse=True)
        sums = np.bincount(inverse, weights=values, minlength=len(uniq))
        nz = sums != 0
        return uniq[nz], sums[nz]

    def _top(
        self,
        concepts: I64,
        sums: F64,
        k: int,
        *,
        by_abs: bool = True,
        normalise: bool = True,
        names: npt.NDArray[np.object_] | None = None,
    ) -> Pairs:
        if len(concepts) == 0 or k == 0:
            return ()
        names = self._names if names is None else names
        key = np.abs(sums) if by_abs else sums
        if len(key) > 4 * k:
            # Only the k heaviest (and ties with the k-th) need the full, deterministic sort.
            kth = np.partition(-key, k - 1)[k - 1]
            pool = np.flatnonzero(-key <= kth)
            concepts, sums, key = concepts[pool], sums[pool], key[pool]
        order = np.lexsort((concepts, -key))[:k]
        scale = float(np.abs(sums).max()) if normalise else 1.0
        return tuple((str(names[c]), float(s / scale)) for c, s in zip(concepts[order], sums[order], strict=True))

    # ------------------------------------------------------------------ interests

    def _cluster(self, state: _ItemState) -> list[_Cluster]:
        """Ward clusters of the recent not-disliked items; older ones join their nearest medoid."""
        cfg = self.config
        eligible = state.items[~self._levels(state)[1]]
        if len(eligible) == 0:
            return []
        recent, older = eligible[-cfg.max_cluster_items :], eligible[: -cfg.max_cluster_items]
        x = self.item_vectors[recent].astype(np.float64)
        # One set of pairwise distances for the Ward tree and the medoids (cdist(x, x) was a second).
        condensed = pdist(x)
        labels = ward_labels(
            x, distance_threshold=cfg.distance_threshold, max_clusters=cfg.max_interests, distances=condensed
        )
        k = int(labels.max()) + 1
        # All clusters at once: summed distance of every item to its own cluster's members.
        dist = squareform(condensed)
        onehot = np.zeros((len(recent), k))
        onehot[np.arange(len(recent)), labels] = 1.0
        own_cost = (dist @ onehot)[np.arange(len(recent)), labels]
        by_cost = np.lexsort((np.arange(len(recent)), own_cost, labels))
        first = np.searchsorted(labels[by_cost], np.arange(k))
        medoid_row = by_cost[first]
        to_medoid = dist[medoid_row[labels], np.arange(len(recent))]
        by_near = np.lexsort((np.arange(len(recent)), to_medoid, labels))
        starts = np.searchsorted(labels[by_near], np.arange(k + 1))
        centroids = (onehot.T @ x) / onehot.sum(axis=0)[:, None]
        members: list[list[int]] = [[] for _ in range(k)]
        for row, label in zip(recent.tolist(), labels.tolist(), strict=True):
            members[label].append(row)
        if len(older):
            xo = self.item_vectors[older].astype(np.float64)
            nearest = np.argmin(cdist(xo, x[medoid_row]), axis=1)
            for j in range(k):
                extra = older[nearest == j]
                if len(extra):
                    members[j] = extra.tolist() + members[j]
                    centroids[j] = self.item_vectors[members[j]].astype(np.float64).mean(axis=0)
        clusters = []
        for j in range(k):
            near = by_near[starts[j] : starts[j + 1]]
            near = near[near != medoid_row[j]][: cfg.n_exemplars]
            clusters.append(
                _Cluster(
                    members=members[j],
                    medoid=int(recent[medoid_row[j]]),
                    exemplars=tuple(int(i) for i in recent[near]),
                    centroid=centroids[j],
                )
            )
        self._label(clusters)
        return clusters

    def _label(self, clusters: Sequence[_Cluster]) -> None:
        """Concepts (summed weight x idf over members) and a label of the heaviest shared ones.

        A label concept must be shared: by at least 2 members (and a fifth of them) once the
        cluster has 3 or more, so one item's rare keyphrase cannot name a whole cluster. All
        clusters are done in one pass (keys ``cluster * n_concepts + concept``).
        """
        cfg = self.config
        if not clusters:
            return
        sizes = np.array([len(c.members) for c in clusters], dtype=np.int64)
        items = np.concatenate([np.asarray(c.members, dtype=np.int64) for c in clusters])
        owner = np.repeat(np.arange(len(clusters), dtype=np.int64), sizes)
        rows, concepts, weights = self._gather(items)
        n_concepts = max(len(self._names), 1)
        keys, inverse = np.unique(owner[rows] * n_concepts + concepts, return_inverse=True)
        sums = np.bincount(inverse, weights=weights, minlength=len(keys))
        support = np.bincount(inverse, minlength=len(keys))
        cluster_of, concept_of = keys // n_concepts, keys % n_concepts
        order = np.lexsort((concept_of, -sums, cluster_of))
        bounds = np.searchsorted(cluster_of[order], np.arange(len(clusters) + 1))
        need = np.where(sizes < 3, 1, np.maximum(2, -(-sizes // 5)))
        names = self._names
        for j, cluster in enumerate(clusters):
            sel = order[bounds[j] : bounds[j + 1]]
            if len(sel) == 0 or sums[sel[0]] <= 0:
                cluster.concepts, cluster.label = (), ""
                continue
            top = float(sums[sel[0]])
            head = sel[: cfg.n_interest_concepts]
            cluster.concepts = tuple(
                (str(names[c]), float(v / top)) for c, v in zip(concept_of[head], sums[head], strict=True)
            )
            shared = sel[(support[sel] >= need[j]) & (sums[sel] > 0)][: cfg.label_concepts]
            if len(shared) == 0:
                cluster.label = ""
                continue
            best = float(sums[shared[0]])
            cluster.label = " & ".join(
                str(names[c]) for c, v in zip(concept_of[shared], sums[shared], strict=True)
                if v >= cfg.label_min_share * best
            )

    def _to_cluster(self, interest: Interest) -> _Cluster:
        return _Cluster(
            members=list(interest.items),
            medoid=interest.medoid,
            exemplars=interest.exemplars,
            centroid=interest.cohesion * interest.vector.astype(np.float64),
            concepts=interest.concepts,
            label=interest.label,
        )

    def _singleton(self, item: int) -> _Cluster:
        cluster = _Cluster(
            members=[item], medoid=item, exemplars=(), centroid=self.item_vectors[item].astype(np.float64)
        )
        self._label([cluster])
        return cluster

    def _nearest(self, clusters: list[_Cluster], item: int) -> int | None:
        """The cluster Ward would merge ``item`` into, or None to open a new one."""
        if not clusters:
            return None
        x = self.item_vectors[item].astype(np.float64)
        sizes = np.array([len(c.members) for c in clusters], dtype=np.float64)
        centroids = np.stack([c.centroid for c in clusters])
        # Ward's merge height for a singleton joining a cluster of size n with centroid c.
        height = np.sqrt(2.0 * sizes / (sizes + 1.0)) * np.linalg.norm(centroids - x, axis=1)
        best = int(np.argmin(height))
        if height[best] <= self.config.distance_threshold or len(clusters) >= self.config.max_interests:
            return best
        return None

    def _refresh(self, cluster: _Cluster, *, added: int | None = None, removed: int | None = None) -> None:
        """Centroid, medoid, exemplars and concepts of a cluster after one member came or went.

        The medoid is re-chosen among a few candidates (old medoid, exemplars, the new item, or
        the members nearest the centroid when the medoid left) by summed distance to the most
        recent ``max_cluster_items`` members: linear in the cluster size, not quadratic.
        """
        cfg = self.config
        members = np.asarray(cluster.members, dtype=np.int64)
        n = len(members)
        if added is not None:
            x = self.item_vectors[added].astype(np.float64)
            cluster.centroid = cluster.centroid + (x - cluster.centroid) / n
        else:
            cluster.centroid = self.item_vectors[members].astype(np.float64).mean(axis=0)
        window = members[-cfg.max_cluster_items :]
        xw = self.item_vectors[window].astype(np.float64)
        candidates = {cluster.medoid, *cluster.exemplars}
        if added is not None:
            candidates.add(added)
        if removed is not None:
            candidates.discard(removed)
            if removed == cluster.medoid:
                near = np.argsort(np.linalg.norm(xw - cluster.centroid, axis=1), kind="stable")[:8]
                candidates.update(int(window[j]) for j in near)
        cand = np.array(sorted(candidates), dtype=np.int64)
        cost = cdist(self.item_vectors[cand].astype(np.float64), xw).sum(axis=1)
        medoid = int(cand[int(np.argmin(cost))])
        d = np.linalg.norm(xw - self.item_vectors[medoid].astype(np.float64), axis=1)
        near_medoid = [int(window[j]) for j in np.argsort(d, kind="stable") if int(window[j]) != medoid]
        cluster.medoid = medoid
        cluster.exemplars = tuple(near_medoid[: cfg.n_exemplars])
        self._label([cluster])

    # ------------------------------------------------------------------ other layers

    def _concept_mass(
        self, history: History, decay: F64 | None = None, state: _ItemState | None = None
    ) -> tuple[I64, F64]:
        """Signed, time-decayed concept sums over the history (not normalised).

        A row pushes its concepts down only when its item is disliked now, and never a concept
        that a liked or top-rated item carries (:meth:`_protected`): such a concept is not
        disliked, so it must not read negative here either.
        """
        state = _item_state(history) if state is None else state
        _, disliked = self._levels(state)
        pol = history.polarity.astype(np.float64)
        row_disliked = disliked[state.row_item] if len(history) else np.zeros(0, dtype=bool)
        signed = np.where(row_disliked, np.minimum(pol, 0.0), np.maximum(pol, self.config.implicit_weight))
        weights = (self._decay(history) if decay is None else decay) * signed
        return self._sums(history.items, weights, keep_positive=self._protected(state))

    def _explore(self, mass: tuple[I64, F64], edits: ProfileEdits) -> Pairs:
        """Concepts one or two hops from the user's strongest positive concepts (and pinned ones).

        Score of a reached concept: sum over paths of (seed weight x edge weight), the second hop
        scaled by ``second_hop_weight``; the user's own concepts, seeds and muted ones are left out.
        """
        cfg = self.config
        if self._adj is None or cfg.explore_k == 0:
            return ()
        indptr, indices, data = self._adj
        n_nodes = len(indptr) - 1
        concepts, sums = mass
        scale = float(np.abs(sums).max()) if len(sums) else 1.0
        muted = np.array(sorted(self._name_index[n] for n in edits.muted if n in self._name_index), dtype=np.int64)
        candidates = np.flatnonzero((sums > 0) & ~np.isin(concepts, muted))
        best = candidates[np.lexsort((concepts[candidates], -sums[candidates]))[: cfg.explore_seeds]]
        seeds = {int(c): float(w / scale) for c, w in zip(concepts[best], sums[best], strict=True)}
        for name in edits.pinned:
            c = self._name_index.get(name)
            if c is not None:
                seeds[c] = max(seeds.get(c, 0.0), 1.0)
        if not seeds:
            return ()

        def hop(nodes: I64, weights: F64) -> F64:
            # Dense accumulation over all nodes: cheaper than sorting the reached set.
            starts = indptr[nodes]
            lengths = indptr[nodes + 1] - starts
            total = int(lengths.sum())
            if total == 0:
                return np.zeros(n_nodes)
            offsets = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(lengths) - lengths - starts, lengths)
            out: F64 = np.bincount(
                indices[offsets], weights=np.repeat(weights, lengths) * data[offsets], minlength=n_nodes
            ).astype(np.float64)
            return out

        seed_nodes = np.fromiter(seeds, dtype=np.int64, count=len(seeds))
        score = hop(seed_nodes, np.fromiter(seeds.values(), dtype=np.float64, count=len(seeds)))
        if cfg.explore_hops == 2:
            # Expanding only the strongest first-hop nodes keeps this bounded on dense graphs.
            reached = np.flatnonzero(score > 0)
            strongest = reached[np.argsort(-score[reached], kind="stable")[:_SECOND_HOP_NODES]]
            score = score + cfg.second_hop_weight * hop(strongest, score[strongest])
        score[concepts] = 0.0
        score[seed_nodes] = 0.0
        score[muted] = 0.0
        keep = np.flatnonzero(score > 0)
        return self._top(
            keep.astype(np.int64), score[keep], cfg.explore_k, by_abs=False, normalise=False, names=self._graph_names
        )

    def _assemble(
        self,
        user_id: str,
        history: History,
        state: _ItemState,
        clusters: list[_Cluster],
        edits: ProfileEdits,
    ) -> InterestProfile:
        cfg = self.config
        decay = self._decay(history)
        # Weights: time-decayed mass of every history row whose item sits in the interest.
        interests = []
        order: list[int] = []
        if clusters:
            members = np.concatenate([np.asarray(c.members, dtype=np.int64) for c in clusters])
            owner = np.repeat(np.arange(len(clusters)), [len(c.members) for c in clusters])
            by_item = np.argsort(members, kind="stable")
            pos = np.minimum(np.searchsorted(members[by_item], history.items), len(members) - 1)
            row_cluster = np.where(members[by_item][pos] == history.items, owner[by_item][pos], -1)
            assigned = row_cluster >= 0
            mass = np.bincount(row_cluster[assigned], weights=decay[assigned], minlength=len(clusters))
            total = float(mass.sum())
            shares = mass / total if total > 0 else np.full(len(clusters), 1.0 / len(clusters))
            order = sorted(range(len(clusters)), key=lambda k: (-shares[k], clusters[k].members[0]))
            centroids = np.stack([c.centroid for c in clusters])
            norms = np.linalg.norm(centroids, axis=1)
            unit = np.divide(centroids, norms[:, None], out=np.zeros_like(centroids), where=norms[:, None] > 0)
            unit32 = unit.astype(np.float32)
            for k in order:
                c = clusters[k]
                interests.append(
                    Interest(
                        label=c.label,
                        weight=float(shares[k]),
                        vector=unit32[k],
                        medoid=c.medoid,
                        items=tuple(c.members),
                        exemplars=c.exemplars,
                        concepts=c.concepts,
                        cohesion=float(norms[k]),
                    )
                )
        new_position = {k: j for j, k in enumerate(order)}
        edits = replace(
            edits,
            interest_weights=tuple(
                sorted((new_position[p], w) for p, w in edits.interest_weights if p in new_position)
            ),
        )

        # Sentiment: items by level (liked, lukewarm, disliked), most recent first.
        liked_mask, disliked_mask = self._levels(state)
        lukewarm_mask = state.evidence & ~liked_mask & ~disliked_mask
        recent_first = np.arange(len(state.items))[::-1]
        like_at = recent_first[liked_mask[recent_first]][: cfg.max_likes]
        dislike_at = recent_first[disliked_mask[recent_first]][: cfg.max_likes]
        lukewarm_at = recent_first[lukewarm_mask[recent_first]][: cfg.max_likes]
        liked, disliked = state.items[like_at], state.items[dislike_at]
        liked_concepts = self._top(
            *self._sums(liked, state.polarity[like_at]), cfg.n_sentiment_concepts, by_abs=False
        )
        mass_c = self._concept_mass(history, decay, state)
        # Disliked concepts: those of the listed dislikes that are net negative in the decayed
        # concept mass, so never one a liked or top-rated item carries, nor one the user keeps
        # choosing without disliking it ("dislikes drama" is false of someone who watches dramas
        # all the time and hated two).
        bad_c, bad = self._sums(disliked, state.polarity[dislike_at])
        keep = np.isin(bad_c, mass_c[0][mass_c[1] < 0])
        disliked_concepts = self._top(bad_c[keep], bad[keep], cfg.n_sentiment_concepts)

        # Short-term: the last actions on items the user does not dislike.
        row_ok = ~disliked_mask[state.row_item] if len(history) else np.zeros(0, dtype=bool)
        rows = np.flatnonzero(row_ok)[-cfg.short_term_n :][::-1]
        dim = self.short_term_vectors.shape[1]
        if len(rows):
            w = np.exp2(-np.arange(len(rows)) / cfg.short_term_half_life)
            short, _ = _l2(w @ self.short_term_vectors[history.items[rows]].astype(np.float64))
            short_items = tuple(dict.fromkeys(int(i) for i in history.items[rows]))
        else:
            short, short_items = np.zeros(dim, dtype=np.float32), ()

        concepts = self._top(*mass_c, cfg.n_concepts, by_abs=True)
        explore = self._explore(mass_c, edits)
        known = ~np.isnan(history.ratings)
        mean_rating = float(history.ratings[known].astype(np.float64).mean()) if known.any() else None
        profile = InterestProfile(
            user_id=user_id,
            history=history,
            interests=tuple(interests),
            likes=tuple(int(i) for i in liked),
            dislikes=tuple(int(i) for i in disliked),
            lukewarm=tuple(int(i) for i in state.items[lukewarm_at]),
            liked_concepts=liked_concepts,
            disliked_concepts=disliked_concepts,
            short_term=short,
            short_term_items=short_items,
            concepts=concepts,
            explore=explore,
            summary="",
            edits=edits,
            mean_rating=mean_rating,
        )
        return replace(profile, summary=template_summary(profile))
