"""The one renderer: recommendations, explanations and profiles as JSON (and readable text).

The library's ``*_json`` methods, the command line (``--json`` and its tables) and the HTTP
service all render here, so one recommendation has one shape everywhere::

    {"item_id", "title", "score", "image",
     "explanation", "explanation_source", "reason", "interest", "concepts", "evidence", "path",
     "contributions"}

``image`` is the path of the item's picture on the HTTP service (``/v1/items/{id}/image``), null
for an item without one;
``interest`` is ``null`` when no interest carried the item; ``contributions`` maps each signal
to its share of ``score`` (weight x value; they sum to it); ``reason`` names the largest one.
Language-model text is decided before rendering (``Recommender(text=LMWriter(...))``); the
renderer only writes what it is given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from interestlm.core.schema import Explanation, InterestProfile, Recommendation
from interestlm.core.tables import Catalog
from interestlm.core.types import FloatArray
from interestlm.profiles import profile_to_json


def item_ref(catalog: Catalog, item: int) -> dict[str, str]:
    """``{"item_id", "title"}`` of catalogue row ``item``."""
    return {"item_id": str(catalog.item_ids[item]), "title": catalog.titles[item]}


def image_path(catalog: Catalog, item: int) -> str | None:
    """Where the HTTP service serves catalogue row ``item``'s picture (None when it has none)."""
    if not catalog.images[item]:
        return None
    return f"/v1/items/{quote(str(catalog.item_ids[item]), safe='')}/image"


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
        "pinned": list(explanation.pinned),
    }


def recommendation_json(rec: Recommendation, catalog: Catalog) -> dict[str, Any]:
    """One recommendation (see the module doc for its shape; explanation fields only when explained)."""
    out: dict[str, Any] = {
        **item_ref(catalog, rec.item),
        "score": float(rec.score),
        "image": image_path(catalog, rec.item),
    }
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
    """A ``recommendations_json`` body as a readable numbered list: rank, title, item id, score,
    the signal that carried it and the explanation sentence (what ``interestlm recommend`` prints)."""
    recs = payload.get("recommendations", [])
    who = payload.get("user_id")
    head = f"Top-{len(recs)} for user {who}" if who is not None else f"Top-{len(recs)} for the described user"
    lines = [head + ":"]
    for rank, r in enumerate(recs, start=1):
        title = r.get("title") or "(no title)"
        reason = f", {r['reason']}" if r.get("reason") else ""
        lines.append(f"{rank:2d}. {title}  [item {r['item_id']}]  score {r['score']:.3f}{reason}")
        if r.get("explanation"):
            lines.append(f"    {r['explanation']}")
    return "\n".join(lines)


def profile_text(payload: Mapping[str, Any], *, n_concepts: int = 8) -> str:
    """A ``profile_json`` body as readable text: the summary, each interest with its weight and
    example items, likes and dislikes, the strongest concepts and the user's own edits."""
    lines = [f"Profile of user {payload.get('user_id')} ({payload.get('n_events', 0)} events)"]
    if payload.get("summary"):
        lines.append(f"  {payload['summary']}")
    for interest in payload.get("interests", []):
        examples = ", ".join(x["title"] for x in interest.get("exemplars", [])[:3])
        lines.append(f"  interest {interest['label']!r}: weight {interest['weight']:.2f}; e.g. {examples}")
    for key, label in (("likes", "likes"), ("dislikes", "dislikes")):
        items = payload.get(key, [])
        if items:
            shown = "; ".join(x["title"] for x in items[:4])
            lines.append(f"  {label} ({len(items)}): {shown}{' ...' if len(items) > 4 else ''}")
    concepts = payload.get("concepts", [])[:n_concepts]
    if concepts:
        lines.append("  concepts: " + ", ".join(f"{name} {weight:+.2f}" for name, weight in concepts))
    edits = payload.get("edits", {})
    if edits.get("pinned") or edits.get("muted"):
        lines.append(f"  your edits: pinned {edits.get('pinned', [])}, muted {edits.get('muted', [])}")
    return "\n".join(lines)


def predictions_json(
    user_id: str, item_ids: Sequence[str], ratings: FloatArray, contributions: Mapping[str, FloatArray]
) -> dict[str, Any]:
    """Predicted ratings: ``{"user_id", "predictions": [{"item_id", "rating", "contributions"}]}``;
    ``contributions`` are the shares of the rating (they sum to it; ``clip`` holds what clipping
    to the scale took off)."""
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
