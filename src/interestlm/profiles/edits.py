"""A user's own corrections to a profile: pinned / muted concepts and interest weight overrides."""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import replace

import numpy as np

from interestlm.core.errors import BadInputError
from interestlm.core.names import NameIndex
from interestlm.core.schema import InterestProfile, ProfileEdits

FloatVector = np.ndarray[tuple[int], np.dtype[np.float64]]


def _names(values: Iterable[str], what: str, index: NameIndex) -> frozenset[str]:
    """The vocabulary spellings of ``values`` (any spelling a person would type; unknown ones raise)."""
    if isinstance(values, str):
        raise BadInputError(f"{what} must be a collection of concept names, not the string {values!r}")
    out = set()
    for v in values:
        if not isinstance(v, str) or not v.strip():
            raise BadInputError(f"{what}: concept names must be non-empty strings, got {v!r}")
        out.add(index.names[index.resolve(v)])
    return frozenset(out)


def profile_concept_names(profile: InterestProfile) -> frozenset[str]:
    """Every concept name that appears anywhere in ``profile`` (layers and current edits)."""
    names = {n for n, _ in profile.concepts}
    names.update(n for n, _ in profile.explore)
    names.update(n for n, _ in profile.liked_concepts)
    names.update(n for n, _ in profile.disliked_concepts)
    for interest in profile.interests:
        names.update(n for n, _ in interest.concepts)
    names.update(profile.edits.pinned)
    names.update(profile.edits.muted)
    return frozenset(names)


def edit_profile(
    profile: InterestProfile,
    *,
    pin: Iterable[str] = (),
    mute: Iterable[str] = (),
    unpin: Iterable[str] = (),
    unmute: Iterable[str] = (),
    interest_weights: Mapping[int, float | None] | None = None,
    vocabulary: Collection[str] | NameIndex | None = None,
) -> InterestProfile:
    """``profile`` with edits applied; muted concepts leave ``explore`` at once.

    Concept names may be spelled as a person types them ("Sci-Fi", "SciFi", "sci fi": one
    :class:`~interestlm.core.names.NameIndex`) and must be in ``vocabulary`` (default: the names
    the profile already mentions); an unknown one raises
    :class:`~interestlm.core.errors.UnknownConceptError` with "did you mean" suggestions.
    ``interest_weights`` maps an interest position to its new weight (``>= 0``; 0 hides the
    interest) or to None (drop the override).
    A concept cannot be pinned and muted at once. :meth:`ProfileBuilder.edit` also recomputes
    ``explore`` (pinned concepts seed it) and the summary.
    """
    known = vocabulary if vocabulary is not None else sorted(profile_concept_names(profile))
    index = known if isinstance(known, NameIndex) else NameIndex(list(known))
    # Removing an edit needs only the edit's own spelling, known or not.
    current = NameIndex(sorted(profile.edits.pinned | profile.edits.muted))
    pin_s, mute_s = _names(pin, "pin", index), _names(mute, "mute", index)
    unpin_s, unmute_s = _names(unpin, "unpin", current), _names(unmute, "unmute", current)
    both = sorted(pin_s & mute_s)
    if both:
        raise BadInputError(f"concept(s) cannot be both pinned and muted: {', '.join(map(repr, both))}")
    pinned = (profile.edits.pinned - unpin_s - mute_s) | pin_s
    muted = (profile.edits.muted - unmute_s - pin_s) | mute_s
    overrides = dict(profile.edits.interest_weights)
    for position, weight in (interest_weights or {}).items():
        if isinstance(position, bool) or not isinstance(position, int | np.integer):
            raise BadInputError(f"interest_weights keys must be interest positions (int), got {position!r}")
        if not 0 <= int(position) < len(profile.interests):
            raise BadInputError(
                f"interest position {position} is out of range: the profile has {len(profile.interests)} interests"
            )
        if weight is None:
            overrides.pop(int(position), None)
            continue
        w = float(weight)
        if not math.isfinite(w) or w < 0:
            raise BadInputError(f"interest weight for position {position} must be finite and >= 0, got {weight!r}")
        overrides[int(position)] = w
    edits = ProfileEdits(pinned=pinned, muted=muted, interest_weights=tuple(sorted(overrides.items())))
    explore = tuple((n, w) for n, w in profile.explore if n not in muted)
    return replace(profile, edits=edits, explore=explore)


def effective_interest_weights(profile: InterestProfile) -> FloatVector:
    """Interest weights after the user's overrides, renormalised to sum 1 (all zero if all hidden)."""
    w = np.array([i.weight for i in profile.interests], dtype=np.float64)
    for position, value in profile.edits.interest_weights:
        if 0 <= position < len(w):
            w[position] = value
    total = w.sum()
    out: FloatVector = w / total if total > 0 else np.zeros_like(w)
    return out
