"""The front door: the stages joined, top to bottom in the order the data flows.

items -> text -> vectors & concepts -> concept graph -> profiles -> signals -> learned fusion
-> ranking (filters, edits, diversity) -> explanations.

:class:`Recommender` follows the evaluation :class:`~interestlm.evaluate.protocol.Model`
protocol too (``fit(train, valid=)`` and ``score(users, histories)``), so the same object is
benchmarked beside the baselines under the name ``interest``.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self, cast

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from interestlm import artifacts
from interestlm.concepts import ConceptConfig, GraphConfig, build_concept_graph, extract_concepts, normalise_name
from interestlm.concepts.lm import enrich_thin_items
from interestlm.config import config_to_dict, dumps_toml, recommender_config
from interestlm.data.tables import Catalog, Dataset, FloatArray, IntArray, Interactions
from interestlm.encode import Encoder, make_encoder
from interestlm.evaluate.protocol import EvalTask, TrainData
from interestlm.explain import Explanation, explain_many, grounding_rate
from interestlm.learn.config import SeqRecConfig
from interestlm.lm import Generator, make_lm
from interestlm.profiles import (
    ProfileBuilder,
    ProfileConfig,
    ReviewSentiment,
    histories_from_interactions,
    history_from_items,
    profile_to_json,
)
from interestlm.profiles.space import ItemSpace, SpaceConfig
from interestlm.rank import Fusion, FusionLearner, SignalContext, compute_signals, edit_mask, mmr
from interestlm.rank.fusion import Imputer
from interestlm.rank.signals import SIGNALS, Collaborative, SequenceScorer
from interestlm.retrieve import FaissIndex
from interestlm.schema import SEED_ITEMS, ConceptGraph, Event, History, InterestProfile, ItemConcepts, UnknownIdError
from interestlm.text import item_texts, review_snippets

if TYPE_CHECKING:
    from interestlm.learn.seqrec import SeqRec

#: How far a pinned concept lifts its items, in standard deviations of the user's fused scores.
PIN_SPREAD = 2.0
#: Where a saved recommender keeps its sequence model, and how many expected next items a profile shows.
SEQREC_DIR = "seqrec"
SEQUENTIAL_INTENT_ITEMS = 5


@dataclass(frozen=True, kw_only=True)
class RecommenderConfig:
    """Every stage's settings; ``config.toml`` of a saved recommender holds exactly this."""

    encoder: str = "minilm"
    encoder_threads: int | None = None
    cache_dir: str | None = None
    reviews_in_text: bool = True
    sentiment_from_reviews: bool = True
    concepts: ConceptConfig = field(default_factory=ConceptConfig)
    graph: GraphConfig = field(default_factory=GraphConfig)
    profiles: ProfileConfig = field(default_factory=ProfileConfig)
    #: The item space profiles are built in and content signals scored in (profiles/space.py), and
    #: the interest signal's recency half-life (actions) and soft-max temperature (rank/signals.py).
    space: SpaceConfig = field(default_factory=SpaceConfig)
    interest_half_life: float = 3.0
    interest_temperature: float = 0.1
    collaborative: str = "auto"
    #: Train the text- and concept-aware sequence model (``seqrec``) on the same item vectors and
    #: concepts, and use it as the ``sequential`` signal and the profile's learned short-term
    #: layer. Off by default: it trains a transformer (minutes on a CPU for a MovieLens-sized log).
    #: Its ``encoder``, ``cache_dir``, ``keyphrases``, ``category_kind`` and ``reviews_in_text``
    #: settings are unused here: the recommender's own text vectors and concepts are its content.
    sequential: bool = False
    seqrec: SeqRecConfig = field(default_factory=SeqRecConfig)
    signals: tuple[str, ...] = SIGNALS
    fusion_l2: float = 1e-3
    fusion_users: int = 3000
    fusion_candidates: int = 200
    diversity: float = 0.0
    batch_size: int = 256
    seed: int = 0
    progress: bool = False


@dataclass(frozen=True, kw_only=True)
class Recommendation:
    """One recommended item for a user, with its fused score and (optionally) why."""

    item: int
    item_id: str
    score: float
    explanation: Explanation | None = None


