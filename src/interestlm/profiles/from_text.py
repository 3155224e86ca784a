"""A new user from a free-text description of taste: liked / disliked concepts plus a query vector.

"I love slow-burn sci-fi, hate horror" becomes ``likes=("sci fi",)``, ``dislikes=("horror",)``
(concepts of the catalog's vocabulary only) and the text's own vector. Two parsers:

* :func:`parse_taste_rules` — no model: vocabulary names found in each clause, the clause's sign
  from cue words ("hate", "not", "can't stand" ...); always available, and the fallback;
* :func:`parse_taste_lm` — a language model sorts candidate topics (names from the vocabulary
  near the text) into a ``Likes:`` and a ``Dislikes:`` line; every name must be one of the candidates shown,
  and none the text spells out may change side; the rules' concepts are kept beside the model's.

:func:`taste_profile` turns either into a cold-start profile: the items nearest to the text that
carry liked and no disliked concepts seed the interests; the concepts are set from the parse.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from interestlm.concepts.names import OPAQUE_KINDS
from interestlm.core.names import normalise_name
from interestlm.core.schema import SEED_ITEMS, InterestProfile, ItemConcepts
from interestlm.core.types import FloatArray
from interestlm.lm import Generator, load_prompt
from interestlm.profiles.builder import ProfileBuilder
from interestlm.profiles.history import history_from_items
from interestlm.profiles.lm_summary import clauses, is_negative
from interestlm.text.mentions import MentionIndex, normalise, title_forms

#: Phrases that make a clause negative although no single cue word does.
_NEGATIVE_PHRASES = ("can t stand", "cannot stand", "not a fan", "not into", "sick of", "tired of", "turned off")
_MAX_NGRAM = 3
_N_CANDIDATES = 12
#: Words of taste talk that are never the topic, though some catalogs have them as tags or
#: keyphrases ("I can't *stand* horror", "comedy any *day*", "I *watch* dramas").
FILLER_WORDS = frozenset(
    {
        "watch", "watching", "day", "days", "thing", "things", "stand", "really", "give", "fan", "love", "loves",
        "like", "likes", "hate", "hates", "avoid", "mostly", "sort", "sorts", "kind", "kinds", "all", "please",
        "film", "films", "movie", "movies", "good", "great", "lot", "much", "stuff", "enjoy", "into", "im",
    }
)
_N_SEEDS = 8


@dataclass(frozen=True, kw_only=True)
class Taste:
    """Liked and disliked concept names (normalised, in the vocabulary) and which parser found them."""

    likes: tuple[str, ...]
    dislikes: tuple[str, ...]
    source: str
    #: Catalog items the text names by title ("less violent than Fight Club"): the taste is
    #: measured from them, so they seed the profile whatever the clause's sign.
    references: tuple[int, ...] = ()


def _singular(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1]
    return word


class ConceptVocabulary:
    """Concept names of a catalog with lookup by any normalised or singular/plural spelling."""

    def __init__(self, item_concepts: ItemConcepts, *, titles: Sequence[str] | None = None) -> None:
        self.item_concepts = item_concepts
        self.titles = MentionIndex(titles, ()) if titles is not None else None
        self.names = list(item_concepts.names)
        self._lookup: dict[str, str] = {}
        for c, name in enumerate(self.names):
            if item_concepts.kinds[c] in OPAQUE_KINDS or name in FILLER_WORDS:
                continue
            for form in (name, _singular(name), " ".join(_singular(w) for w in name.split())):
                self._lookup.setdefault(form, name)

    def find(self, phrase: str) -> str | None:
        """The vocabulary name a phrase spells, or None."""
        norm = normalise_name(phrase)
        return self._lookup.get(norm) or self._lookup.get(" ".join(_singular(w) for w in norm.split()))

    def in_text(self, text: str) -> list[str]:
        """Vocabulary names in ``text``, longest match first at each position, left to right."""
        words = normalise_name(text).split()
        found: list[str] = []
        j = 0
        while j < len(words):
            for n in range(min(_MAX_NGRAM, len(words) - j), 0, -1):
                name = self.find(" ".join(words[j : j + n]))
                if name is not None:
                    found.append(name)
                    j += n
                    break
            else:
                j += 1
        return list(dict.fromkeys(found))

    def nearest(self, query: FloatArray, k: int) -> list[str]:
        """The ``k`` concepts whose embeddings are nearest the query (empty without concept vectors)."""
        vectors = self.item_concepts.vectors
        if vectors is None or k <= 0:
            return []
        sims = vectors @ query
        order = np.argsort(-sims, kind="stable")
        kinds = self.item_concepts.kinds
        return [self.names[c] for c in order.tolist() if kinds[c] not in OPAQUE_KINDS][:k]


def _negative(clause: str) -> bool:
    padded = f" {normalise_name(clause)} "
    return is_negative(clause) or any(f" {p} " in padded for p in _NEGATIVE_PHRASES)


def parse_taste_rules(text: str, vocabulary: ConceptVocabulary) -> Taste:
    """Vocabulary concepts per clause, signed by the clause's cue words (no model).

    "I love sci-fi. I hate horror." likes sci fi and dislikes horror; "less violent than Fight
    Club" dislikes violence and names Fight Club as a reference (its title words are not parsed
    as concepts).
    """
    likes: list[str] = []
    dislikes: list[str] = []
    references: list[int] = []
    for clause in clauses(text):
        named = sorted(vocabulary.titles.items(clause)) if vocabulary.titles is not None else []
        references.extend(named)
        rest = normalise(clause.replace("-", " "))
        for i in named:
            for form in sorted(title_forms(vocabulary.titles.titles[i]), key=len, reverse=True):  # type: ignore[union-attr]
                rest = re.sub(rf"(?<!\S){re.escape(form)}(?!\S)", " ", rest)
        (dislikes if _negative(clause) else likes).extend(vocabulary.in_text(rest.replace("-", " ")))
    disliked = list(dict.fromkeys(dislikes))
    liked = [c for c in dict.fromkeys(likes) if c not in disliked]
    return Taste(
        likes=tuple(liked), dislikes=tuple(disliked), source="template", references=tuple(dict.fromkeys(references))
    )


def validate_taste(
    raw: str, candidates: Sequence[str], vocabulary: ConceptVocabulary, rules: Taste | None = None
) -> Taste:
    """Read the model's two lines (``Likes: ...`` / ``Dislikes: ...``; the first label is in the
    prompt). Only topics shown count; no concept the text spells out may change side (``rules``:
    the cue-word parse); else ValueError. The result keeps every concept of ``rules`` too: words
    the text spells out are never lost."""
    text = raw.strip()
    if not text.lower().startswith("likes"):
        text = "Likes: " + text
    shown = set(candidates)
    out: dict[str, list[str]] = {"likes": [], "dislikes": []}
    for line in text.splitlines():
        label, _, body = line.partition(":")
        side = {"likes": "likes", "like": "likes", "dislikes": "dislikes", "dislike": "dislikes"}.get(
            normalise_name(label)
        )
        if side is None or not body.strip():
            continue
        for clause in clauses(body.replace("-", " ")):
            found = [c for c in vocabulary.in_text(clause) if c in shown]
            # "Likes: sci fi, but not comedy": a negated clause on the likes line is a dislike.
            target = "dislikes" if side == "likes" and _negative(clause) else side
            out[target].extend(found)
    if rules is not None:
        flipped = (set(out["likes"]) & set(rules.dislikes)) | (set(out["dislikes"]) & set(rules.likes))
        if flipped:
            raise ValueError(f"wrong polarity: {sorted(flipped)[0]!r} is on the other side in the text")
    if not out["likes"] and not out["dislikes"]:
        raise ValueError("empty: names none of the topics shown")
    before = rules or Taste(likes=(), dislikes=(), source="")
    dislikes = list(dict.fromkeys([*before.dislikes, *out["dislikes"]]))
    likes = [c for c in dict.fromkeys([*before.likes, *out["likes"]]) if c not in dislikes]
    return Taste(likes=tuple(likes), dislikes=tuple(dislikes), source="")


def parse_taste_lm(
    text: str, query: FloatArray, generator: Generator, vocabulary: ConceptVocabulary
) -> Taste:
    """The LM's parse when valid, else :func:`parse_taste_rules` (``source`` says which)."""
    rules = parse_taste_rules(text, vocabulary)
    if generator.lm.kind == "template":
        return rules
    # Topics the text spells out come first, then the nearest by meaning ("space opera" -> sci fi).
    candidates = list(dict.fromkeys([*rules.likes, *rules.dislikes, *vocabulary.nearest(query, _N_CANDIDATES)]))
    candidates = candidates[: max(_N_CANDIDATES, len(rules.likes) + len(rules.dislikes))]
    result = generator.generate(
        load_prompt("taste"),
        {"topics": ", ".join(candidates), "text": " ".join(text.split())},
        lambda raw: json.dumps(_taste_json(validate_taste(raw, candidates, vocabulary, rules))),
        max_tokens=64,
    )
    if result.text is None:
        return rules
    data = json.loads(result.text)
    return Taste(
        likes=tuple(data["likes"]), dislikes=tuple(data["dislikes"]), source=generator.source,
        references=rules.references,
    )


