"""The explanation of one recommendation, and the check that its evidence is real."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from interestlm.schema import InterestProfile


@dataclass(frozen=True, kw_only=True)
class Explanation:
    """Why ``item`` was recommended to a user, from evidence in their profile.

    ``interest`` is the position in ``profile.interests`` of the cluster the item serves (None
    when no cluster is similar); ``concepts`` are concepts the item shares with the user's liked
    concepts, strongest first; ``evidence`` are 0-3 items from the user's history (never a
    disliked one) most similar to ``item``; ``path`` names concepts linking one of the user's
    concepts to one of the item's in the concept graph (empty when concepts are shared or no path
    exists); ``text`` is the rendered sentence and ``text_source`` who wrote it (``template``, or
    ``kind:model`` for validated language-model text).
    """

    item: int
    interest: int | None
    interest_label: str
    concepts: tuple[str, ...]
    evidence: tuple[int, ...]
    path: tuple[str, ...]
    text: str
    text_source: str = "template"


def citable_items(profile: InterestProfile) -> frozenset[int]:
    """History items an explanation may cite as something the user liked.

    An item qualifies when its latest row in the history has non-negative polarity and it is not
    in ``profile.dislikes``; items outside the history never qualify, nor do the seed items of a
    profile built from a text description (the user never saw them).
    """
    hist = profile.history
    latest: dict[int, float] = {}
    # History rows are in time order, so the last write per item is its latest polarity.
    for item, polarity in zip(hist.items.tolist(), hist.polarity.tolist(), strict=True):
        latest[int(item)] = float(polarity)
    disliked = set(profile.dislikes) | profile.seed_items
    return frozenset(i for i, p in latest.items() if p >= 0 and not np.isnan(p) and i not in disliked)


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
