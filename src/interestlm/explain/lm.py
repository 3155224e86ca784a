"""Explanation sentences written by a language model from the grounded evidence only.

Prompt versions (``prompts/explain.vN.txt``):

* v1 — the prompt carries the template sentence and the unfinished sentence
  ``You might enjoy "<title>" because``; the model writes the whole sentence. SmolLM2-135M often
  named another item, dropped or mangled the title, or wrapped the sentence in labels (57.5% of
  its texts fell back on ml-latest-small, most as "wrong item").
* v2 (the default) — the code writes the opening with the recommended title; the model sees only
  topics (the user's shared topics and interest, the item's own topics; no titles) and writes the
  reason, which :func:`compose_reason` puts after ``because``.

Either way the finished sentence goes through the same :func:`validate_explanation`: it is kept
only when every title and concept it names is in the evidence and it cites at least one piece of
the user's own evidence; otherwise the rendered template sentence stays (and is counted).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from interestlm.core.schema import Explanation, ItemConcepts
from interestlm.lm import Generator, load_prompt
from interestlm.profiles.lm_summary import check_citations, clean_reply
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
    #: Topics for the v2 prompt: the user's (shared concepts, interest, path) and the item's own.
    user_topics: tuple[str, ...] = ()
    item_topics: tuple[str, ...] = ()


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
    user_topics = tuple(dict.fromkeys(c.strip() for c in (*explanation.concepts, *label_parts) if c.strip()))
    return ExplanationEvidence(
        reason=explanation.text,
        opening=f'You might enjoy "{display_title(titles[item])}" because',
        lines="\n".join(lines),
        items=frozenset({item, *explanation.evidence}),
        concepts=frozenset(user_concepts | {normalise(c) for c in about}),
        user_items=frozenset(explanation.evidence),
        user_concepts=frozenset(user_concepts),
        user_topics=user_topics,
        item_topics=tuple(about),
    )


_LABEL = re.compile(r"^\s*(reason|answer|sentence|explanation)\s*:\s*", re.IGNORECASE)
_BECAUSE = re.compile(r"\bbecause\b\s*", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_TRAILER = re.compile(r",\s+(?:with|which|making)\b|,?\s+and\s+(?:is|are|has|have)\b", re.IGNORECASE)
_REPEAT = 4
_VIEWER = re.compile(r"^(this|the) viewer (?P<verb>enjoys|likes|loves|is|has|prefers|appreciates)\b", re.IGNORECASE)
_VERBS = {"enjoys": "enjoy", "likes": "like", "loves": "love", "is": "are", "has": "have", "prefers": "prefer",
          "appreciates": "appreciate"}
#: Sentence-initial words that are lower-cased when the reason is put after "because".
_LOWER_FIRST = frozenset({"it", "its", "it's", "you", "your", "you're", "the", "this", "they", "their", "of", "as"})


def compose_reason(raw: str, opening: str) -> str:
    """The v2 reply as a whole sentence: ``opening`` (``You might enjoy "<title>" because``) + reason.

    The reply's first sentence is taken, a leading label ("Reason:") and wrapping quotes are
    dropped, when the model wrote a whole sentence with "because" only what follows the first
    "because" is kept, a trailing ", with ..." / ", which ..." / ", and is ..." clause is cut, and
    "this viewer enjoys" (the prompt's words) becomes "you enjoy". The result is validated like any other
    sentence (nothing is checked less).
    """
    text = raw.strip().split("\n\n")[0].replace("\n", " ").strip()
    text = _LABEL.sub("", text).strip().strip('"“”').strip()
    if normalise(text).startswith(normalise(opening)):
        return text
    match = _BECAUSE.search(text)
    if match:
        text = text[match.end() :]
    text = (_SENTENCE_END.split(text.strip()) or [""])[0].strip().strip('"“”').strip()
    # A trailing ", with a focus on ..." / ", which ..." adds words, not reasons, and "..., and is a fan
    # of ..." lost its subject when "this viewer" became "you": the sentence ends before either.
    text = _TRAILER.split(text, maxsplit=1)[0].strip()
    if not text:
        return opening
    # "This viewer enjoys sci fi" (the prompt speaks of the viewer) -> "you enjoy sci fi".
    viewer = _VIEWER.match(text)
    if viewer:
        verb = _VERBS.get(viewer["verb"].lower(), viewer["verb"])
        text = f"you {verb}{text[viewer.end():]}"
    first, _, rest = text.partition(" ")
    if first.lower() in _LOWER_FIRST:
        text = f"{first.lower()} {rest}".strip()
    if text[-1] not in ".!?":
        text += "."
    return f"{opening} {text}"


def validate_explanation(raw: str, evidence: ExplanationEvidence, *, mentions: MentionIndex) -> str:
    """The cleaned sentence, or ValueError naming why it cannot be shown."""
    text = clean_reply(raw, max_sentences=2, opening=evidence.opening)
    if not normalise(text).startswith(normalise(evidence.opening)):
        raise ValueError("wrong item: does not continue the sentence about the recommended item")
    if len(text) < len(evidence.opening) + 10:
        raise ValueError("too short: fewer than 15 characters")
    if len(text) > _MAX_CHARS:
        raise ValueError(f"too long: more than {_MAX_CHARS} characters")
    # A reply that loops ("a mix of action, thriller, crime, and a mix of action, thriller, ...") is no
    # sentence; the title in the opening may repeat words ("Raiders of the Lost Ark (... Lost Ark)").
    words = normalise(text)[len(normalise(evidence.opening)) :].split()
    grams = [" ".join(words[j : j + _REPEAT]) for j in range(len(words) - _REPEAT + 1)]
    repeated = next((g for j, g in enumerate(grams) if g in grams[:j]), None)
    if repeated is not None:
        raise ValueError(f"repetitive: repeats {repeated!r}")
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
    prompt_version: int | None = None,
) -> Explanation:
    """The explanation with its text written by the LM when valid and within ``budget`` seconds
    (``text_source`` says which wrote it). ``prompt_version`` picks ``explain.vN.txt`` (default:
    the newest); any version's text passes the same validator."""
    evidence = explanation_evidence(explanation, titles=titles, item_concepts=item_concepts)
    if not evidence.user_items and not evidence.user_concepts:
        # Nothing of the user's to cite: the template's plain "something new" is the honest text.
        return explanation
    prompt = load_prompt("explain", prompt_version)
    values = {"reason": evidence.reason, "title": display_title(titles[explanation.item])}
    if prompt.version > 1:
        values = {
            "topics": ", ".join(evidence.user_topics) or "none given",
            "about": ", ".join(evidence.item_topics) or "none given",
        }

    def finish(raw: str) -> str:
        return raw if prompt.version == 1 else compose_reason(raw, evidence.opening)

    result = generator.generate(
        prompt,
        values,
        lambda raw: validate_explanation(finish(raw), evidence, mentions=mentions),
        max_tokens=48 if prompt.version > 1 else 72,
        budget=budget,
    )
    if result.text is None:
        return explanation
    return replace(explanation, text=result.text, text_source=generator.source)
