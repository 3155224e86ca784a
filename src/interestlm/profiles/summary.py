"""One or two readable sentences from a profile's layers (the template; an LM may replace it)."""

from __future__ import annotations

from collections.abc import Sequence

from interestlm.core.schema import Interest, InterestProfile
from interestlm.profiles.edits import effective_interest_weights

#: Interests with a smaller (effective) share than this are left out of the summary.
_MIN_SHARE = 0.05
_MAX_INTERESTS = 3
#: Half-life, in actions, of a short-term item's say in the "lately" clause.
_LATELY_HALF_LIFE = 3.0
#: Disliked concepts weaker than this (the strongest is -1) are left out.
_MIN_DISLIKE = 0.5


def _join(parts: Sequence[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _name(interest: Interest, position: int, titles: Sequence[str] | None) -> str:
    if interest.label:
        return interest.label
    if titles is not None and 0 <= interest.medoid < len(titles) and titles[interest.medoid]:
        return f"things like {titles[interest.medoid]}"
    return f"interest {position + 1}"


def template_summary(profile: InterestProfile, *, titles: Sequence[str] | None = None) -> str:
    """E.g. "Mostly into jazz (55%) and kitchen (45%); lately: kitchen. Dislikes: horror."

    Shares are the interest weights after the user's overrides; "lately" names the interest
    that holds most of the short-term items when it is not the main one. ``titles`` (by item
    index) name interests that have no concept label.
    """
    if len(profile.history) == 0:
        return "No activity yet."
    weights = effective_interest_weights(profile)
    # Interests that read the same (same label) are one interest to a reader: merge their shares.
    share: dict[str, float] = {}
    name_of = [_name(interest, j, titles) for j, interest in enumerate(profile.interests)]
    for j, name in enumerate(name_of):
        if weights[j] > 0:
            share[name] = share.get(name, 0.0) + float(weights[j])
    ranked = sorted(share, key=lambda n: -share[n])
    shown = [n for n in ranked if share[n] >= _MIN_SHARE][:_MAX_INTERESTS]
    first = ""
    if shown:
        first = "Mostly into " + _join([f"{n} ({round(100 * share[n])}%)" for n in shown])
        owner = {item: name_of[j] for j, interest in enumerate(profile.interests) for item in interest.items}
        counts: dict[str, float] = {}
        for j, item in enumerate(profile.short_term_items):
            if item in owner and owner[item] in share:
                # Most recent first: the latest actions say more about "lately".
                counts[owner[item]] = counts.get(owner[item], 0.0) + 0.5 ** (j / _LATELY_HALF_LIFE)
        if counts:
            recent = min(counts, key=lambda n: (-counts[n], ranked.index(n)))
            if recent != shown[0]:
                first += f"; lately: {recent}"
        first += "."
    second: list[str] = []
    # A concept the user is net positive about (e.g. a broad genre that also shows up among
    # the dislikes) would mislead here.
    positive = {n for n, w in profile.concepts if w > 0}
    positive.update(n for interest in profile.interests for n in interest.label.split(" & ") if n)
    dislikes = [n for n, w in profile.disliked_concepts if w <= -_MIN_DISLIKE and n not in positive][:2]
    if dislikes:
        second.append("Dislikes: " + _join(dislikes))
    if profile.edits.pinned:
        second.append("pinned: " + _join(sorted(profile.edits.pinned)))
    tail = "; ".join(second)
    if tail:
        tail = tail[0].upper() + tail[1:] + "."
    text = " ".join(p for p in (first, tail) if p)
    return text or "No clear interests yet."
