"""Signed preference ("polarity", in ``[-1, 1]``) from ratings, explicit likes/dislikes and review text.

Three levels, read by :class:`~interestlm.profiles.builder.ProfileBuilder` at its like/dislike
thresholds: *liked*, *lukewarm* (evidence, but neither) and *disliked*. A dislike needs real
evidence; falling short of a generous rater's own mean is not one.

* A rating is placed on its own scale by :class:`RatingLevels` first, then centred on the user:
  at or above ``like_rating`` (4 of 5) it is a like, at or below ``dislike_rating`` (2.5 of 5) a
  dislike, each at least :data:`LEVEL_POLARITY` strong and stronger the further it sits from the
  user's mean; in between it is a like only when clearly above both the user's mean and the
  scale's ``midpoint``, and never negative (lukewarm). So a 3.5 from a user whose mean is 3.95 is
  lukewarm, a 4.5 from them a like, and a 2 a dislike whoever gives it.
* Review text is scored by VADER (its lexicon ships inside the ``vaderSentiment`` package);
  the ``compound`` score is already in ``[-1, 1]``.
* An explicit like is ``+1`` and a dislike ``-1``; a review blends its text's polarity with its
  rating's, and the text can cool a like or a dislike rating to lukewarm but not flip its sign.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from interestlm.core.tables import KIND_CODE
from interestlm.core.types import FloatArray

#: Polarity of a rating exactly at a level (``like_rating`` or, negated, ``dislike_rating``): above
#: the profile's default like/dislike thresholds (0.4), so a rating at a level always counts.
LEVEL_POLARITY = 0.5

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, kw_only=True)
class RatingLevels:
    """Where ratings sit on their own scale (defaults: a 0.5-5 or 1-5 star scale).

    ``like_rating``: at or above it a rating is a like whatever the user's mean; ``dislike_rating``:
    at or below it a dislike whatever the user's mean; ``midpoint``: the neutral rating (a rating
    between the two levels must rise above both it and the user's mean to count as a like). For a
    ten-point scale use e.g. ``RatingLevels(like_rating=8, dislike_rating=5, midpoint=5.5)``.
    """

    like_rating: float = 4.0
    dislike_rating: float = 2.5
    midpoint: float = 3.0

    def __post_init__(self) -> None:
        values = (self.dislike_rating, self.midpoint, self.like_rating)
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f"rating levels must be finite, got {values}")
        if not self.dislike_rating <= self.midpoint <= self.like_rating or self.dislike_rating >= self.like_rating:
            raise ValueError(
                "rating levels must satisfy dislike_rating <= midpoint <= like_rating with dislike_rating < "
                f"like_rating, got dislike_rating={self.dislike_rating}, midpoint={self.midpoint}, "
                f"like_rating={self.like_rating}"
            )


def level_polarity(ratings: F64, means: F64, scale: float, levels: RatingLevels) -> F64:
    """Polarity of known ratings (no NaN) given each one's user mean (same length), in ``[-1, 1]``.

    See the module doc: the level a rating falls in sets the sign, the distance from the user's
    mean (divided by ``scale``) the strength.
    """
    above = np.clip((ratings - np.maximum(means, levels.midpoint)) / scale, 0.0, 1.0)
    below = np.clip((ratings - means) / scale, -1.0, 0.0)
    out = np.where(ratings >= levels.like_rating, np.maximum(above, LEVEL_POLARITY), above)
    out = np.where(ratings <= levels.dislike_rating, np.minimum(below, -LEVEL_POLARITY), out)
    result: F64 = out.astype(np.float64)
    return result


def rating_polarity(
    ratings: npt.ArrayLike,
    *,
    user_mean: float | None = None,
    scale: float | None = None,
    levels: RatingLevels | None = None,
) -> FloatArray:
    """Ratings placed on their scale's ``levels`` and centred on ``user_mean``; NaN -> 0.

    ``user_mean`` defaults to the mean of the (non-NaN) ``ratings``; ``scale`` (rating units that
    map to polarity 1) defaults to a quarter of the span of the ratings given, and at least 1, so
    one star above the user's own average is a clear like on a five-star scale. ``levels``
    defaults to a five-star scale (:class:`RatingLevels`). A rating between the levels is never
    negative: only a rating low on the scale itself (or, elsewhere, a dislike or a negative review)
    makes a dislike.
    """
    r = np.asarray(ratings, dtype=np.float64)
    if r.ndim != 1:
        raise ValueError(f"ratings must be one-dimensional, got shape {r.shape}")
    known = ~np.isnan(r)
    if not known.any():
        return np.zeros(len(r), dtype=np.float32)
    mean = float(r[known].mean()) if user_mean is None else float(user_mean)
    if not np.isfinite(mean):
        raise ValueError(f"user_mean must be finite, got {user_mean}")
    if scale is None:
        scale = max(1.0, float(r[known].max() - r[known].min()) / 4.0)
    if not (np.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be positive and finite, got {scale}")
    out = np.zeros(len(r), dtype=np.float64)
    out[known] = level_polarity(r[known], np.full(int(known.sum()), mean), scale, levels or RatingLevels())
    return out.astype(np.float32)


class ReviewSentiment:
    """Review-text polarity with VADER: ``score(texts)`` gives each text's compound score.

    Texts longer than ``max_chars`` are cut (VADER's cost grows with length and a review's tone
    is set well before its 2,000th character). Empty texts score 0.
    """

    def __init__(self, *, max_chars: int | None = 2000) -> None:
        if max_chars is not None and max_chars <= 0:
            raise ValueError(f"max_chars must be positive or None, got {max_chars}")
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self.max_chars = max_chars
        self._analyzer = SentimentIntensityAnalyzer()

    def score_one(self, text: str) -> float:
        """The compound polarity of one text, in ``[-1, 1]``."""
        text = text if self.max_chars is None else text[: self.max_chars]
        if not text.strip():
            return 0.0
        return float(self._analyzer.polarity_scores(text)["compound"])

    def score(self, texts: Sequence[str] | npt.NDArray[np.object_]) -> FloatArray:
        """Compound polarity of every text (identical texts are scored once)."""
        cache: dict[str, float] = {}
        out = np.zeros(len(texts), dtype=np.float32)
        for j, text in enumerate(texts):
            t = "" if text is None else str(text)
            value = cache.get(t)
            if value is None:
                value = cache[t] = self.score_one(t)
            out[j] = value
        return out


def combine_polarity(
    rating_pol: npt.ArrayLike,
    text_pol: npt.ArrayLike,
    kinds: npt.ArrayLike,
    *,
    has_rating: npt.ArrayLike | None = None,
    text_weight: float = 0.5,
) -> FloatArray:
    """One polarity per row from its rating polarity, text polarity and kind code (``KIND_CODE``).

    ``like`` rows are ``+1`` and ``dislike`` rows ``-1``. ``review`` rows blend:
    ``(1 - text_weight) * rating + text_weight * text`` when the row has a rating (``has_rating``,
    default: every row), the text's polarity alone when it has none. The text may cool a rating at
    a level (``|rating| >= LEVEL_POLARITY``) to 0 but not flip its sign: VADER misreads enough
    reviews ("terrifying, loved it") that a 5-star review must not read as a dislike. Other rows
    keep their rating polarity.
    """
    if not 0.0 <= text_weight <= 1.0:
        raise ValueError(f"text_weight must be in [0, 1], got {text_weight}")
    r = np.asarray(rating_pol, dtype=np.float64)
    t = np.asarray(text_pol, dtype=np.float64)
    k = np.asarray(kinds)
    rated = np.ones(len(r), dtype=bool) if has_rating is None else np.asarray(has_rating, dtype=bool)
    if not (len(r) == len(t) == len(k) == len(rated)):
        raise ValueError(
            f"rating_pol ({len(r)}), text_pol ({len(t)}), kinds ({len(k)}) and has_rating ({len(rated)}) "
            "must have the same length"
        )
    out = r.copy()
    review = k == KIND_CODE["review"]
    blend = review & rated
    mixed = (1.0 - text_weight) * r + text_weight * t
    mixed = np.where(r >= LEVEL_POLARITY, np.maximum(mixed, 0.0), mixed)
    mixed = np.where(r <= -LEVEL_POLARITY, np.minimum(mixed, 0.0), mixed)
    out[blend] = mixed[blend]
    only_text = review & ~rated
    out[only_text] = t[only_text]
    out[k == KIND_CODE["like"]] = 1.0
    out[k == KIND_CODE["dislike"]] = -1.0
    return np.clip(np.nan_to_num(out), -1.0, 1.0).astype(np.float32)
