"""Per-user :class:`~interestlm.core.schema.History` from the interaction log (vectorised) or from item lists."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from interestlm.core.schema import History
from interestlm.core.tables import Interactions
from interestlm.core.types import IntArray
from interestlm.profiles.sentiment import (
    RatingLevels,
    ReviewSentiment,
    combine_polarity,
    level_polarity,
    rating_polarity,
)


def _rating_scale(ratings: npt.NDArray[np.float64]) -> float:
    known = ratings[~np.isnan(ratings)]
    if len(known) == 0:
        return 1.0
    return max(1.0, float(known.max() - known.min()) / 4.0)


def histories_from_interactions(
    interactions: Interactions,
    *,
    sentiment: ReviewSentiment | None = None,
    users: IntArray | None = None,
    rating_scale: float | None = None,
    prior_strength: float = 5.0,
    text_weight: float = 0.5,
    levels: RatingLevels | None = None,
) -> list[History]:
    """Each user's rows in time order (ties kept in file order), with a polarity per row.

    Returns one History per user index (``users`` given: per entry of ``users``, in that
    order). Ratings are placed on the scale's ``levels`` (default: five stars, see
    :class:`~interestlm.profiles.sentiment.RatingLevels`) and centred on the user's mean shrunk
    towards the global mean by ``prior_strength`` pseudo-ratings, divided by ``rating_scale``
    (default: a quarter of the span of all ratings, at least 1), as
    :func:`~interestlm.profiles.sentiment.rating_polarity`. Review text is scored by ``sentiment``
    when given and blended in by :func:`combine_polarity`.
    """
    if prior_strength < 0:
        raise ValueError(f"prior_strength must be >= 0, got {prior_strength}")
    n_users = interactions.n_users
    if users is None:
        wanted = np.arange(n_users, dtype=np.int32)
        inter = interactions
    else:
        wanted = np.asarray(users, dtype=np.int32)
        if wanted.ndim != 1:
            raise ValueError(f"users must be one-dimensional, got shape {wanted.shape}")
        if len(wanted) and (wanted.min() < 0 or wanted.max() >= n_users):
            raise ValueError(f"users must be user indices in [0, {n_users}), got values outside")
        keep = np.zeros(n_users, dtype=bool)
        keep[wanted] = True
        inter = interactions.select(keep[interactions.user])
    order = inter.time_order()
    user = inter.user[order]
    items = inter.item[order].astype(np.int32)
    timestamps = inter.timestamp[order].astype(np.int64)
    ratings = inter.rating[order].astype(np.float64)
    kinds = inter.kind[order]

    known = ~np.isnan(ratings)
    scale = _rating_scale(ratings) if rating_scale is None else float(rating_scale)
    global_mean = float(ratings[known].mean()) if known.any() else 0.0
    sums = np.bincount(user[known], weights=ratings[known], minlength=n_users)
    counts = np.bincount(user[known], minlength=n_users).astype(np.float64)
    denominator = counts + prior_strength
    means = np.divide(
        sums + prior_strength * global_mean, denominator, out=np.full(n_users, global_mean), where=denominator > 0
    )
    rating_pol = np.zeros(len(ratings), dtype=np.float32)
    if known.any():
        if not (np.isfinite(scale) and scale > 0):
            raise ValueError(f"rating_scale must be positive and finite, got {rating_scale}")
        rating_pol[known] = level_polarity(ratings[known], means[user[known]], scale, levels or RatingLevels())
    text_pol = np.zeros(len(ratings), dtype=np.float32)
    if sentiment is not None:
        reviews = inter.review[order]
        has_text = np.fromiter((bool(t) for t in reviews), dtype=bool, count=len(reviews))
        rows = np.flatnonzero(has_text)
        text_pol[rows] = sentiment.score(reviews[rows])
    polarity = combine_polarity(rating_pol, text_pol, kinds, has_rating=known, text_weight=text_weight)

    counts_all = np.bincount(user, minlength=n_users)
    bounds = np.concatenate([[0], np.cumsum(counts_all)])
    out: list[History] = []
    ratings32 = ratings.astype(np.float32)
    for u in wanted.tolist():
        lo, hi = int(bounds[u]), int(bounds[u + 1])
        out.append(
            History(
                items=items[lo:hi], timestamps=timestamps[lo:hi], ratings=ratings32[lo:hi], polarity=polarity[lo:hi]
            )
        )
    return out


def history_from_items(
    items: npt.ArrayLike,
    timestamps: npt.ArrayLike | None = None,
    ratings: npt.ArrayLike | None = None,
    *,
    polarity: npt.ArrayLike | None = None,
) -> History:
    """A History from item indices (timestamps default to positions 0, 1, ...).

    Rows are sorted by timestamp (stable). Polarity comes from ``ratings`` on a five-star scale
    centred on their own mean (:func:`rating_polarity`), unless given explicitly.
    """
    it = np.asarray(items, dtype=np.int64)
    if it.ndim != 1:
        raise ValueError(f"items must be one-dimensional, got shape {it.shape}")
    if len(it) and it.min() < 0:
        raise ValueError("items must be non-negative item indices")
    n = len(it)
    ts = np.arange(n, dtype=np.int64) if timestamps is None else np.asarray(timestamps, dtype=np.int64)
    r = np.full(n, np.nan, dtype=np.float32) if ratings is None else np.asarray(ratings, dtype=np.float32)
    for name, arr in (("timestamps", ts), ("ratings", r)):
        if arr.shape != (n,):
            raise ValueError(f"{name} has shape {arr.shape}, expected ({n},) like items")
    pol = rating_polarity(r) if polarity is None else np.asarray(polarity, dtype=np.float32)
    if pol.shape != (n,):
        raise ValueError(f"polarity has shape {pol.shape}, expected ({n},) like items")
    if np.isnan(pol).any() or np.abs(pol).max(initial=0.0) > 1.0:
        raise ValueError("polarity must be finite and within [-1, 1]")
    order = np.argsort(ts, kind="stable")
    return History(
        items=it[order].astype(np.int32), timestamps=ts[order], ratings=r[order], polarity=pol[order].astype(np.float32)
    )
