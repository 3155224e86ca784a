"""Language-model text as a strategy the recommender is given: it replaces words, never rankings.

:class:`LMWriter` writes profile summaries (:mod:`interestlm.profiles.lm_summary`), explanation
sentences (:mod:`interestlm.explain.lm`) and refines the parse of a free-text taste description
(:mod:`interestlm.profiles.from_text`). Every piece falls back to the template text (or the
rule parse) when the model is absent, fails, is too slow or writes something its evidence does
not support; ``generator.stats`` counts how often. A :class:`~interestlm.recommender.Recommender`
built with ``text=LMWriter(...)`` uses it in every verb, so the library, the command line and the
service share one front door.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from interestlm.core.schema import InterestProfile, ItemConcepts
from interestlm.core.types import FloatArray
from interestlm.explain import Explanation
from interestlm.explain.lm import lm_explanation
from interestlm.lm import Generator
from interestlm.profiles.from_text import ConceptVocabulary, Taste, parse_taste_lm
from interestlm.profiles.lm_summary import with_lm_summary
from interestlm.text.mentions import MentionIndex


class LMWriter:
    """Summaries, explanations and taste parses written by ``generator``.

    ``request_budget`` (seconds, or None) bounds the language-model time of one call of
    :meth:`explain_all`: once spent, the remaining items keep their template sentences (counted as
    over budget) — a recommendation is never held up by text.
    """

    def __init__(self, generator: Generator, *, request_budget: float | None = None) -> None:
        self.generator = generator
        self.request_budget = request_budget
        self._mentions: MentionIndex | None = None

    def mentions(self, titles: Sequence[str], item_concepts: ItemConcepts) -> MentionIndex:
        """Titles and concept names of the current catalog (rebuilt when items were added)."""
        if self._mentions is None or len(self._mentions.titles) != len(titles):
            self._mentions = MentionIndex(titles, item_concepts.names)
        return self._mentions

    def summarise(
        self, profile: InterestProfile, titles: Sequence[str], item_concepts: ItemConcepts
    ) -> InterestProfile:
        """The profile with an LM summary when valid (``summary_source`` names the writer)."""
        return with_lm_summary(profile, self.generator, mentions=self.mentions(titles, item_concepts), titles=titles)

    def explain(
        self,
        explanation: Explanation,
        titles: Sequence[str],
        item_concepts: ItemConcepts,
        *,
        budget: float | None = None,
    ) -> Explanation:
        """One explanation with LM text when valid and in time (``text_source`` names the writer)."""
        return lm_explanation(
            explanation,
            self.generator,
            mentions=self.mentions(titles, item_concepts),
            titles=titles,
            item_concepts=item_concepts,
            budget=budget,
        )

    def explain_all(
        self, explanations: Sequence[Explanation], titles: Sequence[str], item_concepts: ItemConcepts
    ) -> list[Explanation]:
        """Several explanations within ``request_budget`` seconds of model time in all."""
        if self.request_budget is None:
            return [self.explain(e, titles, item_concepts) for e in explanations]
        deadline = time.perf_counter() + self.request_budget
        return [self.explain(e, titles, item_concepts, budget=deadline - time.perf_counter()) for e in explanations]

    def parse_taste(self, text: str, query: FloatArray, vocabulary: ConceptVocabulary) -> Taste:
        """Liked / disliked vocabulary concepts of a description: the LM's parse when valid, else the rules'."""
        return parse_taste_lm(text, query, self.generator, vocabulary)