class Recommender:
    """Readable interest profiles -> ranked, explained recommendations (see the module doc)."""

    context_: SignalContext
    sequential_: SeqRec | None = None

    def __init__(self, config: RecommenderConfig | None = None, **overrides: Any) -> None:
        base = config or RecommenderConfig()
        self.config = replace(base, **overrides) if overrides else base
        # Lookup caches, rebuilt when the catalog grows (add_items).
        self._item_index_cache: dict[str, int] | None = None
        self._faiss: FaissIndex | None = None

    # ------------------------------------------------------------------ fitting
    def fit(
        self, data: Dataset | TrainData, *, valid: EvalTask | None = None, generator: Generator | None = None
    ) -> Self:
        """Learn everything from training rows; fusion weights from ``valid`` (or a held-out last item).

        ``generator`` writes the concepts of thin items when ``config.concepts.lm_thin_items`` is on
        (default then: the local model when installed, else none is added); see :meth:`_lm_concepts`.
        """
        self._setup(data.catalog, data.interactions, generator=generator)
        if self.config.sequential:
            self._fit_sequential(valid)
        self.fusion_ = self._learn_fusion(valid)
        return self

    def _fit_sequential(self, valid: EvalTask | None) -> None:
        """Train the sequence model on the recommender's content; it becomes the ``sequential`` signal.

        Early stopping reads ``valid``; without one, the model trains on each user's history
        without its last item and stops on those last items, and keeps that training (the
        fusion weights are learned on the same held-out items, so the signal must not have seen
        them).
        """
        from interestlm.learn.seqrec import ItemContent, SeqRec, SeqRecScorer, concept_bags

        cfg = self.config.seqrec
        content = ItemContent(
            text_vectors=self.item_vectors_ if cfg.text else None,
            concepts=concept_bags(self.item_concepts_.matrix) if cfg.concepts else None,
            n_concepts=self.item_concepts_.n_concepts,
        )
        model = SeqRec(cfg, content=content)
        train, task = self.train_, valid
        if task is None or not len(task):
            train, task = self._held_out_task()
        model.fit(TrainData(interactions=train, catalog=self.catalog_), valid=task)
        self.sequential_ = model
        self.context_ = replace(self.context_, sequential=SeqRecScorer(model))

    def _held_out_task(self) -> tuple[Interactions, EvalTask]:
        """Training rows without each user's last item (users with >= 2), and those items as a task."""
        order = self.train_.time_order()
        user = self.train_.user[order]
        counts = np.bincount(user, minlength=len(self.user_ids_))
        # Stable time order: a user's last row in that order is their held-out item.
        last = np.zeros(len(order), dtype=bool)
        ends = np.flatnonzero(np.r_[user[1:] != user[:-1], True])
        last[ends] = counts[user[ends]] >= 2
        keep = np.ones(len(order), dtype=bool)
        keep[order[last]] = False
        users, prefixes, targets = self._held_out_last()
        task = EvalTask(
            name="held-out last item",
            users=users,
            histories=[p.items.astype(np.int32) for p in prefixes],
            targets=[t.astype(np.int32) for t in targets],
            exclude=_seen_matrix(prefixes, len(self.catalog_)),
            # Asked for when the held-out item was chosen, as an evaluation split asks.
            times=np.asarray([self.histories_[u].timestamps[-1] for u in users], dtype=np.float64),
        )
        return self.train_.select(keep), task

    def _held_out_last(self) -> tuple[IntArray, list[History], list[IntArray]]:
        """Users with >= 2 training items, their histories without the last item, and that item."""
        users = np.asarray([u for u, h in enumerate(self.histories_) if len(h) >= 2], dtype=np.int32)
        prefixes = [_prefix(self.histories_[u], len(self.histories_[u]) - 1) for u in users]
        return users, prefixes, [self.histories_[u].items[-1:] for u in users]

    def _setup(
        self,
        catalog: Catalog,
        train: Interactions,
        *,
        item_texts: list[str] | None = None,
        item_vectors: FloatArray | None = None,
        item_concepts: ItemConcepts | None = None,
        graph: ConceptGraph | None = None,
        space: ItemSpace | None = None,
        generator: Generator | None = None,
    ) -> None:
        """Every stage up to the signals, computing what was not given (``load`` gives most)."""
        cfg = self.config
        self.catalog_ = catalog
        self.train_ = train
        self.user_ids_ = train.user_ids
        self.user_index_ = {u: i for i, u in enumerate(train.user_ids.tolist())}
        self.encoder_: Encoder = make_encoder(
            cfg.encoder, cache_dir=Path(cfg.cache_dir) if cfg.cache_dir else None, threads=cfg.encoder_threads
        )
        if item_texts is None:
            # Item text uses training reviews only, so nothing from the held-out period leaks in.
            reviews = review_snippets(train, len(catalog)) if cfg.reviews_in_text else None
            item_texts = _texts(catalog, reviews)
        self.item_texts_ = item_texts
        self.item_vectors_ = (
            item_vectors if item_vectors is not None else self.encoder_.encode(item_texts, progress=cfg.progress)
        )
        self.lm_concepts_: dict[str, Any] | None = None
        if item_concepts is None:
            item_concepts = extract_concepts(catalog, texts=item_texts, encoder=self.encoder_, config=cfg.concepts)
            if cfg.concepts.lm_thin_items:
                item_concepts = self._lm_concepts(item_concepts, generator)
        self.item_concepts_ = item_concepts
        sequences = train.sequences()
        self.graph_ = graph or build_concept_graph(
            self.item_concepts_, sequences=sequences, catalog=catalog, config=cfg.graph
        )
        self.sentiment_ = ReviewSentiment() if cfg.sentiment_from_reviews and _has_reviews(train) else None
        # --- item space (profiles/space.py) -------------------------------------------------
        # Interests are clustered and scored in an item space where similarity predicts
        # behaviour; item_vectors_ stay the text vectors (short-term intent, dislikes, sequence
        # model, FAISS, text queries).
        self.space_ = space if space is not None else ItemSpace(cfg.space).fit(self.item_vectors_, sequences)
        self.builder_ = self._builder(self.space_)
        # --------------------------------------------------------------------------------------
        self.histories_: list[History] = histories_from_interactions(
            train, sentiment=self.sentiment_, rating_scale=cfg.profiles.rating_scale
        )
        self.context_ = self._context(sequences)
        self.profiles_: dict[int, InterestProfile] = {}
        self.sequential_ = None

    def _lm_concepts(self, item_concepts: ItemConcepts, generator: Generator | None) -> ItemConcepts:
        """Thin items' concepts chosen by a language model before the graph and profiles are built;
        what happened (items enriched, replies rejected) is kept in ``lm_concepts_`` and saved in
        the artifacts' manifest."""
        cfg = self.config.concepts
        gen = generator if generator is not None else Generator(make_lm("auto"))
        enriched, self.lm_concepts_ = enrich_thin_items(
            item_concepts,
            gen,
            item_vectors=self.item_vectors_,
            texts=self.item_texts_,
            item_ids=[str(i) for i in self.catalog_.item_ids.tolist()],
            min_concepts=cfg.lm_min_concepts,
            max_concepts=cfg.lm_max_concepts,
            max_items=cfg.lm_max_items,
            weight=cfg.lm_weight,
        )
        return enriched

    def _builder(self, space: ItemSpace) -> ProfileBuilder:
        """The profile builder: interests in ``space``, the short-term vector over the text vectors."""
        return ProfileBuilder(
            space.vectors_,
            self.item_concepts_,
            graph=self.graph_,
            config=self.config.profiles,
            short_term_vectors=self.item_vectors_,
        )

    def _context(
        self,
        sequences: Sequence[npt.NDArray[np.integer]],
        *,
        sequential: SequenceScorer | None = None,
        space: ItemSpace | None = None,
    ) -> SignalContext:
        """The signal context (collaborative model, transitions, popularity) fitted on ``sequences``.

        ``sequential`` is an already trained sequence model (see :meth:`_fit_sequential`);
        ``space`` the item space of the interest signal (default: ``space_``).
        """
        return SignalContext.build(
            self.item_vectors_,
            self.item_concepts_,
            space_vectors=(space or self.space_).vectors_,
            graph=self.graph_,
            train_sequences=sequences,
            n_items=len(self.catalog_),
            collaborative=_collaborative(self.config.collaborative),
            sequential=sequential,
            interest_half_life=self.config.interest_half_life,
            interest_temperature=self.config.interest_temperature,
        )

    def _learn_fusion(self, valid: EvalTask | None) -> Fusion:
        """Weights of the named signals, maximising the likelihood of held-out next items."""
        cfg = self.config
        rng = np.random.default_rng(cfg.seed)
        context, builder = self.context_, self.builder_
        if valid is not None and len(valid):
            users, targets = valid.users, valid.targets
            histories = [self.histories_[int(u)] for u in users]
            exclude = valid.exclude
        else:
            # No validation task: hold out each user's last training item (users with >= 2 items).
            users, histories, targets = self._held_out_last()
            exclude = None
            # The interaction signals must not have seen the held-out items: fitted on all rows,
            # EASE scored each user's own last item from that very row, and the learned weights
            # favoured the collaborative signal (+0.67) and punished popularity (-0.70).
            held_out = [h.items for h in self._held_out_histories()]
            # The item space too: its coordinates come from co-consumption, held-out items included.
            space = ItemSpace(cfg.space).fit(self.item_vectors_, held_out)
            builder = self._builder(space)
            context = self._context(held_out, sequential=self.context_.sequential, space=space)
        if len(users) > cfg.fusion_users:
            rows = np.sort(rng.choice(len(users), cfg.fusion_users, replace=False))
            users = users[rows]
            targets = [targets[r] for r in rows]
            histories = [histories[r] for r in rows]
            exclude = exclude[rows] if exclude is not None else None
        if exclude is None:
            exclude = _seen_matrix(histories, len(self.catalog_))
        profiles = builder.build_many([str(self.user_ids_[u]) for u in users], histories)
        signals = self._raw_signals(profiles, context)
        cold = _cold_items(context)
        self.imputer_ = Imputer.fit(signals, ~cold, seed=cfg.seed)
        signals = self.imputer_.apply(signals, cold)
        learner = FusionLearner(l2=cfg.fusion_l2, n_candidates=cfg.fusion_candidates, seed=cfg.seed)
        return learner.fit(signals, list(targets), exclude)

    def _held_out_histories(self) -> list[History]:
        """Each user's training history without its last item (users with one item keep it)."""
        return [_prefix(h, len(h) - 1) if len(h) >= 2 else h for h in self.histories_]

    def _raw_signals(self, profiles: Sequence[InterestProfile], context: SignalContext) -> dict[str, FloatArray]:
        """The configured signals from ``context``, before cold items are imputed."""
        computed = compute_signals(profiles, context)
        return {name: computed[name] for name in self.config.signals if name in computed}

    def _signals(self, profiles: Sequence[InterestProfile]) -> dict[str, FloatArray]:
        signals = self._raw_signals(profiles, self.context_)
        return self.imputer_.apply(signals, _cold_items(self.context_))

    # ------------------------------------------------------------------ profiles
    def profile(self, user_id: str) -> InterestProfile:
        """The layered profile of a known user (built on first use, then kept and updated)."""
        u = self._user(user_id)
        if u not in self.profiles_:
            self.profiles_[u] = self.builder_.build(user_id, self.histories_[u])
        return self.profiles_[u]

    def profile_json(self, user_id: str) -> dict[str, Any]:
        """The profile as readable JSON (ids and titles, not indices); see :meth:`readable_profile`."""
        return self.readable_profile(self.profile(user_id))

    def readable_profile(self, profile: InterestProfile) -> dict[str, Any]:
        """Any profile as readable JSON (ids and titles, not indices).

        With a sequence model, ``sequential_intent.next_items`` reads its short-term layer: the
        unseen items it expects next from the latest history.
        """
        out = profile_to_json(profile, item_ids=self.catalog_.item_ids, titles=self.catalog_.titles)
        scorer = self.context_.sequential
        if scorer is not None:
            scores = scorer.score([profile.history.items])[0]
            scores[profile.history.items] = -np.inf
            top = np.argsort(-scores, kind="stable")[:SEQUENTIAL_INTENT_ITEMS]
            ids, titles = self.catalog_.item_ids, self.catalog_.titles
            out["sequential_intent"] = {
                "model": "seqrec",
                "next_items": [{"item_id": str(ids[i]), "title": titles[i]} for i in top.tolist()],
            }
        return out

    def profile_from_history(self, item_ids: Sequence[str], *, user_id: str = "anonymous") -> InterestProfile:
        """A profile for a new user from an inline history (item ids, oldest first)."""
        index = self.catalog_.index_of()
        unknown = [i for i in item_ids if i not in index]
        if unknown:
            raise UnknownIdError(f"unknown item ids in history: {unknown[:5]}")
        return self.builder_.build(user_id, history_from_items(np.asarray([index[i] for i in item_ids], np.int32)))

    def profile_from_text(self, text: str, *, user_id: str = "anonymous") -> InterestProfile:
        """A cold-start profile from a free-text description of taste (encoded as a query)."""
        query = self.encoder_.encode([text])[0]
        # The text acts as a pseudo-history: the items nearest to it seed the interests.
        nearest = np.argsort(-(self.item_vectors_ @ query), kind="stable")[:5].astype(np.int32)
        profile = self.builder_.build(user_id, history_from_items(nearest))
        extra = {**profile.extra, "query": text, SEED_ITEMS: [int(i) for i in nearest]}
        return replace(profile, short_term=query.astype(np.float32), extra=extra)

    def edit(self, user_id: str, **edits: Any) -> InterestProfile:
        """Pin / mute concepts or reweight interests of a user; the next ranking obeys."""
        u = self._user(user_id)
        self.profiles_[u] = self.builder_.edit(self.profile(user_id), **edits)
        return self.profiles_[u]

    def update(self, user_id: str, event: Event) -> InterestProfile:
        """Apply one feedback event to a user's profile at once (no refit). With a sequence model
        that reads the live log (``seqrec.new_item_trend``), the event is logged there too, so its
        count of each new item's recent interactions follows at once."""
        u = self._user(user_id)
        self.profiles_[u] = self.builder_.update(self.profile(user_id), event)
        model = self.sequential_
        # Items added after fitting have no count in the model's log (it covers its own catalogue).
        if model is not None and model.config.new_item_trend and event.item < model.n_items_:
            model.observe(np.array([event.item]), np.array([float(event.timestamp)]))
        return self.profiles_[u]

    # ------------------------------------------------------------------ ranking
    def rank_profiles(
        self, profiles: Sequence[InterestProfile], k: int = 10, *, diversity: float | None = None
    ) -> list[list[Recommendation]]:
        """Top-``k`` per profile: fused signals, seen and muted items removed, MMR re-ranking.

        Seen means :attr:`InterestProfile.seen_items`: the seed items standing in for the history of
        a profile built from text are ranked like any other item (they are chosen because they fit).
        """
        div = self.config.diversity if diversity is None else diversity
        scores = self.fused_scores(profiles)
        out: list[list[Recommendation]] = []
        for row, profile in enumerate(profiles):
            s = scores[row].copy()
            s[profile.seen_items] = -np.inf  # a text-built profile's seed items were never seen
            n_pool = min(len(s), max(k * 5, 50))
            pool = np.argpartition(-s, n_pool - 1)[:n_pool] if n_pool < len(s) else np.arange(len(s))
            pool = pool[np.isfinite(s[pool])]
            chosen = mmr(s[pool], pool.astype(np.int32), self.item_vectors_, k, diversity=div)
            out.append(
                [Recommendation(item=int(i), item_id=str(self.catalog_.item_ids[i]), score=float(s[i])) for i in chosen]
            )
        return out

    def fused_scores(self, profiles: Sequence[InterestProfile]) -> FloatArray:
        """Fused score of every item per profile (edits applied: muted -inf, pinned boosted)."""
        scores = self.fusion_.score(self._signals(profiles)).astype(np.float32)
        for row, profile in enumerate(profiles):
            if profile.edits.muted or profile.edits.pinned:
                mask, boost = edit_mask(self.item_concepts_, muted=profile.edits.muted, pinned=profile.edits.pinned)
                # The fused scale depends on the learned weights, so a pin lifts its items by
                # PIN_SPREAD standard deviations of this user's scores (a fixed +1 sank below the
                # top-10 when the weights were large).
                spread = float(np.std(scores[row])) or 1.0
                scores[row] += np.float32(PIN_SPREAD * spread) * boost
                scores[row, mask] = -np.inf
        return scores

    def recommend(
        self, user_id: str, k: int = 10, *, diversity: float | None = None, explain: bool = True
    ) -> list[Recommendation]:
        """Top-``k`` items for a known user, each with a grounded explanation."""
        profile = self.profile(user_id)
        recs = self.rank_profiles([profile], k, diversity=diversity)[0]
        if explain:
            explanations = self.explain_items(profile, [r.item for r in recs])
            recs = [replace(r, explanation=e) for r, e in zip(recs, explanations, strict=True)]
        return recs

    def explain(self, user_id: str, item_id: str) -> Explanation:
        """Why ``item_id`` suits ``user_id``: interest served, shared concepts, cited history items."""
        index = self.catalog_.index_of()
        if item_id not in index:
            raise UnknownIdError(f"unknown item id {item_id!r}")
        return self.explain_profile(self.profile(user_id), index[item_id])

    def explain_profile(self, profile: InterestProfile, item: int) -> Explanation:
        """Grounded explanation of ``item`` for any profile (known, inline or text-built user)."""
        return self.explain_items(profile, [item])[0]

    def explain_items(self, profile: InterestProfile, items: Sequence[int]) -> list[Explanation]:
        """Grounded explanations of several items for one profile (the per-user work done once)."""
        return explain_many(
            profile,
            items,
            item_vectors=self.space_.vectors_,  # the space the profile's interests live in
            item_concepts=self.item_concepts_,
            graph=self.graph_,
            titles=self.catalog_.titles,
        )

    # ------------------------------------------------------------------ evaluation protocol
    def score(self, users: IntArray, histories: list[IntArray]) -> FloatArray:
        """Scores of every item for evaluation: profiles from the given histories, fused signals."""
        profiles = []
        for u, items in zip(users.tolist(), histories, strict=True):
            base = self.histories_[u] if u < len(self.histories_) else None
            profiles.append(self._eval_profile(u, base, items))
        return self.fused_scores(profiles)

    def _eval_profile(self, u: int, base: History | None, items: IntArray) -> InterestProfile:
        """The training profile, plus any later history items (validation) applied as events."""
        user_id = str(self.user_ids_[u]) if u < len(self.user_ids_) else f"user-{u}"
        n_base = len(base) if base is not None else 0
        if base is None or n_base > len(items) or not np.array_equal(base.items, items[:n_base]):
            return self.builder_.build(user_id, history_from_items(np.asarray(items, np.int32)))
        # Built from training rows, never from the live (edited / updated) profile of the user.
        profile = self.builder_.build(user_id, base)
        last = int(base.timestamps[-1]) if n_base else 0
        for step, item in enumerate(items[n_base:].tolist(), start=1):
            profile = self.builder_.update(profile, Event(item=int(item), kind="view", timestamp=last + step))
        return profile

    # ------------------------------------------------------------------ users and items
    def item_index(self, item_id: str) -> int:
        """Row of ``item_id`` in the catalog (``UnknownIdError`` when absent)."""
        try:
            return self._item_index[item_id]
        except KeyError:
            raise UnknownIdError(f"unknown item id {item_id!r}") from None

    @property
    def _item_index(self) -> dict[str, int]:
        if self._item_index_cache is None or len(self._item_index_cache) != len(self.catalog_):
            self._item_index_cache = self.catalog_.index_of()
        return self._item_index_cache

    def ensure_user(self, user_id: str) -> InterestProfile:
        """The user's profile, creating an empty one for a new user id (their events build it)."""
        if user_id not in self.user_index_:
            u = len(self.user_ids_)
            self.user_ids_ = np.append(self.user_ids_, np.asarray([user_id], dtype=object))
            self.user_index_[user_id] = u
            self.histories_.append(history_from_items(np.zeros(0, np.int32)))
        return self.profile(user_id)

    def add_items(self, items: Sequence[Mapping[str, Any]]) -> list[int]:
        """Add or update items (``item_id``, ``title``, ``text``, ``categories``, ``tags``, ``brand``).

        New items are encoded, get concepts from the existing vocabulary (categories, tags and
        known concept names found in their text), and are recommendable at once; known ids are
        re-encoded in place. Returns the item rows. Concepts the vocabulary lacks are counted in
        ``unmatched_concepts_`` (the vocabulary grows at the next ``fit``).
        """
        rows: list[int] = []
        fresh: list[Mapping[str, Any]] = []
        for raw in items:
            item_id = str(raw.get("item_id", "")).strip()
            if not item_id:
                raise ValueError("every added item needs a non-empty item_id")
            if item_id in self._item_index:
                rows.append(self._item_index[item_id])
            else:
                fresh.append(raw)
                rows.append(-1)
        update_rows = [r for r in rows if r >= 0]
        new_catalog = Catalog.build(
            [str(r["item_id"]) for r in fresh],
            titles=[str(r.get("title") or "") for r in fresh],
            descriptions=[str(r.get("text") or "") for r in fresh],
            categories=[tuple(str(c) for c in r.get("categories") or ()) for r in fresh],
            tags=[tuple(str(t) for t in r.get("tags") or ()) for r in fresh],
            brands=[str(r.get("brand") or "") for r in fresh],
        )
        merged = _concat_catalogs(self.catalog_, new_catalog)
        by_id = {str(r["item_id"]): r for r in items}
        if update_rows:
            merged = _replace_rows(merged, {i: by_id[str(merged.item_ids[i])] for i in update_rows})
        n_old = len(self.catalog_)
        self.catalog_ = merged
        fresh_rows = list(range(n_old, len(merged)))
        id_to_row = merged.index_of()
        rows = [id_to_row[str(r["item_id"])] for r in items]
        changed = sorted(set(update_rows) | set(fresh_rows))
        texts = [item_texts(merged.take(np.asarray([i])), reviews=None)[0] for i in changed]
        vectors = self.encoder_.encode(texts)
        concept_rows = self._concept_rows(merged, changed)
        self.item_texts_ = list(self.item_texts_) + [""] * len(fresh_rows)
        for i, t in zip(changed, texts, strict=True):
            self.item_texts_[i] = t
        old = [j for j, i in enumerate(changed) if i < n_old]
        new = [j for j, i in enumerate(changed) if i >= n_old]
        item_vectors = np.vstack([self.item_vectors_, vectors[new]]) if new else self.item_vectors_.copy()
        matrix = (
            sp.vstack([self.item_concepts_.matrix, concept_rows[new]]).tolil()
            if new
            else (self.item_concepts_.matrix.tolil())
        )
        for j in old:
            item_vectors[changed[j]] = vectors[j]
            matrix[changed[j]] = concept_rows[j]
        self.item_vectors_ = item_vectors.astype(np.float32)
        self.item_concepts_ = replace(self.item_concepts_, matrix=matrix.tocsr().astype(np.float32))
        # New items are placed in the item space by their text; an edited item keeps its place
        # there (learned from behaviour) until the next fit.
        self.space_ = self.space_.with_items(vectors[new]) if new else self.space_
        context = (
            self.context_.with_items(vectors[new], concept_rows[new], space_vectors=self.space_.vectors_[n_old:])
            if new
            else self.context_
        )
        self.context_ = replace(
            context,
            item_vectors=self.item_vectors_,
            space_vectors=self.space_.vectors_,
            item_concepts=self.item_concepts_,
        )
        self.builder_ = self._builder(self.space_)
        self._faiss = None
        return rows

    def _concept_rows(self, catalog: Catalog, rows: list[int]) -> sp.csr_matrix:
        """Concept rows for items outside the fitted vocabulary pass: exact names from fields and text."""
        index = self.item_concepts_.index_of()
        data: list[float] = []
        cols: list[int] = []
        indptr = [0]
        unmatched = 0
        for i in rows:
            found: dict[int, float] = {}
            for name in (*catalog.categories[i], *catalog.tags[i], catalog.brands[i]):
                c = index.get(normalise_name(name)) if name else None
                if c is None:
                    unmatched += bool(name)
                    continue
                found[c] = 1.0
            words = f" {normalise_name(catalog.titles[i] + ' ' + catalog.descriptions[i])} "
            for name, c in index.items():
                if c not in found and len(name) > 3 and f" {name} " in words:
                    found[c] = 0.6
            cols.extend(found)
            data.extend(found.values())
            indptr.append(len(cols))
        self.unmatched_concepts_ = getattr(self, "unmatched_concepts_", 0) + unmatched
        return sp.csr_matrix(
            (np.asarray(data, np.float32), np.asarray(cols, np.int32), np.asarray(indptr, np.int64)),
            shape=(len(rows), self.item_concepts_.n_concepts),
        )

    def similar_items(self, item_id: str, k: int = 10) -> list[tuple[str, float]]:
        """The ``k`` items whose text vectors are nearest to ``item_id``'s (FAISS inner product)."""
        i = self.item_index(item_id)
        if self._faiss is None or len(self._faiss) != len(self.catalog_):
            self._faiss = FaissIndex(self.item_vectors_)
        scores, items = self._faiss.search(self.item_vectors_[i : i + 1], k, exclude=[{i}])
        ids = self.catalog_.item_ids
        return [(str(ids[j]), float(sc)) for j, sc in zip(items[0], scores[0], strict=True) if j >= 0]

    # ------------------------------------------------------------------ readable output
    def recommendations_json(self, user_id: str, k: int = 10, *, diversity: float | None = None) -> dict[str, Any]:
        """``{"user_id", "recommendations": [{"item_id", "title", "score", "explanation", "evidence"}]}``."""
        recs = self.recommend(user_id, k, diversity=diversity, explain=True)
        return {"user_id": user_id, "recommendations": [self._rec_json(r) for r in recs]}

    def _rec_json(self, rec: Recommendation) -> dict[str, Any]:
        out: dict[str, Any] = {"item_id": rec.item_id, "title": self.catalog_.titles[rec.item], "score": rec.score}
        if rec.explanation is not None:
            out.update(self._explanation_fields(rec.explanation))
        return out

    def _explanation_fields(self, e: Explanation) -> dict[str, Any]:
        ids = self.catalog_.item_ids
        return {
            "explanation": e.text,
            "interest": e.interest_label,
            "concepts": list(e.concepts),
            "evidence": [{"item_id": str(ids[i]), "title": self.catalog_.titles[i]} for i in e.evidence],
            "path": list(e.path),
        }

    def explanation_json(self, user_id: str, item_id: str) -> dict[str, Any]:
        """The explanation of one item for one user as JSON."""
        e = self.explain(user_id, item_id)
        return {"user_id": user_id, "item_id": item_id, **self._explanation_fields(e)}

    def report(self, *, n_users: int = 200, k: int = 10) -> dict[str, Any]:
        """What the evaluation records beside the metrics: fusion weights and explanation grounding."""
        rng = np.random.default_rng(self.config.seed)
        known = [u for u, h in enumerate(self.histories_) if len(h)]
        users = sorted(rng.choice(known, min(n_users, len(known)), replace=False).tolist()) if known else []
        profiles = [self.builder_.build(str(self.user_ids_[u]), self.histories_[u]) for u in users]
        explanations, owners = [], []
        for profile, recs in zip(profiles, self.rank_profiles(profiles, k), strict=True):
            for r in recs:
                explanations.append(self.explain_profile(profile, r.item))
                owners.append(profile)
        return {
            "fusion_weights": self.fusion_.weights,
            "grounding_rate": grounding_rate(explanations, owners) if explanations else None,
            "grounding_checked": len(explanations),
            "n_concepts": self.item_concepts_.n_concepts,
            "encoder": self.encoder_.model_id,
            "space": {
                "kind": "adapted" if self.space_.adapted else "text",
                "dim": self.space_.dim_,
                "components": self.space_.n_components_,
                "ridge_alpha": self.space_.alpha_,
            },
            **({"sequential": self._sequential_report()} if self.sequential_ is not None else {}),
        }

    def _sequential_report(self) -> dict[str, Any]:
        model = self.sequential_
        assert model is not None
        seconds = [float(r["seconds"]) for r in model.history_]
        return {
            **model.report(),
            "epochs_run": len(model.history_),
            "best_epoch": model.best_epoch_,
            "seconds_per_epoch_median": float(np.median(seconds)) if seconds else None,
            "training_seconds": float(np.sum(seconds)),
        }

    # ------------------------------------------------------------------ persistence
    def save(self, directory: Path | str) -> Path:
        """Write an inspectable artifacts directory (TOML, JSON, Parquet, .npy, FAISS; no pickle)."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.toml").write_text(dumps_toml({"recommender": config_to_dict(self.config)}), encoding="utf-8")
        artifacts.save_catalog(out, self.catalog_)
        artifacts.save_table(out, "item_texts", {"text": list(self.item_texts_)})
        artifacts.save_array(out, "vectors", self.item_vectors_)
        self.space_.save(out)
        artifacts.save_item_concepts(out, self.item_concepts_)
        artifacts.save_graph(out, self.graph_)
        artifacts.save_table(out, "interactions", _interaction_columns(self.train_))
        artifacts.save_table(out, "users", {"user_id": [str(u) for u in self.user_ids_.tolist()]})
        fusion = {"fusion": self.fusion_.to_dict(), "imputer": self.imputer_.coefficients}
        (out / "fusion.json").write_text(json.dumps(fusion, indent=2) + "\n", encoding="utf-8")
        artifacts.save_profiles(out, list(self.profiles_.values()))
        artifacts.save_faiss(out, FaissIndex(self.item_vectors_).index_)
        if self.sequential_ is not None:
            # safetensors + JSON; it scores the fitted items, and items added since from content.
            self.sequential_.save(out / SEQREC_DIR)
        extra: dict[str, Any] = {"encoder": self.encoder_.model_id, "n_items": len(self.catalog_)}
        if self.lm_concepts_ is not None:
            extra["lm_item_concepts"] = self.lm_concepts_
        artifacts.write_manifest(out, extra=extra)
        return out

    @classmethod
    def load(cls, directory: Path | str) -> Recommender:
        """Read a directory written by :meth:`save` (hashes verified), ready to recommend at once."""
        src = Path(directory)
        if not (src / "manifest.json").is_file():
            raise FileNotFoundError(f"{src}: not an interestlm artifacts directory (no manifest.json)")
        manifest = artifacts.verify_manifest(src)
        config = recommender_config(tomllib.loads((src / "config.toml").read_text(encoding="utf-8")))
        self = cls(config)
        catalog = artifacts.load_catalog(src)
        user_ids = [str(u) for u in artifacts.load_table(src, "users")["user_id"]]
        train = _interactions_from_columns(artifacts.load_table(src, "interactions"), user_ids)
        vectors = artifacts.load_array(src, "vectors")
        self._setup(
            catalog,
            train,
            item_texts=[str(t) for t in artifacts.load_table(src, "item_texts")["text"]],
            item_vectors=vectors,
            item_concepts=artifacts.load_item_concepts(src),
            graph=artifacts.load_graph(src),
            space=ItemSpace.load(src, config.space, vectors),
        )
        fusion = json.loads((src / "fusion.json").read_text(encoding="utf-8"))
        self.fusion_ = Fusion.from_dict(fusion["fusion"])
        self.imputer_ = Imputer(coefficients=fusion["imputer"])
        self.lm_concepts_ = manifest.get("extra", {}).get("lm_item_concepts")
        if (src / SEQREC_DIR).is_dir():
            self._load_sequential(src / SEQREC_DIR)
        elif config.sequential:
            raise artifacts.ArtifactError(f"{src}: config says sequential = true but {SEQREC_DIR}/ is missing")
        for profile in artifacts.load_profiles(src):
            self.profiles_[self._user(profile.user_id)] = profile
        return self

    def _load_sequential(self, directory: Path) -> None:
        from interestlm.learn.seqrec import SeqRec, SeqRecScorer

        model = SeqRec.load(directory)
        scorer = SeqRecScorer(model)
        n_fitted = model.n_items_
        if n_fitted > len(self.catalog_):
            raise artifacts.ArtifactError(
                f"{directory}: the model has {n_fitted} items, the catalog {len(self.catalog_)}"
            )
        if n_fitted < len(self.catalog_):  # items added after fitting, saved with the catalog
            scorer = scorer.with_items(self.item_vectors_[n_fitted:], self.item_concepts_.matrix[n_fitted:])
        self.sequential_ = model
        self.context_ = replace(self.context_, sequential=scorer)

    # ------------------------------------------------------------------ helpers
    def _user(self, user_id: str) -> int:
        try:
            return self.user_index_[user_id]
        except KeyError:
            raise UnknownIdError(f"unknown user id {user_id!r}") from None


def _cold_items(context: SignalContext) -> npt.NDArray[np.bool_]:
    """Items without training interactions in ``context`` (including items added after fitting)."""
    cold: npt.NDArray[np.bool_] = context.log_popularity <= 0
    return cold


def _concat_catalogs(a: Catalog, b: Catalog) -> Catalog:
    return Catalog(
        item_ids=np.concatenate([a.item_ids, b.item_ids]),
        titles=[*a.titles, *b.titles],
        descriptions=[*a.descriptions, *b.descriptions],
        categories=[*a.categories, *b.categories],
        tags=[*a.tags, *b.tags],
        brands=[*a.brands, *b.brands],
        attributes=[*a.attributes, *b.attributes],
        released=np.concatenate([a.released, b.released]),
    )


def _replace_rows(catalog: Catalog, rows: Mapping[int, Mapping[str, Any]]) -> Catalog:
    titles, descriptions = list(catalog.titles), list(catalog.descriptions)
    categories, tags, brands = list(catalog.categories), list(catalog.tags), list(catalog.brands)
    for i, raw in rows.items():
        titles[i] = str(raw.get("title") or titles[i])
        descriptions[i] = str(raw.get("text") or descriptions[i])
        if raw.get("categories") is not None:
            categories[i] = tuple(str(c) for c in raw["categories"])
        if raw.get("tags") is not None:
            tags[i] = tuple(str(t) for t in raw["tags"])
        brands[i] = str(raw.get("brand") or brands[i])
    return replace(catalog, titles=titles, descriptions=descriptions, categories=categories, tags=tags, brands=brands)


def _collaborative(name: str) -> Collaborative:
    if name not in ("auto", "ease", "itemknn", "none"):
        raise ValueError(f"recommender collaborative={name!r}: choose auto, ease, itemknn or none")
    return cast(Collaborative, name)


def _texts(catalog: Catalog, reviews: list[list[str]] | None) -> list[str]:
    return item_texts(catalog, reviews=reviews)


def _interaction_columns(train: Interactions) -> dict[str, Any]:
    return {
        "user": train.user,
        "item": train.item,
        "timestamp": train.timestamp,
        "rating": train.rating,
        "weight": train.weight,
        "kind": train.kind,
        "review": [str(r) for r in train.review.tolist()],
    }


def _interactions_from_columns(cols: dict[str, Any], user_ids: list[str]) -> Interactions:
    return Interactions.build(
        user=cols["user"],
        item=cols["item"],
        user_ids=user_ids,
        timestamp=cols["timestamp"],
        rating=cols["rating"],
        weight=cols["weight"],
        kind=cols["kind"],
        review=[str(r) for r in cols["review"]],
    )


def _has_reviews(interactions: Interactions) -> bool:
    return bool(len(interactions)) and any(bool(r) for r in interactions.review[: min(len(interactions), 1000)])


def _prefix(history: History, n: int) -> History:
    return History(
        items=history.items[:n],
        timestamps=history.timestamps[:n],
        ratings=history.ratings[:n],
        polarity=history.polarity[:n],
    )


def _seen_matrix(histories: Sequence[History], n_items: int) -> sp.csr_matrix:
    from interestlm.evaluate.protocol import history_matrix

    return history_matrix([h.items for h in histories], n_items)


__all__ = ["Catalog", "Recommendation", "Recommender", "RecommenderConfig"]
