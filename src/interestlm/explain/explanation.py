"""What an explanation may cite (only items the user interacted with and did not dislike), and
which signal it leads with (the one that really carried the score)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np

from interestlm.core.schema import Explanation, InterestProfile
from interestlm.explain.sentence import render


def citable_items(profile: InterestProfile) -> frozenset[int]:
    """History items an explanation may cite as something the user liked.

    An item qualifies when its latest row in the history has non-negative polarity and it is not
    in ``profile.dislikes``; items outside the history never qualify, nor do the seed items of a
    profile built from a text description (the user never saw them).
    """
    hist = profile.history
    items = np.asarray(hist.items, dtype=np.int64)
    if not len(items):
        return frozenset()
    # History rows are in time order: an item's latest row is its first in the reversed history.
    distinct, first = np.unique(items[::-1], return_index=True)
    latest = np.asarray(hist.polarity, dtype=np.float64)[::-1][first]
    keep = distinct[latest >= 0]  # NaN compares False, so an unknown polarity is never citable
    disliked = set(profile.dislikes) | profile.seed_items
    return frozenset(i for i in keep.tolist() if i not in disliked)


def grounding_rate(explanations: Sequence[Explanation], profiles: Sequence[InterestProfile]) -> float:
    """Fraction of explanations whose every evidence item is citable from that user's profile.

    ``profiles[j]`` is the profile ``explanations[j]`` was made for. Evidence is grounded when it
    is in the user's history and not disliked (:func:`citable_items`); an explanation without
    evidence cites nothing false and counts as grounded.
    """
    if len(explanations) != len(profiles):
        raise ValueError(f"grounding_rate got {len(explanations)} explanations but {len(profiles)} profiles")
    if not explanations:
        raise ValueError("grounding_rate needs at least one explanation")
    cache: dict[int, frozenset[int]] = {}
    grounded = 0
    for explanation, profile in zip(explanations, profiles, strict=True):
        allowed = cache.get(id(profile))
        if allowed is None:
            allowed = cache[id(profile)] = citable_items(profile)
        grounded += all(i in allowed for i in explanation.evidence)
    return grounded / len(explanations)


#: The signals that read the user's readable profile (interests, intent, concepts, graph).
PROFILE_SIGNALS: frozenset[str] = frozenset({"interest", "short_term", "concept", "graph"})

#: A part of the profile is named in an explanation only when its signals carried at least this
#: share of the item's positive score.
MIN_SHARE = 0.2


def top_contribution(contributions: Mapping[str, float]) -> str | None:
    """The signal with the largest positive share of a score (None when none is positive)."""
    best: tuple[float, str] | None = None
    for name, value in contributions.items():
        # math.isfinite: np.isfinite costs a microsecond per scalar, and this runs per item.
        if math.isfinite(value) and (best is None or (value, name) > best):
            best = (value, name)
    return best[1] if best is not None and best[0] > 0 else None


def with_reasons(
    explanations: Sequence[Explanation],
    contributions: Sequence[Mapping[str, float]],
    profile: InterestProfile,
    *,
    titles: Sequence[str] | None = None,
    sources: Sequence[Sequence[int]] | None = None,
    look_alikes: Sequence[Sequence[int]] | None = None,
    citable: frozenset[int] | None = None,
) -> list[Explanation]:
    """Explanations that say what really carried each score (``contributions[j]``: signal -> share).

    ``reason`` becomes the largest contributing signal and the sentence leads with it ("People
    who watched X next watched this", "Popular with everyone right now", ...). The interest,
    the concepts and the graph path are named only when their signals carried at least
    :data:`MIN_SHARE` of the item's positive score. ``sources[j]`` (optional) are the history
    items the transition / sequential signals started from; they become the evidence when one
    of those is the reason (only citable ones: never a disliked item). ``look_alikes[j]``
    (optional) are the history items whose pictures look most like item ``j``'s: the evidence
    when the ``visual`` signal carried it ("It looks like X, which you liked"). ``citable`` is
    :func:`citable_items` of ``profile`` when the caller has it already.
    """
    if citable is None:
        citable = citable_items(profile)
    pins = profile.edits.pinned
    out = []
    for j, (e, shares) in enumerate(zip(explanations, contributions, strict=True)):
        reason = top_contribution(shares)
        lifts = {n: v for n, v in shares.items() if math.isfinite(v) and v > 0}
        positive = sum(lifts.values())

        def share(*names: str, _lifts: Mapping[str, float] = lifts, _total: float = positive) -> float:
            return sum(_lifts.get(n, 0.0) for n in names) / _total if _total > 0 else 0.0

        keep_interest = share("interest") >= MIN_SHARE
        evidence = e.evidence
        if reason in ("transition", "sequential") and sources is not None:
            evidence = tuple(i for i in sources[j] if i in citable)[:2] or e.evidence
        elif reason == "visual":
            evidence = tuple(i for i in (look_alikes[j] if look_alikes is not None else ()) if i in citable)[:2]
        elif reason in ("popularity", "new_item"):
            evidence = ()
        draft = Explanation(
            item=e.item,
            reason=reason,
            interest=e.interest if keep_interest else None,
            interest_label=e.interest_label if keep_interest else "",
            concepts=e.concepts if share("concept", "graph", "pin") >= MIN_SHARE else (),
            # Only concepts the user really pinned may follow "You pinned".
            pinned=tuple(c for c in e.concepts if c in pins),
            path=e.path if share("graph") >= MIN_SHARE else (),
            evidence=evidence,
            text="",
            text_source=e.text_source,
        )
        out.append(replace(draft, text=render(draft, titles)))
    return out
