"""The front door: the verbs a user calls, each delegating to the stage that does the work.

fit (:mod:`interestlm.fitted`) -> profile / update / edit (:mod:`interestlm.profiles`) ->
recommend (:class:`interestlm.rank.Ranker`) -> explain (:mod:`interestlm.explain`) -> JSON
(:mod:`interestlm.render`); save / load (:mod:`interestlm.fitted_io`).

:class:`Recommender` follows the evaluation :class:`~interestlm.core.protocol.Model` protocol too
(``fit(train, valid=)`` and ``score(users, histories)``), so the same object is benchmarked beside
the baselines under the name ``interest``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import numpy as np

from interestlm.config import RecommenderConfig
from interestlm.core.errors import BadInputError, ConflictError, NotFittedError, UnknownIdError
from interestlm.core.protocol import EvalTask, TrainData
from interestlm.core.schema import Event, Explanation, History, InterestProfile, Recommendation
from interestlm.core.tables import Catalog, Dataset
from interestlm.core.types import FloatArray, IntArray
from interestlm.explain import explain_many, grounding_rate
from interestlm.explain.explanation import citable_items, with_reasons
from interestlm.fitted import FittedState, fit_state
from interestlm.lm import Generator
from interestlm.models.rating_fused import FusedRating, RatingBlend
from interestlm.parallel import LOCAL, Engine
from interestlm.profiles import history_from_items
from interestlm.profiles.from_text import ConceptVocabulary, parse_taste_rules, taste_profile
from interestlm.rank import Fusion
from interestlm.render import explanation_json, predictions_json, profile_json, recommendations_json

if TYPE_CHECKING:
    import pandas as pd

    from interestlm.lm_writer import LMWriter
    from interestlm.models.seqrec import SeqRec

#: How many expected next items a profile shows (with a sequence model).
SEQUENTIAL_INTENT_ITEMS = 5


class Recommender:
    """Readable interest profiles -> ranked, explained recommendations (see the module doc).

    ``text`` (optional) is the language-model text strategy: summaries, explanation sentences
    and taste parses written by a model where valid, templates and rules otherwise.
    """

    def __init__(self, config: RecommenderConfig | None = None, *, text: LMWriter | None = None, **overrides: Any):
        base = config or RecommenderConfig()
        self.config = replace(base, **overrides) if overrides else base
        self.text = text
        self._state: FittedState | None = None
        self._vocabulary: ConceptVocabulary | None = None

    def with_text(self, text: LMWriter | None) -> Recommender:
        """A front door over the same fitted state (shared, not copied) with another text strategy."""
        other = Recommender(self.config, text=text)
        other._state = self._state
        return other

    # ------------------------------------------------------------------ fitted state
    @property
    def state_(self) -> FittedState:
        """Everything :meth:`fit` learned (:class:`~interestlm.fitted.FittedState`; read-only use)."""
        if self._state is None:
            raise NotFittedError("this Recommender is not fitted: call fit(data) or Recommender.load(directory)")
        return self._state

    @property
    def fusion_(self) -> Fusion:
        """The learned signal weights (``fusion_.table()`` prints them)."""
        return self.state_.ranker.fusion

    @property
    def sequential_(self) -> SeqRec | None:
        """The trained sequence model, when ``config.sequential``."""
        return self.state_.sequential

    @property
    def catalog(self) -> Catalog:
        """The item catalog (grown by :meth:`add_items`)."""
        return self.state_.catalog

    def item_index(self, item_id: str) -> int:
        """Row of ``item_id`` in the catalog (``UnknownIdError`` when absent)."""
        return self.state_.item(item_id)

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        data: Dataset | TrainData,
        *,
        valid: EvalTask | None = None,
        generator: Generator | None = None,
        engine: Engine = LOCAL,
    ) -> Self:
        """Learn everything from training rows; fusion weights from ``valid`` (or a held-out last item).

        ``generator`` writes the concepts of thin items when ``config.concepts.lm_thin_items`` is on
        (default then: the local model when installed, else none is added). ``engine`` runs the
        parallel stages (this process, or ``interestlm.engine.RayEngine``): the result is the same.
        """
        self._state = fit_state(self.config, data, valid=valid, generator=generator, engine=engine)
        self._vocabulary = None
        return self

    # ------------------------------------------------------------------ profiles
    def profile(self, user_id: str) -> InterestProfile:
        """The layered profile of a known user (built on first use, then kept and updated)."""
        state = self.state_
        u = state.user(user_id)
        if u not in state.profiles:
            state.profiles[u] = state.builder.build(user_id, state.histories[u])
        return state.profiles[u]

    def profile_json(self, user_id: str) -> dict[str, Any]:
        """The profile as readable JSON (ids and titles; an LM summary with a ``text`` strategy)."""
        return self.readable_profile(self.profile(user_id))

    def readable_profile(self, profile: InterestProfile) -> dict[str, Any]:
        """Any profile as readable JSON; with a sequence model ``sequential_intent`` lists the
        unseen items it expects next from the latest history."""
        state = self.state_
        if self.text is not None:
            profile = self.text.summarise(profile, state.catalog.titles, state.item_concepts)
        scorer = state.ranker.context.sequential
        next_items = None
        if scorer is not None:
            scores = scorer.score([profile.history.items])[0]
            scores[profile.history.items] = -np.inf
            next_items = np.argsort(-scores, kind="stable")[:SEQUENTIAL_INTENT_ITEMS].tolist()
        return profile_json(profile, state.catalog, next_items=next_items)

    def profile_from_history(self, item_ids: Sequence[str], *, user_id: str = "anonymous") -> InterestProfile:
        """A profile for a new user from an inline history (item ids, oldest first)."""
        state = self.state_
        items = np.asarray([state.item(i) for i in item_ids], np.int32)
        return state.builder.build(user_id, history_from_items(items))

    def profile_from_text(self, text: str, *, user_id: str = "anonymous") -> InterestProfile:
        """A cold-start profile from a free-text description of taste, the one path for the
        library, the command line and HTTP.

        Liked and disliked concepts are parsed (cue words and negation: "I love sci-fi. I hate
        horror."; a language model refines the parse when the ``text`` strategy has one); disliked
        concepts are muted, so none of their items is recommended; the text's vector steers the
        short-term layer and picks the seed items standing in for a history.
        """
        if not text.strip():
            raise BadInputError("profile_from_text needs a non-empty description")
        state = self.state_
        query = state.encoder.encode([text])[0]
        if self._vocabulary is None or self._vocabulary.item_concepts is not state.item_concepts:
            self._vocabulary = ConceptVocabulary(state.item_concepts, titles=state.catalog.titles)
        vocabulary = self._vocabulary
        taste = (
            self.text.parse_taste(text, query, vocabulary)
            if self.text is not None
            else parse_taste_rules(text, vocabulary)
        )
        profile = taste_profile(
            taste,
            query,
            builder=state.builder,
            item_vectors=state.item_vectors,
            item_concepts=state.item_concepts,
            user_id=user_id,
            text=text,
            popularity=state.ranker.context.log_popularity,
        )
        return state.builder.edit(profile, mute=taste.dislikes) if taste.dislikes else profile

    def edit(self, user_id: str, **edits: Any) -> InterestProfile:
        """Pin / mute concepts (any spelling) or reweight interests of a user; the next ranking obeys."""
        state = self.state_
        u = state.user(user_id)
        state.profiles[u] = state.builder.edit(self.profile(user_id), **edits)
        return state.profiles[u]

    def update(self, user_id: str, event: Event) -> InterestProfile:
        """Apply one feedback event to a user's profile at once (no refit). With a sequence model
        that reads the live log (``seqrec.new_item_trend``), the event is logged there too."""
        state = self.state_
        u = state.user(user_id)
        state.profiles[u] = state.builder.update(self.profile(user_id), event)
        model = state.sequential
        # Items added after fitting have no count in the model's log (it covers its own catalogue).
        if model is not None and model.config.new_item_trend and event.item < model.n_items_:
            model.observe(np.array([event.item]), np.array([float(event.timestamp)]))
        return state.profiles[u]

    def ensure_user(self, user_id: str) -> InterestProfile:
        """The user's profile, creating an empty one for a new user id (their events build it)."""
        self.state_.add_user(user_id)
        return self.profile(user_id)

    # ------------------------------------------------------------------ recommending
    def recommend(
        self,
        user: str | InterestProfile,
        k: int = 10,
        *,
        diversity: float | None = None,
        explain: bool = True,
        lm_text: bool = True,
    ) -> list[Recommendation]:
        """Top-``k`` items for a known user id (or any profile), each with its score's signal
        shares and, with ``explain``, a grounded explanation (LM text when configured and ``lm_text``)."""
        profile = self.profile(user) if isinstance(user, str) else user
        return self.recommend_many([profile], k, diversity=diversity, explain=explain, lm_text=lm_text)[0]

    def recommend_many(
        self,
        profiles: Sequence[InterestProfile],
        k: int = 10,
        *,
        diversity: float | None = None,
        explain: bool = False,
        lm_text: bool = True,
    ) -> list[list[Recommendation]]:
        """Top-``k`` for many profiles at once (ranked in batches by the one ranker)."""
        state = self.state_
        div = self.config.diversity if diversity is None else diversity
        ids = state.catalog.item_ids
        out = []
        for profile, ranked in zip(profiles, state.ranker.rank(profiles, k, diversity=div), strict=True):
            recs = [
                Recommendation(item=r.item, item_id=str(ids[r.item]), score=r.score, contributions=r.contributions)
                for r in ranked
            ]
            if explain and recs:
                explained = self._explanations(profile, recs, lm_text=lm_text)
                recs = [
                    Recommendation(
                        item=r.item, item_id=r.item_id, score=r.score, contributions=r.contributions, explanation=e
                    )
                    for r, e in zip(recs, explained, strict=True)
                ]
            out.append(recs)
        return out

    def _explanations(
        self, profile: InterestProfile, recs: Sequence[Recommendation], *, lm_text: bool
    ) -> list[Explanation]:
        state = self.state_
        citable = citable_items(profile)
        titles = state.catalog.display_titles
        explained = explain_many(
            profile,
            [r.item for r in recs],
            item_vectors=state.space.vectors_,  # the space the profile's interests live in
            item_concepts=state.item_concepts,
            graph=state.graph,
            titles=titles,
            citable=citable,
            render_text=False,  # with_reasons renders the sentence once its reason is known
        )
        explained = with_reasons(
            explained,
            [r.contributions for r in recs],
            profile,
            titles=titles,
            sources=self._next_item_sources(profile, [r.item for r in recs]),
            look_alikes=self._look_alikes(profile, [r.item for r in recs]),
            citable=citable,
        )
        if self.text is not None and lm_text:
            explained = self.text.explain_all(explained, state.catalog.titles, state.item_concepts)
        return explained

    def _next_item_sources(self, profile: InterestProfile, items: Sequence[int]) -> list[list[int]]:
        """Per item, the user's latest history items (newest first) that lead to it in the
        next-item transitions: what "people who watched X next watched this" may cite."""
        context = self.state_.ranker.context
        recent = [int(i) for i in profile.seen_items[-context.n_recent :][::-1]]
        if not recent:
            return [[] for _ in items]
        # Read the few recent rows' CSR slices directly (sparse fancy indexing cost ~1 ms a list).
        trans = context.transition
        wanted = {int(i): j for j, i in enumerate(items)}
        out: list[list[int]] = [[] for _ in items]
        for r in recent:
            lo, hi = int(trans.indptr[r]), int(trans.indptr[r + 1])
            for col, value in zip(trans.indices[lo:hi].tolist(), trans.data[lo:hi].tolist(), strict=True):
                j = wanted.get(col)
                if j is not None and value > 0:
                    out[j].append(r)
        return out

    def _look_alikes(self, profile: InterestProfile, items: Sequence[int]) -> list[list[int]] | None:
        """Per item, the user's liked history items whose pictures look most like its picture
        (best first, cosine above 0.5): what "It looks like X" may cite. None without pictures."""
        pictures = self.state_.item_pictures
        if pictures is None or pictures.is_content:
            return None
        disliked, has = set(profile.dislikes), pictures.has
        liked = [int(i) for i in dict.fromkeys(profile.seen_items[::-1].tolist()) if i not in disliked]
        liked = [i for i in liked if 0 <= i < len(has) and has[i]][:200]
        if not liked:
            return [[] for _ in items]
        sims = pictures.vectors[list(items)] @ pictures.vectors[liked].T
        out: list[list[int]] = []
        for row in sims:
            order = np.argsort(-row, kind="stable")[:2]
            out.append([liked[o] for o in order if row[o] > 0.5])
        return out

    def explain(self, user: str | InterestProfile, item_id: str) -> Explanation:
        """Why ``item_id`` suits the user: the signal that carried it, the interest served, shared
        concepts and cited history items (only items the user really interacted with)."""
        state = self.state_
        item = state.item(item_id)
        profile = self.profile(user) if isinstance(user, str) else user
        shares = state.ranker.contributions(profile, [item])
        rec = Recommendation(
            item=item, item_id=item_id, score=0.0, contributions={n: float(v[0]) for n, v in shares.items()}
        )
        return self._explanations(profile, [rec], lm_text=True)[0]

    def recommendations_json(self, user_id: str, k: int = 10, *, diversity: float | None = None) -> dict[str, Any]:
        """``{"user_id", "recommendations": [...]}`` in the shape of :mod:`interestlm.render`."""
        return recommendations_json(user_id, self.recommend(user_id, k, diversity=diversity), self.catalog)

    # ---- recommendations as a DataFrame (issue 21: data the way people hold it)
    def recommendations_frame(
        self,
        user_ids: str | Sequence[str],
        k: int = 10,
        *,
        diversity: float | None = None,
        explain: bool = True,
    ) -> pd.DataFrame:
        """Top-``k`` of each user as one pandas DataFrame, a row per user and rank: ``user_id``,
        ``rank`` (1 = best), ``item_id``, ``score``, ``title`` and ``explanation`` (the sentence;
        None without ``explain``). Ranked in batches by the one ranker (:meth:`recommend_many`)."""
        import pandas as pd

        users = [user_ids] if isinstance(user_ids, str) else [str(u) for u in user_ids]
        profiles = [self.profile(u) for u in users]
        titles = self.catalog.titles
        rows: list[tuple[str, int, str, float, str, str | None]] = []
        ranked = self.recommend_many(profiles, k, diversity=diversity, explain=explain)
        for user, recs in zip(users, ranked, strict=True):
            for rank, r in enumerate(recs, start=1):
                text = r.explanation.text if r.explanation is not None else None
                rows.append((user, rank, r.item_id, float(r.score), titles[r.item], text))
        columns = ["user_id", "rank", "item_id", "score", "title", "explanation"]
        frame = pd.DataFrame(rows, columns=columns)
        return frame.astype({"user_id": object, "rank": "int64", "item_id": object, "score": "float64"})

    # ---- end of recommendations_frame

    def explanation_json(self, user_id: str, item_id: str) -> dict[str, Any]:
        """The explanation of one item for one user as JSON."""
        return explanation_json(user_id, self.item_index(item_id), self.explain(user_id, item_id), self.catalog)

    # ------------------------------------------------------------------ rating prediction (issue 26)
    def _rating_rows(
        self, user_id: str, item_ids: Sequence[str]
    ) -> tuple[RatingBlend | FusedRating, IntArray, IntArray]:
        state = self.state_
        if state.rating is None:
            raise ConflictError(
                "this recommender has no rating model: the training data hold no explicit ratings, "
                "or the config sets rating_model = false"
            )
        if isinstance(item_ids, str) or not len(item_ids):
            raise BadInputError("item_ids must be a non-empty list of item ids")
        items = np.array([state.item(i) for i in item_ids], dtype=np.int32)
        return state.rating, np.full(len(items), state.user(user_id), dtype=np.int32), items

    def predict(self, user_id: str, item_ids: Sequence[str]) -> FloatArray:
        """Predicted ratings of ``item_ids`` by ``user_id`` on the training ratings' scale (clipped),
        by the model ``interestlm evaluate --task rating`` reports as ``interest`` (the stack of
        ``models/rating_stack.py``).

        Items nobody rated (or added since fitting) are predicted from their content and the
        user's taste; a user added since fitting from the biases and the items' content.
        """
        model, users, items = self._rating_rows(user_id, item_ids)
        return model.predict(users, items)

    def explain_prediction(self, user_id: str, item_ids: Sequence[str]) -> dict[str, FloatArray]:
        """Each prediction as named shares (mean, biases, factors, content, taste, neighbours,
        autoencoder, and ``clip``: what clipping to the scale took off) that sum to the prediction,
        the way a recommendation's score splits into signal shares."""
        model, users, items = self._rating_rows(user_id, item_ids)
        return {name: values.astype(np.float32) for name, values in model.explain(users, items).items()}

    def predictions_json(self, user_id: str, item_ids: Sequence[str]) -> dict[str, Any]:
        """``{"user_id", "predictions": [{"item_id", "rating", "contributions"}]}`` (see render)."""
        return predictions_json(
            user_id, list(item_ids), self.predict(user_id, item_ids), self.explain_prediction(user_id, item_ids)
        )

    # ------------------------------------------------------------------ end rating prediction

    def similar_items(self, item_id: str, k: int = 10) -> list[tuple[str, float]]:
        """The ``k`` items whose text vectors are nearest to ``item_id``'s (FAISS inner product)."""
        state = self.state_
        i = state.item(item_id)
        scores, items = state.faiss().search(state.item_vectors[i : i + 1], k, exclude=[{i}])
        ids = state.catalog.item_ids
        return [(str(ids[j]), float(sc)) for j, sc in zip(items[0], scores[0], strict=True) if j >= 0]

    def add_items(self, items: Sequence[Mapping[str, Any]]) -> list[int]:
        """Add or update items (``item_id``, ``title``, ``text``, ``categories``, ``tags``, ``brand``).

        New items are encoded, get concepts from the existing vocabulary (categories, tags and
        known concept names found in their text; see :mod:`interestlm.concepts.match`), and are
        recommendable at once; known ids are re-encoded in place. Returns the item rows. Concepts
        the vocabulary lacks are counted in ``state_.unmatched_concepts``.
        """
        return self.state_.add_items(items)

    # ------------------------------------------------------------------ evaluation protocol
    def score(self, users: IntArray, histories: list[IntArray]) -> FloatArray:
        """Scores of every item for evaluation: profiles from the given histories, fused signals."""
        state = self.state_
        profiles = [
            self._eval_profile(u, state.histories[u] if u < len(state.histories) else None, items)
            for u, items in zip(users.tolist(), histories, strict=True)
        ]
        return state.ranker.scores(profiles)

    def _eval_profile(self, u: int, base: History | None, items: IntArray) -> InterestProfile:
        """The training profile, plus any later history items (validation) applied as events."""
        state = self.state_
        user_id = state.user_ids[u] if u < len(state.user_ids) else f"user-{u}"
        n_base = len(base) if base is not None else 0
        if base is None or n_base > len(items) or not np.array_equal(base.items, items[:n_base]):
            return state.builder.build(user_id, history_from_items(np.asarray(items, np.int32)))
        # Built from training rows, never from the live (edited / updated) profile of the user.
        profile = state.builder.build(user_id, base)
        last = int(base.timestamps[-1]) if n_base else 0
        for step, item in enumerate(items[n_base:].tolist(), start=1):
            profile = state.builder.update(profile, Event(item=int(item), kind="view", timestamp=last + step))
        return profile

    def report(self, *, n_users: int = 200, k: int = 10) -> dict[str, Any]:
        """What the evaluation records beside the metrics: fusion weights and explanation grounding."""
        state = self.state_
        rng = np.random.default_rng(self.config.seed)
        known = [u for u, h in enumerate(state.histories) if len(h)]
        users = sorted(rng.choice(known, min(n_users, len(known)), replace=False).tolist()) if known else []
        profiles = [state.builder.build(state.user_ids[u], state.histories[u]) for u in users]
        explanations: list[Explanation] = []
        owners: list[InterestProfile] = []
        for profile, recs in zip(profiles, self.recommend_many(profiles, k, explain=True, lm_text=False), strict=True):
            explanations.extend(r.explanation for r in recs if r.explanation is not None)
            owners.extend(profile for r in recs if r.explanation is not None)
        out: dict[str, Any] = {
            "fusion_weights": state.ranker.fusion.weights,
            "grounding_rate": grounding_rate(explanations, owners) if explanations else None,
            "grounding_checked": len(explanations),
            "n_concepts": state.item_concepts.n_concepts,
            "encoder": state.encoder.model_id,
            "space": {
                "kind": "adapted" if state.space.adapted else "text",
                "dim": state.space.dim_,
                "components": state.space.n_components_,
                "ridge_alpha": state.space.alpha_,
            },
        }
        if state.sequential is not None:
            out["sequential"] = _sequential_report(state.sequential)
        return out

    # ------------------------------------------------------------------ persistence
    def save(self, directory: Path | str) -> Path:
        """Write an inspectable artifacts directory (TOML, JSON, Parquet, .npy, FAISS; no pickle)."""
        from interestlm.fitted_io import save_state

        return save_state(directory, self.config, self.state_)

    @classmethod
    def load(cls, directory: Path | str, *, text: LMWriter | None = None) -> Recommender:
        """Read a directory written by :meth:`save` (hashes verified), ready to recommend at once."""
        from interestlm.fitted_io import load_state

        config, state = load_state(directory)
        self = cls(config, text=text)
        self._state = state
        return self


def _sequential_report(model: SeqRec) -> dict[str, Any]:
    seconds = [float(r["seconds"]) for r in model.history_]
    return {
        **model.report(),
        "epochs_run": len(model.history_),
        "best_epoch": model.best_epoch_,
        "seconds_per_epoch_median": float(np.median(seconds)) if seconds else None,
        "training_seconds": float(np.sum(seconds)),
    }


__all__ = ["Recommendation", "Recommender", "UnknownIdError"]
