"""Explanations as one short sentence, rendered only from their evidence."""

from __future__ import annotations

import functools
from collections.abc import Sequence

from interestlm.core.schema import Explanation

_MAX_TITLE = 60


def _title(item: int, titles: Sequence[str] | None) -> str:
    if titles is None or not 0 <= item < len(titles) or not titles[item].strip():
        return f"item {item}"
    return _quoted(titles[item])


@functools.lru_cache(maxsize=1 << 14)
def _quoted(raw: str) -> str:
    """A title on one line, double quotes made single, shortened, in double quotes (cached: the
    same titles are cited in many explanations)."""
    title = " ".join(raw.split()).replace('"', "'")
    if len(title) > _MAX_TITLE:
        title = title[: _MAX_TITLE - 1].rstrip() + "…"
    return f'"{title}"'


def _and_join(parts: Sequence[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _lead(explanation: Explanation, titles: Sequence[str] | None) -> str:
    """The opening that names the signal behind the score, when it is not the profile's own."""
    cited = _and_join([_title(i, titles) for i in explanation.evidence])
    pinned = _and_join(list(explanation.pinned))
    if explanation.reason == "collaborative" and cited:
        return f"People who liked {cited} also liked this"
    if explanation.reason == "collaborative":
        return "People with a history like yours liked this"
    if explanation.reason == "transition" and cited:
        return f"People who watched {cited} next watched this"
    if explanation.reason == "sequential" and cited:
        return f"It often comes next after {cited}"
    if explanation.reason == "visual" and cited:
        return f"It looks like {cited}, which you liked"
    if explanation.reason == "visual":
        return "It looks like pictures of what you liked"
    if explanation.reason == "popularity":
        return "Popular with everyone right now"
    if explanation.reason == "new_item":
        return "New in the catalogue"
    if explanation.reason == "pin":
        return f"You pinned {pinned}" if pinned else "It carries a concept you pinned"
    return ""


def render(explanation: Explanation, titles: Sequence[str] | None = None) -> str:
    """One sentence, e.g. 'Because you liked "Heat" and "Ronin" — it fits your crime interest and shares heist.'.

    ``titles[i]`` names item ``i`` (items without a title are called ``item i``). Missing parts
    are left out; an explanation with nothing in it says so plainly.
    """
    clauses: list[str] = []
    if explanation.interest_label.strip():
        clauses.append(f"fits your {explanation.interest_label.strip()} interest")
    if explanation.concepts:
        clauses.append("shares " + ", ".join(explanation.concepts))
    elif len(explanation.path) >= 2:
        first, *middle, last = explanation.path
        link = f"connects {first} to {last}"
        if middle:
            link += " through " + ", ".join(middle)
        clauses.append(link)
    reason = "it " + " and ".join(clauses) if clauses else ""
    lead = _lead(explanation, titles)
    if lead:
        return f"{lead} — {reason}." if reason else f"{lead}."
    if explanation.evidence:
        cited = _and_join([_title(i, titles) for i in explanation.evidence])
        return f"Because you liked {cited} — {reason}." if reason else f"Because you liked {cited}."
    if reason:
        return reason[0].upper() + reason[1:] + "."
    return "Something new, outside what you have shown interest in so far."
