"""Profiles as readable JSON, as named vectors, and as an exact (JSON + numpy arrays) state.

* :func:`profile_to_json` — what a person or the web page reads (item ids and titles).
* :func:`profile_vectors` — what retrieval and ranking read.
* :func:`profile_state` / :func:`profile_from_state` — a lossless pair for persistence without
  pickle: a JSON-able dict plus a dict of numpy arrays (e.g. ``.npz``); Python floats go through
  JSON exactly (``repr`` round-trips), arrays keep their dtype.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from interestlm.core.schema import History, Interest, InterestProfile, ProfileEdits
from interestlm.profiles.edits import effective_interest_weights

#: Version tag of the state layout written by :func:`profile_state`.
STATE_FORMAT = "interestlm.profile/1"

_JSON_SCALARS = (str, int, float, bool, type(None))


def _pairs(pairs: Sequence[tuple[str, float]]) -> list[list[Any]]:
    return [[name, float(w)] for name, w in pairs]


def profile_to_json(
    profile: InterestProfile, *, item_ids: Sequence[str] | npt.NDArray[np.object_], titles: Sequence[str]
) -> dict[str, Any]:
    """The readable JSON of a profile; items appear as ``{"item_id", "title"}``.

    An interest without a concept label is labelled by its medoid's title. ``likes``,
    ``lukewarm`` and ``dislikes`` are the three sentiment levels (items rated or reviewed but
    neither liked nor disliked are ``lukewarm``; a plain view is in none of them).
    """
    if len(item_ids) != len(titles):
        raise ValueError(f"item_ids ({len(item_ids)}) and titles ({len(titles)}) must have the same length")

    def item(i: int) -> dict[str, str]:
        if not 0 <= i < len(item_ids):
            raise ValueError(f"item index {i} is outside item_ids (length {len(item_ids)})")
        return {"item_id": str(item_ids[i]), "title": str(titles[i])}

    effective = effective_interest_weights(profile)
    interests = [
        {
            "label": interest.label or f"things like {titles[interest.medoid]}",
            "weight": float(interest.weight),
            # After the user's own reweighting (0: hidden), renormalised: what ranking follows.
            "effective_weight": float(effective[position]),
            "medoid": item(interest.medoid),
            "exemplars": [item(i) for i in interest.exemplars],
            "concepts": _pairs(interest.concepts),
            "size": len(interest.items),
        }
        for position, interest in enumerate(profile.interests)
    ]
    edits = profile.edits
    return {
        "user_id": profile.user_id,
        "summary": profile.summary,
        "summary_source": profile.summary_source,
        "interests": interests,
        "likes": [item(i) for i in profile.likes],
        "dislikes": [item(i) for i in profile.dislikes],
        "lukewarm": [item(i) for i in profile.lukewarm],
        "liked_concepts": _pairs(profile.liked_concepts),
        "disliked_concepts": _pairs(profile.disliked_concepts),
        "short_term": {"items": [item(i) for i in profile.short_term_items]},
        "concepts": _pairs(profile.concepts),
        "explore": _pairs(profile.explore),
        "edits": {
            "pinned": sorted(edits.pinned),
            "muted": sorted(edits.muted),
            "interest_weights": {str(p): float(w) for p, w in edits.interest_weights},
        },
        "mean_rating": profile.mean_rating,
        "n_events": len(profile.history),
    }


def profile_vectors(profile: InterestProfile) -> dict[str, npt.NDArray[Any]]:
    """``interests`` (k x d, unit rows), ``interest_weights`` (k), ``medoids`` (k), ``short_term`` (d)."""
    dim = len(profile.short_term)
    vectors = (
        np.stack([i.vector for i in profile.interests]).astype(np.float32)
        if profile.interests
        else np.zeros((0, dim), dtype=np.float32)
    )
    return {
        "interests": vectors,
        "interest_weights": np.array([i.weight for i in profile.interests], dtype=np.float32),
        "medoids": np.array([i.medoid for i in profile.interests], dtype=np.int32),
        "short_term": profile.short_term.astype(np.float32),
    }


def _check_json(value: Any, where: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where}: non-finite float {value!r} cannot be stored as JSON")
    if isinstance(value, _JSON_SCALARS):
        return
    if isinstance(value, list):
        for j, v in enumerate(value):
            _check_json(v, f"{where}[{j}]")
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise ValueError(f"{where}: keys must be strings, got {k!r}")
            _check_json(v, f"{where}.{k}")
        return
    raise ValueError(f"{where}: {type(value).__name__} is not storable (use JSON types or a numpy array)")


def profile_state(profile: InterestProfile) -> tuple[dict[str, Any], dict[str, npt.NDArray[Any]]]:
    """The whole profile as ``(json_dict, arrays)``; :func:`profile_from_state` inverts it exactly.

    ``extra`` values must be JSON types (lists, not tuples) or numpy arrays.
    """
    h = profile.history
    arrays: dict[str, npt.NDArray[Any]] = {
        "history/items": h.items,
        "history/timestamps": h.timestamps,
        "history/ratings": h.ratings,
        "history/polarity": h.polarity,
        "short_term": profile.short_term,
        "interests/vectors": np.stack([i.vector for i in profile.interests])
        if profile.interests
        else np.zeros((0, len(profile.short_term)), dtype=profile.short_term.dtype),
    }
    extra_json: dict[str, Any] = {}
    for key, value in profile.extra.items():
        if isinstance(value, np.ndarray):
            arrays[f"extra/{key}"] = value
        else:
            _check_json(value, f"extra.{key}")
            extra_json[key] = value
    if profile.mean_rating is not None and not math.isfinite(profile.mean_rating):
        raise ValueError(f"mean_rating must be finite or None, got {profile.mean_rating}")
    state = {
        "format": STATE_FORMAT,
        "user_id": profile.user_id,
        "interests": [
            {
                "label": i.label,
                "weight": float(i.weight),
                "medoid": int(i.medoid),
                "items": [int(x) for x in i.items],
                "exemplars": [int(x) for x in i.exemplars],
                "concepts": _pairs(i.concepts),
                "cohesion": float(i.cohesion),
            }
            for i in profile.interests
        ],
        "likes": [int(i) for i in profile.likes],
        "dislikes": [int(i) for i in profile.dislikes],
        "lukewarm": [int(i) for i in profile.lukewarm],
        "liked_concepts": _pairs(profile.liked_concepts),
        "disliked_concepts": _pairs(profile.disliked_concepts),
        "short_term_items": [int(i) for i in profile.short_term_items],
        "concepts": _pairs(profile.concepts),
        "explore": _pairs(profile.explore),
        "summary": profile.summary,
        "summary_source": profile.summary_source,
        "edits": {
            "pinned": sorted(profile.edits.pinned),
            "muted": sorted(profile.edits.muted),
            "interest_weights": [[int(p), float(w)] for p, w in profile.edits.interest_weights],
        },
        "mean_rating": profile.mean_rating,
        "extra": extra_json,
    }
    return state, arrays


def _tuple_pairs(value: Any, where: str) -> tuple[tuple[str, float], ...]:
    try:
        return tuple((str(name), float(w)) for name, w in value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"profile state: {where} must be a list of [name, weight] pairs") from err


def profile_from_state(state: Mapping[str, Any], arrays: Mapping[str, npt.NDArray[Any]]) -> InterestProfile:
    """Rebuild the profile written by :func:`profile_state` (clear ValueError on a damaged state)."""
    if state.get("format") != STATE_FORMAT:
        raise ValueError(f"profile state: format {state.get('format')!r} is not {STATE_FORMAT!r}")
    needed = ("history/items", "history/timestamps", "history/ratings", "history/polarity", "short_term",
              "interests/vectors")
    missing = [k for k in needed if k not in arrays]
    if missing:
        raise ValueError(f"profile state: missing array(s) {', '.join(missing)}")
    try:
        vectors = np.asarray(arrays["interests/vectors"])
        raw_interests = list(state["interests"])
        if len(raw_interests) != len(vectors):
            raise ValueError(
                f"profile state: {len(raw_interests)} interests but interests/vectors has {len(vectors)} rows"
            )
        interests = tuple(
            Interest(
                label=str(d["label"]),
                weight=float(d["weight"]),
                vector=np.array(vectors[j]),
                medoid=int(d["medoid"]),
                items=tuple(int(x) for x in d["items"]),
                exemplars=tuple(int(x) for x in d["exemplars"]),
                concepts=_tuple_pairs(d["concepts"], f"interests[{j}].concepts"),
                cohesion=float(d["cohesion"]),
            )
            for j, d in enumerate(raw_interests)
        )
        history = History(
            items=np.array(arrays["history/items"]),
            timestamps=np.array(arrays["history/timestamps"]),
            ratings=np.array(arrays["history/ratings"]),
            polarity=np.array(arrays["history/polarity"]),
        )
        e = state["edits"]
        edits = ProfileEdits(
            pinned=frozenset(str(n) for n in e["pinned"]),
            muted=frozenset(str(n) for n in e["muted"]),
            interest_weights=tuple((int(p), float(w)) for p, w in e["interest_weights"]),
        )
        extra: dict[str, Any] = dict(state.get("extra", {}))
        extra.update({k.removeprefix("extra/"): np.array(v) for k, v in arrays.items() if k.startswith("extra/")})
        mean = state["mean_rating"]
        return InterestProfile(
            user_id=str(state["user_id"]),
            history=history,
            interests=interests,
            likes=tuple(int(i) for i in state["likes"]),
            dislikes=tuple(int(i) for i in state["dislikes"]),
            # States written before the lukewarm level existed have none.
            lukewarm=tuple(int(i) for i in state.get("lukewarm", ())),
            liked_concepts=_tuple_pairs(state["liked_concepts"], "liked_concepts"),
            disliked_concepts=_tuple_pairs(state["disliked_concepts"], "disliked_concepts"),
            short_term=np.array(arrays["short_term"]),
            short_term_items=tuple(int(i) for i in state["short_term_items"]),
            concepts=_tuple_pairs(state["concepts"], "concepts"),
            explore=_tuple_pairs(state["explore"], "explore"),
            summary=str(state["summary"]),
            summary_source=str(state["summary_source"]),
            edits=edits,
            mean_rating=None if mean is None else float(mean),
            extra=extra,
        )
    except KeyError as err:
        raise ValueError(f"profile state: missing field {err.args[0]!r}") from err
