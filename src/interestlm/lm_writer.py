"""A fitted :class:`~interestlm.recommender.Recommender` with language-model text on top.

:class:`LMWriter` leaves ranking alone and replaces only words: profile summaries
(:mod:`interestlm.profiles.lm_summary`), explanation sentences (:mod:`interestlm.explain.lm`) and
the parse of a new user's free-text description (:mod:`interestlm.profiles.from_text`). Every
piece falls back to the template text when the model is absent, fails, is too slow or writes
something its evidence does not support; ``generator.stats`` counts how often.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from interestlm.explain import Explanation
from interestlm.explain.lm import lm_explanation
from interestlm.lm import Generator
from interestlm.profiles.from_text import ConceptVocabulary, Taste, parse_taste_lm, taste_profile
from interestlm.profiles.lm_summary import with_lm_summary
from interestlm.schema import InterestProfile
from interestlm.text.mentions import MentionIndex

if TYPE_CHECKING:
    from interestlm.recommender import Recommendation, Recommender


class LMWriter:
    """Summaries, explanations and text-built users of ``recommender``, written by ``generator``.

    ``request_budget`` (seconds, or None) bounds the language-model time of one call of
    :meth:`explain_all` / :meth:`recommendations_json`: once spent, the remaining items keep their
    template sentences (counted as over budget) — a recommendation is never held up by text.
    """

    def __init__(self, recommender: Recommender, generator: Generator, *, request_budget: float | None = None) -> None:
        self.rec = recommender
        self.generator = generator
        self.request_budget = request_budget
        self._mentions: MentionIndex | None = None
        self._vocabulary: ConceptVocabulary | None = None

    @property
    def mentions(self) -> MentionIndex:
        """Titles and concept names of the current catalog (rebuilt when items were added)."""
        titles = self.rec.catalog_.titles
        if self._mentions is None or len(self._mentions.titles) != len(titles):
            self._mentions = MentionIndex(titles, self.rec.item_concepts_.names)
        return self._mentions

    @property
    def vocabulary(self) -> ConceptVocabulary:
        """The concept vocabulary a text parse may use."""
        if self._vocabulary is None or self._vocabulary.item_concepts is not self.rec.item_concepts_:
            self._vocabulary = ConceptVocabulary(self.rec.item_concepts_)
        return self._vocabulary

    # ------------------------------------------------------------------ summaries
    def summarise(self, profile: InterestProfile) -> InterestProfile:
        """The profile with an LM summary when valid (``summary_source`` names the writer)."""
        return with_lm_summary(profile, self.generator, mentions=self.mentions, titles=self.rec.catalog_.titles)

    def profile_json(self, user_id: str) -> dict[str, Any]:
        """Like :meth:`Recommender.profile_json`, with the summary written by the LM when valid."""
        return self.rec.readable_profile(self.summarise(self.rec.profile(user_id)))

    # ------------------------------------------------------------------ explanations
    def explain(self, explanation: Explanation, *, budget: float | None = None) -> Explanation:
        """One explanation with LM text when valid and in time (``text_source`` names the writer)."""
        return lm_explanation(
            explanation,
            self.generator,
            mentions=self.mentions,
            titles=self.rec.catalog_.titles,
            item_concepts=self.rec.item_concepts_,
            budget=budget,
        )

    def explain_all(self, explanations: Sequence[Explanation]) -> list[Explanation]:
        """Several explanations within ``request_budget`` seconds of model time in all."""
        if self.request_budget is None:
            return [self.explain(e) for e in explanations]
        deadline = time.perf_counter() + self.request_budget
        return [self.explain(e, budget=deadline - time.perf_counter()) for e in explanations]

    def recommend(
        self, profile: InterestProfile, k: int = 10, *, diversity: float | None = None
    ) -> list[Recommendation]:
        """Top-``k`` for any profile with explanations (LM text where valid and in time)."""
        recs = self.rec.rank_profiles([profile], k, diversity=diversity)[0]
        explained = self.explain_all([self.rec.explain_profile(profile, r.item) for r in recs])
        return [replace(r, explanation=e) for r, e in zip(recs, explained, strict=True)]

    def explanation_fields(self, e: Explanation) -> dict[str, Any]:
        """The JSON fields of one explanation (as the recommender writes them, plus ``explanation_source``)."""
        catalog = self.rec.catalog_
        return {
            "explanation": e.text,
            "explanation_source": e.text_source,
            "interest": e.interest_label,
            "concepts": list(e.concepts),
            "evidence": [{"item_id": str(catalog.item_ids[i]), "title": catalog.titles[i]} for i in e.evidence],
            "path": list(e.path),
        }

    def recommendations_json(self, user_id: str, k: int = 10, *, diversity: float | None = None) -> dict[str, Any]:
        """Like :meth:`Recommender.recommendations_json`, explanations written by the LM when valid."""
        recs = self.recommend(self.rec.profile(user_id), k, diversity=diversity)
        titles = self.rec.catalog_.titles
        out = []
        for r in recs:
            row: dict[str, Any] = {"item_id": r.item_id, "title": titles[r.item], "score": r.score}
            if r.explanation is not None:
                row.update(self.explanation_fields(r.explanation))
            out.append(row)
        return {"user_id": user_id, "recommendations": out}

    def explanation_json(self, user_id: str, item_id: str) -> dict[str, Any]:
        """Like :meth:`Recommender.explanation_json`, the sentence written by the LM when valid."""
        e = self.explain(self.rec.explain(user_id, item_id))
        return {"user_id": user_id, "item_id": item_id, **self.explanation_fields(e)}

    # ------------------------------------------------------------------ new users from text
    def parse_taste(self, text: str) -> Taste:
        """Liked / disliked vocabulary concepts of a description (LM when valid, else cue-word rules)."""
        query = self.rec.encoder_.encode([text])[0]
        return parse_taste_lm(text, query, self.generator, self.vocabulary)

    def profile_from_text(self, text: str, *, user_id: str = "anonymous") -> InterestProfile:
        """A cold-start profile from a description: parsed concepts plus the text's vector."""
        if not text.strip():
            raise ValueError("profile_from_text needs a non-empty description")
        query = self.rec.encoder_.encode([text])[0]
        taste = parse_taste_lm(text, query, self.generator, self.vocabulary)
        return taste_profile(
            taste,
            query,
            builder=self.rec.builder_,
            item_vectors=self.rec.item_vectors_,
            item_concepts=self.rec.item_concepts_,
            user_id=user_id,
            text=text,
            popularity=self.rec.context_.log_popularity,
        )
