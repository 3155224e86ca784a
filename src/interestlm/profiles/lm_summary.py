"""Profile summaries written by a language model from the profile's own layers, validated, with the
template as the fallback.

The model sees only *facts* drawn from the profile (top interests with their labels and shares,
liked titles, the recent interest, disliked concepts) and a few-shot example. Its text is kept
only when every title and concept it mentions is one of those facts, it names at least one
interest, and it does not call a dislike a like (or the reverse); otherwise the template summary
is used and the rejection is counted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from interestlm.core.schema import InterestProfile
from interestlm.lm import Generator, load_prompt
from interestlm.profiles.edits import effective_interest_weights
from interestlm.profiles.summary import template_summary
from interestlm.text.mentions import (
    MentionIndex,
    concept_mentions,
    display_title,
    normalise,
    quoted_spans,
    title_forms,
)

_MAX_INTERESTS = 3
_MIN_SHARE = 0.05
_MAX_LIKED = 2
_MAX_DISLIKES = 2
_MAX_CHARS = 320
#: Words that turn a clause negative ("not into horror", "hates gore", "avoids romance").
NEGATIVE_CUES = frozenset(
    {
        "not", "no", "never", "nor", "hate", "hates", "hated", "dislike", "dislikes", "disliked", "avoid", "avoids",
        "avoided", "cannot", "cant", "dont", "doesnt", "isnt", "arent", "without", "except", "less", "unlike",
        "skip", "skips",
    }
)
_CLAUSE = re.compile(r"[.;:!?]|,|\bbut\b|\bthough\b|\bwhile\b|\bwhereas\b|\bhowever\b", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
#: The unfinished sentence the summary prompt ends with.
SUMMARY_OPENING = "This viewer"


@dataclass(frozen=True, kw_only=True)
class SummaryFacts:
    """What a summary may say: interests (name, share), the recent interest, disliked concepts.

    ``liked`` (item indices) may be named but are not put in the prompt: a small model turns
    titles into invented plots.
    """

    interests: tuple[tuple[str, float], ...]
    liked: tuple[int, ...]
    lately: str
    dislikes: tuple[str, ...]

    def concepts(self) -> set[str]:
        """Normalised concept names the summary may mention (interest labels split at ``&``)."""
        names = {part for name, _ in self.interests for part in name.split(" & ")}
        names.update(self.lately.split(" & ") if self.lately else ())
        names.update(self.dislikes)
        return {normalise(n) for n in names if normalise(n)}

    def line(self) -> str:
        """The facts in the template's words, e.g. "Mostly into jazz (60%) and blues (40%); lately: blues."."""
        text = "Mostly into " + _and([f"{n} ({round(100 * s)}%)" for n, s in self.interests])
        if self.lately:
            text += f"; lately: {self.lately}"
        text += "."
        if self.dislikes:
            text += " Dislikes: " + _and(list(self.dislikes)) + "."
        return text


