"""Signed preference ("polarity", in ``[-1, 1]``) from ratings, explicit likes/dislikes and review text.

* Ratings are centred on the user's mean and divided by a scale in rating units, then clipped:
  on a 1-5 scale with ``scale=2`` a 5 from a user whose mean is 3.5 is ``+0.75``.
* Review text is scored by VADER (its lexicon ships inside the ``vaderSentiment`` package);
  the ``compound`` score is already in ``[-1, 1]``.
* An explicit like is ``+1`` and a dislike ``-1``; a review blends its text's polarity with its
  rating's.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from interestlm.core.tables import KIND_CODE
from interestlm.core.types import FloatArray


def rating_polarity(
    ratings: npt.ArrayLike, *, user_mean: float | None = None, scale: float | None = None
) -> FloatArray:
    """Ratings centred on ``user_mean`` and divided by ``scale``, clipped to ``[-1, 1]``; NaN -> 0.

    ``user_mean`` defaults to the mean of the (non-NaN) ``ratings``; ``scale`` (rating units that
    map to polarity 1) defaults to a quarter of the span of the ratings given, and at least 1, so
    one star above the user's own average is a clear like on a five-star scale (with half the
    span, a user who gives mostly 5s had no likes at all: 5 sat only 0.3 above their mean).
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
    out[known] = np.clip((r[known] - mean) / scale, -1.0, 1.0)
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
    default: every row), the text's polarity alone when it has none. Other rows keep their
    rating polarity.
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
    out[blend] = (1.0 - text_weight) * r[blend] + text_weight * t[blend]
    only_text = review & ~rated
    out[only_text] = t[only_text]
    out[k == KIND_CODE["like"]] = 1.0
    out[k == KIND_CODE["dislike"]] = -1.0
    return np.clip(np.nan_to_num(out), -1.0, 1.0).astype(np.float32)
