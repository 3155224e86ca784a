"""The one renderer: recommendations, explanations and profiles as JSON (and readable text).

The library's ``*_json`` methods, the command line (``--json`` and its tables) and the HTTP
service all render here, so one recommendation has one shape everywhere::

    {"item_id", "title", "score",
     "explanation", "explanation_source", "reason", "interest", "concepts", "evidence", "path",
     "contributions"}

``interest`` is ``null`` when no interest carried the item; ``contributions`` maps each signal
to its share of ``score`` (weight x value; they sum to it); ``reason`` names the largest one.
Language-model text is decided before rendering (``Recommender(text=LMWriter(...))``); the
renderer only writes what it is given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from interestlm.core.schema import Explanation, InterestProfile, Recommendation
from interestlm.core.tables import Catalog
from interestlm.core.types import FloatArray
from interestlm.profiles import profile_to_json


def item_ref(catalog: Catalog, item: int) -> dict[str, str]:
    """``{"item_id", "title"}`` of catalogue row ``item``."""
    return {"item_id": str(catalog.item_ids[item]), "title": catalog.titles[item]}


def explanation_fields(explanation: Explanation, catalog: Catalog) -> dict[str, Any]:
    """The explanation's JSON fields (shared by a recommendation and a single explanation)."""
    return {
        "explanation": explanation.text,
        "explanation_source": explanation.text_source,
        "reason": explanation.reason,
        "interest": explanation.interest_label or None,
        "concepts": list(explanation.concepts),
        "evidence": [item_ref(catalog, i) for i in explanation.evidence],
        "path": list(explanation.path),
    }


def recommendation_json(rec: Recommendation, catalog: Catalog) -> dict[str, Any]:
    """One recommendation (see the module doc for its shape; explanation fields only when explained)."""
    out: dict[str, Any] = {**item_ref(catalog, rec.item), "score": float(rec.score)}
    if rec.explanation is not None:
        out.update(explanation_fields(rec.explanation, catalog))
    if rec.contributions:
        out["contributions"] = {name: round(float(v), 6) for name, v in rec.contributions.items()}
    return out


def recommendations_json(user_id: str | None, recs: Sequence[Recommendation], catalog: Catalog) -> dict[str, Any]:
    """``{"user_id", "recommendations": [...]}``."""
    return {"user_id": user_id, "recommendations": [recommendation_json(r, catalog) for r in recs]}


def explanation_json(user_id: str | None, item: int, explanation: Explanation, catalog: Catalog) -> dict[str, Any]:
    """``{"user_id", "item_id", "title", ...explanation fields}`` for one item."""
    return {"user_id": user_id, **item_ref(catalog, item), **explanation_fields(explanation, catalog)}


def profile_json(
    profile: InterestProfile, catalog: Catalog, *, next_items: Sequence[int] | None = None
) -> dict[str, Any]:
    """The layered profile as readable JSON (ids and titles, not indices).

    ``next_items`` (with a sequence model) are the unseen items it expects next: the profile's
    learned short-term layer, shown as ``sequential_intent``.
    """
    out = profile_to_json(profile, item_ids=catalog.item_ids, titles=catalog.titles)
    if next_items is not None:
        out["sequential_intent"] = {"model": "seqrec", "next_items": [item_ref(catalog, i) for i in next_items]}
    return out


def recommendations_text(payload: Mapping[str, Any]) -> str:
    """A readable table of :func:`recommendations_json`'s output: rank, score, title and why."""
    rows = payload.get("recommendations", [])
    lines = [f"Recommendations for {payload.get('user_id') or 'an anonymous user'}:"]
    if not rows:
        return lines[0] + " none."
    width = max(len(str(r["item_id"])) for r in rows)
    for rank, r in enumerate(rows, start=1):
        lines.append(f"{rank:>3}. {r['score']:+8.3f}  {r['item_id']:<{width}}  {r['title']}")
        if r.get("explanation"):
            lines.append(f"{'':>15}{r['explanation']}")
    return "\n".join(lines)


def predictions_json(
    user_id: str, item_ids: Sequence[str], ratings: FloatArray, contributions: Mapping[str, FloatArray]
) -> dict[str, Any]:
    """Predicted ratings: ``{"user_id", "predictions": [{"item_id", "rating", "contributions"}]}``;
    ``contributions`` are the shares of the unclipped estimate (they sum to it before clipping)."""
    return {
        "user_id": user_id,
        "predictions": [
            {
                "item_id": item_id,
                "rating": round(float(ratings[k]), 4),
                "contributions": {name: round(float(values[k]), 4) for name, values in contributions.items()},
            }
            for k, item_id in enumerate(item_ids)
        ],
    }
