"""Names as a person types them -> one spelling: concept names, tags and pinned / muted concepts.

``'Sci-Fi'``, ``'sci fi'`` and ``'SCI_FI'`` all become ``'sci fi'``, so a genre, a user tag and
a knowledge-graph entity that name the same thing meet in one concept. :class:`NameIndex` also
finds ``'SciFi'`` (the same letters without the spaces) and suggests close names for a typo.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Sequence

from interestlm.core.errors import UnknownConceptError, close_names

_AMPERSAND = re.compile(r"\s&\s")
# Apostrophes join ("children's" -> "childrens") rather than split off a one-letter token.
_APOSTROPHES = re.compile(r"['\u2019`\u00b4]")
_NON_WORD = re.compile(r"[\W_]+")


@functools.lru_cache(maxsize=1 << 16)
def normalise_name(text: str) -> str:
    """Lower case, punctuation to spaces, apostrophes dropped, single spaces; ``' & '`` reads ``' and '``.

    Cached: explanations and profile signals normalise the same concept names for every user.
    """
    s = unicodedata.normalize("NFKC", text).lower()
    s = _AMPERSAND.sub(" and ", s)
    s = _APOSTROPHES.sub("", s)
    s = _NON_WORD.sub(" ", s)
    return " ".join(s.split())


def spelling_key(name: str) -> str:
    """Key under which spellings of one name meet: accents, spaces and a plural ``s`` dropped.

    ``'sci fi'``, ``'Sci-Fi'`` and ``'SciFi'``, ``'super hero'`` and ``'superhero'``, ``'zombie'``
    and ``'zombies'``, ``'pokémon'`` and ``'pokemon'`` share a key. Only an ``s`` after at least
    five letters counts as a plural, and never after another ``s``: short words change meaning with
    it (``'blues'`` is no more ``'blue'`` than ``'news'`` is ``'new'``), and ``'glass'`` is no plural.
    """
    decomposed = unicodedata.normalize("NFKD", normalise_name(name))
    key = "".join(ch for ch in decomposed if not unicodedata.combining(ch) and not ch.isspace())
    if len(key) > 5 and key.endswith("s") and not key.endswith("ss"):
        key = key[:-1]
    return key


class NameIndex:
    """Positions of names (e.g. concept columns) looked up by any spelling a person would type.

    Exact normalised spelling first, then the :func:`spelling_key` (spaces, accents and a plural
    ignored) when that names one position only. :meth:`resolve` raises
    :class:`UnknownConceptError` with close suggestions.
    """

    def __init__(self, names: Sequence[str]) -> None:
        self.names = list(names)
        self._exact: dict[str, int] = {}
        compact: dict[str, set[int]] = {}
        for i, name in enumerate(self.names):
            norm = normalise_name(name)
            self._exact.setdefault(norm, i)
            compact.setdefault(spelling_key(norm), set()).add(i)
        self._compact = {key: next(iter(v)) for key, v in compact.items() if len(v) == 1}

    def get(self, name: str) -> int | None:
        """Position of ``name`` in any spelling, or None."""
        norm = normalise_name(name)
        found = self._exact.get(norm)
        return found if found is not None else self._compact.get(spelling_key(norm))

    def resolve(self, name: str, *, what: str = "concept") -> int:
        """Position of ``name``; unknown names raise :class:`UnknownConceptError` with suggestions."""
        found = self.get(name)
        if found is None:
            suggestions = close_names(normalise_name(name), self._exact)
            raise UnknownConceptError(f"unknown {what} {name!r}", suggestions=suggestions)
        return found

    def resolve_all(self, names: Iterable[str], *, what: str = "concept") -> list[int]:
        """Positions of several names (the first unknown one raises)."""
        return [self.resolve(n, what=what) for n in names]
