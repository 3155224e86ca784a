"""Explanations as one short sentence, rendered only from their evidence."""

from __future__ import annotations

from collections.abc import Sequence

from interestlm.explain.explanation import Explanation

_MAX_TITLE = 60


def _title(item: int, titles: Sequence[str] | None) -> str:
    if titles is None or not 0 <= item < len(titles) or not titles[item].strip():
        return f"item {item}"
    title = " ".join(titles[item].split()).replace('"', "'")
    if len(title) > _MAX_TITLE:
        title = title[: _MAX_TITLE - 1].rstrip() + "…"
    return f'"{title}"'


def _and_join(parts: Sequence[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


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
    if explanation.evidence:
        cited = _and_join([_title(i, titles) for i in explanation.evidence])
        return f"Because you liked {cited} — {reason}." if reason else f"Because you liked {cited}."
    if reason:
        return reason[0].upper() + reason[1:] + "."
    return "Something new, outside what you have shown interest in so far."