def _taste_json(taste: Taste) -> dict[str, list[str]]:
    return {"likes": list(taste.likes), "dislikes": list(taste.dislikes)}


def taste_profile(
    taste: Taste,
    query: FloatArray,
    *,
    builder: ProfileBuilder,
    item_vectors: FloatArray,
    item_concepts: ItemConcepts,
    user_id: str = "anonymous",
    text: str = "",
    n_seed: int = _N_SEEDS,
    popularity: FloatArray | None = None,
) -> InterestProfile:
    """A cold-start profile: seed items near the text with liked (and no disliked) concepts.

    With ``popularity`` (e.g. log counts), well-known items are preferred as seeds among equally
    fitting ones: their neighbours in the collaborative signals are the reliable ones.

    The profile's signed concepts are the parse itself (+1 liked, -1 disliked) ahead of the
    seeds' concepts at half weight, its short-term vector is the text's vector, and
    ``extra["taste"]`` records the parse. The seeds are recorded in ``extra["seed_items"]``
    (:data:`~interestlm.core.schema.SEED_ITEMS`): they stand in for a history, so the ranking keeps them
    (they are the best-fitting well-known items; filtering them as seen removed exactly the
    items a cold-start user most likely wants) and explanations never cite them as liked.
    """
    index = item_concepts.index_of()
    liked = np.zeros(item_concepts.n_concepts, np.float32)
    disliked = np.zeros(item_concepts.n_concepts, np.float32)
    for name in taste.likes:
        liked[index[name]] = 1.0
    for name in taste.dislikes:
        disliked[index[name]] = 1.0
    matrix = item_concepts.matrix
    like_match = np.asarray(matrix @ liked).ravel()
    dislike_match = np.asarray(matrix @ disliked).ravel()
    # Liked concepts dominate the seed choice; the text's meaning and popularity break ties.
    top = float(like_match.max()) if like_match.size else 0.0
    score = (like_match / top if top > 0 else like_match) + 0.5 * (item_vectors @ query) - 2.0 * (dislike_match > 0)
    if popularity is not None and float(np.max(popularity)) > 0:
        score = score + 0.5 * np.asarray(popularity, np.float32) / float(np.max(popularity))
    # Titles the text names come first: the taste is measured from them.
    score[list(taste.references)] = np.inf
    seeds = np.argsort(-score, kind="stable")[:n_seed].astype(np.int32)
    profile = builder.build(user_id, history_from_items(seeds))
    chosen = {*taste.likes, *taste.dislikes}
    concepts = [(n, 1.0) for n in taste.likes] + [(n, -1.0) for n in taste.dislikes]
    concepts += [(n, 0.5 * w) for n, w in profile.concepts if n not in chosen and w > 0]
    return replace(
        profile,
        concepts=tuple(concepts),
        liked_concepts=tuple((n, 1.0) for n in taste.likes) or profile.liked_concepts,
        disliked_concepts=tuple((n, -1.0) for n in taste.dislikes),
        short_term=query.astype(np.float32),
        extra={
            **profile.extra,
            "query": text,
            "taste": {**_taste_json(taste), "source": taste.source},
            SEED_ITEMS: [int(i) for i in seeds],
        },
    )