def _and(parts: Sequence[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def summary_facts(profile: InterestProfile) -> SummaryFacts:
    """The facts of a profile, in the template's terms (labelled interests by effective share)."""
    weights = effective_interest_weights(profile)
    share: dict[str, float] = {}
    medoid: dict[str, int] = {}
    for j, interest in enumerate(profile.interests):
        if interest.label and weights[j] > 0:
            share[interest.label] = share.get(interest.label, 0.0) + float(weights[j])
            medoid.setdefault(interest.label, interest.medoid)
    shown = [n for n in sorted(share, key=lambda n: -share[n]) if share[n] >= _MIN_SHARE][:_MAX_INTERESTS]
    owner = {item: i.label for i in profile.interests for item in i.items}
    lately = next((owner[i] for i in profile.short_term_items if owner.get(i) in shown), "")
    positive = {n for n, w in profile.concepts if w > 0}
    positive.update(part for n in shown for part in n.split(" & "))
    dislikes = tuple(n for n, w in profile.disliked_concepts if w <= -0.5 and n not in positive)[:_MAX_DISLIKES]
    liked = tuple(dict.fromkeys(medoid[n] for n in shown))[:_MAX_LIKED]
    return SummaryFacts(
        interests=tuple((n, share[n]) for n in shown),
        liked=liked,
        lately=lately if shown and lately != shown[0] else "",
        dislikes=dislikes,
    )


def clean_reply(raw: str, *, max_sentences: int, opening: str = "") -> str:
    """The first paragraph of a reply, without a leading label or wrapping quotes, cut to whole sentences.

    The prompts end in an unfinished sentence (``opening``); a reply that continues it gets the
    opening put in front (it starts in lower case), one that repeats it is kept as it is.
    """
    text = raw.strip().split("\n\n")[0].replace("\n", " ").strip()
    text = re.sub(r"^(description|sentence|summary|answer)\s*:\s*", "", text, flags=re.IGNORECASE).strip()
    if len(text) >= 2 and text[0] == text[-1] == '"' and text.count('"') == 2:
        text = text[1:-1].strip()
    if opening and not normalise(text).startswith(normalise(opening)) and text[:1].islower():
        text = f"{opening} {text}"
    sentences = [s for s in _SENTENCE_END.split(text) if s]
    return " ".join(sentences[:max_sentences]).strip()


def clauses(text: str) -> list[str]:
    """``text`` split at punctuation and contrast words ("but", "though", ...)."""
    return [c for c in _CLAUSE.split(text) if c and c.strip()]


def is_negative(clause: str) -> bool:
    """True when the clause holds a negation or dislike cue word."""
    return bool(NEGATIVE_CUES & set(normalise(clause).split()))


def check_citations(
    text: str, *, mentions: MentionIndex, allowed_items: set[int], allowed_concepts: set[str]
) -> None:
    """Raise ValueError when ``text`` names a title or concept outside the allowed ones."""
    for span in quoted_spans(text):
        if not mentions.items_named(span) & allowed_items:
            raise ValueError(f"unsupported title: {span!r} is not in the evidence")
    extra_items = mentions.items(text, besides=allowed_items) - allowed_items
    # A title that is also an allowed concept name ("Heist"; "children" for "Children, The (2008)")
    # is that concept, not a citation.
    extra_items = {i for i in extra_items if not any(f in allowed_concepts for f in _forms(mentions, i))}
    if extra_items:
        raise ValueError(f"unsupported title: item(s) {sorted(extra_items)[:3]} are not in the evidence")
    allowed_words = {normalise(display_title(mentions.titles[i])) for i in allowed_items}
    extra = {
        c
        for c in mentions.concepts(text, besides=allowed_concepts)
        if normalise(c) not in allowed_concepts and not any(f" {normalise(c)} " in f" {w} " for w in allowed_words)
    }
    if extra:
        raise ValueError(f"unsupported concept: {sorted(extra)[:3]} are not in the evidence")


def _forms(mentions: MentionIndex, item: int) -> set[str]:
    """Every way of writing the item's title ("Children, The (2008)": "the children", "children", ...)."""
    return title_forms(mentions.titles[item])


def validate_summary(raw: str, facts: SummaryFacts, *, mentions: MentionIndex) -> str:
    """The cleaned summary, or ValueError naming why it cannot be shown."""
    text = clean_reply(raw, max_sentences=2, opening=SUMMARY_OPENING)
    if not normalise(text).startswith(normalise(SUMMARY_OPENING)):
        raise ValueError("off topic: does not describe the viewer")
    if len(text) < 20:
        raise ValueError("too short: fewer than 20 characters")
    if len(text) > _MAX_CHARS:
        raise ValueError(f"too long: more than {_MAX_CHARS} characters")
    allowed = facts.concepts()
    check_citations(text, mentions=mentions, allowed_items=set(facts.liked), allowed_concepts=allowed)
    interests = {normalise(p) for n, _ in facts.interests for p in n.split(" & ")}
    if not concept_mentions(text, interests):
        raise ValueError("no interest: names none of the profile's interests")
    dislikes = {normalise(d) for d in facts.dislikes}
    for clause in clauses(text):
        negative = is_negative(clause)
        named = concept_mentions(clause, allowed)
        if not negative and named & dislikes:
            raise ValueError(f"wrong polarity: dislike {sorted(named & dislikes)[0]!r} stated as a like")
        if negative and named & (interests - dislikes):
            raise ValueError(f"wrong polarity: interest {sorted(named & interests)[0]!r} stated as a dislike")
    return text


def lm_summary(
    profile: InterestProfile, generator: Generator, *, mentions: MentionIndex, titles: Sequence[str]
) -> tuple[str, str]:
    """``(summary, source)``: the LM's validated summary and ``kind:model``, or the template and ``template``."""
    fallback = template_summary(profile, titles=titles)
    facts = summary_facts(profile)
    if not facts.interests:
        return fallback, "template"
    prompt = load_prompt("summary")
    result = generator.generate(
        prompt,
        {"facts": facts.line()},
        lambda raw: validate_summary(raw, facts, mentions=mentions),
        max_tokens=80,
    )
    if result.text is None:
        return fallback, "template"
    return result.text, generator.source


def with_lm_summary(
    profile: InterestProfile, generator: Generator, *, mentions: MentionIndex, titles: Sequence[str]
) -> InterestProfile:
    """The profile with its summary (and ``summary_source``) written by :func:`lm_summary`."""
    text, source = lm_summary(profile, generator, mentions=mentions, titles=titles)
    return replace(profile, summary=text, summary_source=source)
