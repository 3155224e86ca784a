"""Concept name normalisation: one spelling per concept, whatever the source wrote.

``'Sci-Fi'``, ``'sci fi'`` and ``'SCI_FI'`` all become ``'sci fi'``, so a genre, a user tag and
a knowledge-graph entity that name the same thing meet in one concept.
"""

from __future__ import annotations

import re
import unicodedata

from interestlm.schema import CONCEPT_KINDS

_AMPERSAND = re.compile(r"\s&\s")
# Apostrophes join ("children's" -> "childrens") rather than split off a one-letter token.
_APOSTROPHES = re.compile(r"['\u2019`\u00b4]")
_NON_WORD = re.compile(r"[\W_]+")

#: Kinds that come from a catalog's structured fields (never dropped for rarity, never merged together).
STRUCTURED_KINDS: frozenset[str] = frozenset({"genre", "category", "brand", "attribute"})

#: Kinds whose names are opaque ids (``"attribute 261"``): their embeddings say nothing about meaning.
OPAQUE_KINDS: frozenset[str] = frozenset({"attribute"})

#: When one name comes from several sources, the kind earliest here wins (structured before free text).
KIND_PRIORITY: dict[str, int] = {kind: rank for rank, kind in enumerate(CONCEPT_KINDS)}


def normalise_name(text: str) -> str:
    """Lower case, punctuation to spaces, apostrophes dropped, single spaces; ``' & '`` reads ``' and '``."""
    s = unicodedata.normalize("NFKC", text).lower()
    s = _AMPERSAND.sub(" and ", s)
    s = _APOSTROPHES.sub("", s)
    s = _NON_WORD.sub(" ", s)
    return " ".join(s.split())


def spelling_key(name: str) -> str:
    """Key under which spellings of one name meet: accents, spaces and a plural ``s`` dropped.

    ``'sci fi'`` and ``'scifi'``, ``'super hero'`` and ``'superhero'``, ``'zombie'`` and
    ``'zombies'``, ``'pokémon'`` and ``'pokemon'`` share a key. Only an ``s`` after at least five
    letters counts as a plural, and never after another ``s``: short words change meaning with it
    (``'blues'`` is no more ``'blue'`` than ``'news'`` is ``'new'``), and ``'glass'`` is no plural.
    """
    decomposed = unicodedata.normalize("NFKD", normalise_name(name))
    key = "".join(ch for ch in decomposed if not unicodedata.combining(ch) and not ch.isspace())
    if len(key) > 5 and key.endswith("s") and not key.endswith("ss"):
        key = key[:-1]
    return key
