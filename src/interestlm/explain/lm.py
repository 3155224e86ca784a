"""Explanation sentences written by a language model from the grounded evidence only.

The prompt carries the explanation's evidence (the recommended item and its concepts, the cited
history items, the shared concepts, the interest label, a concept-graph path). The reply is kept
only when every title and concept it names is in that evidence and it cites at least one piece
of the user's own evidence; otherwise the rendered template sentence stays (and is counted).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from interestlm.explain.explanation import Explanation
from interestlm.lm import Generator, load_prompt
from interestlm.profiles.lm_summary import check_citations, clean_reply
from interestlm.schema import ItemConcepts
from interestlm.text.mentions import MentionIndex, concept_mentions, display_title, normalise

_MAX_CHARS = 300
_ITEM_CONCEPTS = 3


@dataclass(frozen=True, kw_only=True)
class ExplanationEvidence:
    """What an explanation sentence may cite: items (indices) and normalised concept names.

    ``reason`` is the template sentence (rendered from the same evidence), which the prompt asks
    the model to put in its own words; ``opening`` is the unfinished sentence it continues.
    """

    reason: str
    opening: str
    lines: str
    items: frozenset[int]
    concepts: frozenset[str]
    #: The user's own evidence: at least one of these must be cited.
    user_items: frozenset[int]
    user_concepts: frozenset[str]


def explanation_evidence(
    explanation: Explanation, *, titles: Sequence[str], item_concepts: ItemConcepts
) -> ExplanationEvidence:
    """The evidence of one explanation as prompt lines plus the sets the validator allows."""
    item = explanation.item
    about = [item_concepts.names[c] for c, _ in item_concepts.of_item(item)[:_ITEM_CONCEPTS]]
    head = f'- recommended: "{display_title(titles[item])}"' + (f" ({', '.join(about)})" if about else "")
    lines = [head]
    if explanation.evidence:
        lines.append("- they liked: " + ", ".join(f'"{display_title(titles[i])}"' for i in explanation.evidence))
    if explanation.concepts:
        lines.append("- shared topics: " + ", ".join(explanation.concepts))
    label_parts = [p for p in explanation.interest_label.split(" & ") if p.strip()]
    if label_parts:
        lines.append(f"- fits their interest: {explanation.interest_label}")
    if len(explanation.path) >= 2:
        lines.append("- topic link: " + " -> ".join(explanation.path))
    user_concepts = {normalise(c) for c in (*explanation.concepts, *label_parts, *explanation.path)}
    return ExplanationEvidence(
        reason=explanation.text,
        opening=f'You might enjoy "{display_title(titles[item])}" because',
        lines="\n".join(lines),
        items=frozenset({item, *explanation.evidence}),
        concepts=frozenset(user_concepts | {normalise(c) for c in about}),
        user_items=frozenset(explanation.evidence),
        user_concepts=frozenset(user_concepts),
    )


def validate_explanation(raw: str, evidence: ExplanationEvidence, *, mentions: MentionIndex) -> str:
    """The cleaned sentence, or ValueError naming why it cannot be shown."""
    text = clean_reply(raw, max_sentences=2, opening=evidence.opening)
    if not normalise(text).startswith(normalise(evidence.opening)):
        raise ValueError("wrong item: does not continue the sentence about the recommended item")
    if len(text) < len(evidence.opening) + 10:
        raise ValueError("too short: fewer than 15 characters")
    if len(text) > _MAX_CHARS:
        raise ValueError(f"too long: more than {_MAX_CHARS} characters")
    check_citations(text, mentions=mentions, allowed_items=set(evidence.items), allowed_concepts=set(evidence.concepts))
    padded = f" {normalise(text)} "
    cited_items = {i for i in evidence.user_items if f" {normalise(display_title(mentions.titles[i]))} " in padded}
    if not cited_items and not concept_mentions(text, evidence.user_concepts):
        raise ValueError("cites nothing: names none of the user's evidence items or concepts")
    return text


def lm_explanation(
    explanation: Explanation,
    generator: Generator,
    *,
    mentions: MentionIndex,
    titles: Sequence[str],
    item_concepts: ItemConcepts,
    budget: float | None = None,
) -> Explanation:
    """The explanation with its text written by the LM when valid and within ``budget`` seconds
    (``text_source`` says which wrote it)."""
    evidence = explanation_evidence(explanation, titles=titles, item_concepts=item_concepts)
    if not evidence.user_items and not evidence.user_concepts:
        # Nothing of the user's to cite: the template's plain "something new" is the honest text.
        return explanation
    result = generator.generate(
        load_prompt("explain"),
        {"reason": evidence.reason, "title": display_title(titles[explanation.item])},
        lambda raw: validate_explanation(raw, evidence, mentions=mentions),
        max_tokens=72,
        budget=budget,
    )
    if result.text is None:
        return explanation
    return replace(explanation, text=result.text, text_source=generator.source)
