"""Which known item titles and concept names a piece of generated text mentions.

Language-model text is checked against its evidence with this: a mention of a title or concept
outside the allowed set is a citation the evidence does not support. Matching is on normalised
forms (:func:`~interestlm.concepts.names.normalise_name`, whole words), with catalog titles also matched without
their ``(year)`` and with a trailing ``, The`` moved to the front, the way people write them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from interestlm.core.names import normalise_name

_YEAR = re.compile(r"\s*\((\d{4}(?:[-–]\d{0,4})?)\)\s*$")
_ARTICLE = re.compile(r"^(?P<body>.+), (?P<article>The|A|An|Les|La|Le|Il|Das|Der|Die|El|L')$", re.IGNORECASE)
_QUOTED = re.compile(r"[\"“”«»]([^\"“”«»]{2,120})[\"“”«»]")

#: Concept names so generic that mentioning them cites nothing (they appear as keyphrases in some
#: catalogs, and every sentence about films or products uses them).
GENERIC_WORDS = frozenset(
    {
        "film", "films", "movie", "movies", "story", "stories", "item", "items", "product", "products", "thing",
        "things", "series", "show", "shows", "book", "books", "music", "song", "songs", "good", "great", "best",
        "new", "old", "like", "likes", "love", "loves", "watch", "watching",
    }
)


def normalise(text: str) -> str:
    """The concept-name normal form (lower case, punctuation as spaces, apostrophes dropped)."""
    return normalise_name(text)


def display_title(title: str) -> str:
    """``"Matrix, The (1999)"`` -> ``"The Matrix"``: how a sentence names the item."""
    body = _YEAR.sub("", " ".join(title.split()))
    match = _ARTICLE.match(body)
    if match:
        body = f"{match['article']} {match['body']}"
    return body.strip() or title.strip()


def title_forms(title: str) -> set[str]:
    """Normalised ways of writing one title: as stored, without the year, article in front or dropped."""
    shown = display_title(title)
    forms = {normalise(title), normalise(shown), normalise(_YEAR.sub("", title))}
    match = _ARTICLE.match(_YEAR.sub("", " ".join(title.split())))
    if match:
        forms.add(normalise(match["body"]))
    return {f for f in forms if f}


def quoted_spans(text: str) -> list[str]:
    """Spans of ``text`` inside double quotes (straight, curly or guillemets)."""
    return [m.group(1).strip() for m in _QUOTED.finditer(text)]


class MentionIndex:
    """Finds catalog titles and concept names in text.

    ``titles[i]`` names item ``i``. Titles whose normalised forms are short single words (``"Up"``,
    ``"Heat"``) are too ambiguous to spot in free text; they are found only when quoted.
    """

    def __init__(self, titles: Sequence[str], concepts: Iterable[str], *, min_title_chars: int = 8) -> None:
        self.titles = list(titles)
        self._title_forms: dict[str, set[int]] = {}
        for i, title in enumerate(self.titles):
            for form in title_forms(title):
                self._title_forms.setdefault(form, set()).add(i)
        self._free_titles = {f: items for f, items in self._title_forms.items() if len(f) >= min_title_chars}
        self._concepts = {
            normalise(c): c for c in concepts if len(normalise(c)) >= 3 and normalise(c) not in GENERIC_WORDS
        }

    def items_named(self, span: str) -> set[int]:
        """Items whose title (any form) is exactly ``span`` once normalised."""
        return set(self._title_forms.get(normalise(span), set()))

    def items(self, text: str, *, besides: Iterable[int] = ()) -> set[int]:
        """Items whose (long enough) title appears in ``text`` as whole words.

        Words that spell a title of an item in ``besides`` (any of its forms) name that item and are
        blanked out first: ``"The Shining"`` in a sentence about The Shining (1980) does not also
        cite the 1997 series of the same name, nor does "Monsters, Inc." cite "Monsters" (2010).
        """
        padded = f" {normalise(text)} "
        forms = sorted({f for i in besides for f in title_forms(self.titles[i])}, key=len, reverse=True)
        for form in forms:
            padded = re.sub(rf"(?<= ){re.escape(form)}(?= )", "|", padded)
        found: set[int] = set()
        for form, items in self._free_titles.items():
            if f" {form} " in padded:
                found |= items
        return found

    def concepts(self, text: str, *, besides: Iterable[str] = ()) -> set[str]:
        """Concept names (as given) that appear in ``text`` as whole words.

        Words that spell one of the names in ``besides`` name that concept and are blanked out
        before the others are looked for, so ``"serial killer"`` does not also mention ``"killer"``.
        """
        padded = f" {normalise(text)} "
        named = {normalise(b) for b in besides} - {""}
        spelled = {form for form in named if f" {form} " in padded}
        for form in sorted(spelled, key=len, reverse=True):
            padded = re.sub(rf"(?<= ){re.escape(form)}(?= )", "|", padded)
        return {name for form, name in self._concepts.items() if form in spelled or f" {form} " in padded}


def concept_mentions(text: str, names: Iterable[str]) -> set[str]:
    """Which of ``names`` appear in ``text`` as whole words (normalised)."""
    padded = f" {normalise(text)} "
    return {n for n in names if normalise(n) and f" {normalise(n)} " in padded}
