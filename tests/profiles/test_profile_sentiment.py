from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from interestlm.core.tables import KIND_CODE
from interestlm.profiles import ReviewSentiment, combine_polarity, rating_polarity


def test_rating_polarity_centres_on_user_mean_and_scales() -> None:
    out = rating_polarity([5.0, 1.0, 3.0, np.nan], user_mean=3.0, scale=2.0)
    np.testing.assert_allclose(out, [1.0, -1.0, 0.0, 0.0])
    assert out.dtype == np.float32


def test_rating_polarity_defaults_to_own_mean_and_quarter_span() -> None:
    # mean 3, span 4 -> scale 1
    np.testing.assert_allclose(rating_polarity([1.0, 2.5, 3.0, 5.0], user_mean=3.0), [-1.0, -0.5, 0.0, 1.0])
    # a generous rater: mostly 5s (mean 4.5); the 5s are clear likes, the 1 a dislike, and the 4
    # a like at the level, not "below their mean" (it used to read -0.5, a dislike)
    pol = rating_polarity([5.0] * 8 + [1.0, 4.0])
    assert pol[0] >= 0.4 and pol[-1] == 0.5 and pol[-2] == -1.0
    # a 10-point scale: one unit is too fine, a quarter of the span (2.25) is used
    np.testing.assert_allclose(rating_polarity([1.0, 10.0], user_mean=5.5), [-1.0, 1.0])
    np.testing.assert_allclose(rating_polarity([1.0, 7.75, 10.0], user_mean=5.5), [-1.0, 1.0, 1.0])
    # scale never drops below 1 rating unit; a 4 among 4s and 5s is a like (it used to read -0.5)
    np.testing.assert_allclose(rating_polarity([4.0, 5.0]), [0.5, 0.5])


def test_rating_polarity_clips_and_handles_all_missing() -> None:
    assert rating_polarity([5.0], user_mean=1.0, scale=1.0)[0] == 1.0
    np.testing.assert_array_equal(rating_polarity([np.nan, np.nan]), [0.0, 0.0])


@pytest.mark.parametrize("kwargs", [{"scale": 0.0}, {"scale": -1.0}, {"user_mean": float("inf")}])
def test_rating_polarity_rejects_bad_settings(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"scale|user_mean"):
        rating_polarity([1.0, 2.0], **kwargs)


def test_rating_polarity_rejects_matrix() -> None:
    with pytest.raises(ValueError, match="one-dimensional"):
        rating_polarity([[1.0, 2.0]])


@given(st.lists(st.one_of(st.floats(0.5, 5.0), st.just(float("nan"))), max_size=30))
def test_rating_polarity_is_bounded_and_zero_where_unknown(ratings: list[float]) -> None:
    out = rating_polarity(ratings)
    assert out.shape == (len(ratings),)
    assert np.all(np.abs(out) <= 1.0)
    assert np.all(out[np.isnan(np.asarray(ratings))] == 0.0)


def test_review_sentiment_reads_tone() -> None:
    vader = ReviewSentiment()
    scores = vader.score(["Great strings, love them, excellent tone!", "Terrible, broke in a day. Awful junk.", ""])
    assert scores[0] > 0.5
    assert scores[1] < -0.5
    assert scores[2] == 0.0
    assert scores.dtype == np.float32


def test_review_sentiment_cuts_long_text() -> None:
    vader = ReviewSentiment(max_chars=10)
    assert vader.score_one("great " + "terrible awful " * 50) > 0
    with pytest.raises(ValueError, match="max_chars"):
        ReviewSentiment(max_chars=0)


def test_combine_polarity_by_kind() -> None:
    kinds = [KIND_CODE[k] for k in ("like", "dislike", "review", "review", "rating", "view")]
    rating = [0.0, 0.0, 0.6, 0.0, -0.4, 0.0]
    text = [-0.9, 0.9, -0.2, 0.8, 0.9, 0.0]
    has_rating = [False, False, True, False, True, False]
    out = combine_polarity(rating, text, kinds, has_rating=has_rating, text_weight=0.5)
    np.testing.assert_allclose(out, [1.0, -1.0, 0.2, 0.8, -0.4, 0.0], atol=1e-6)


def test_combine_polarity_rejects_misaligned_input() -> None:
    with pytest.raises(ValueError, match="same length"):
        combine_polarity([0.1], [0.1, 0.2], [0, 0])
    with pytest.raises(ValueError, match="text_weight"):
        combine_polarity([0.1], [0.1], [0], text_weight=1.5)


def test_review_text_cools_a_rating_at_a_level_but_never_flips_it() -> None:
    kinds = [KIND_CODE["review"]] * 4
    rating = [0.5, -0.5, 0.0, 1.0]  # a like at the level, a dislike at the level, lukewarm, a strong like
    text = [-1.0, 1.0, -0.9, -1.0]
    out = combine_polarity(rating, text, kinds, text_weight=0.8)
    # The like and the dislike cool to 0; a lukewarm rating with a scathing text reads negative.
    np.testing.assert_allclose(out, [0.0, 0.0, -0.72, 0.0], atol=1e-6)


def test_rating_levels_set_the_sign_and_the_users_mean_the_strength() -> None:
    # Mean 4.2 (generous): 3.5 lukewarm, 4 a like at the level, 2.5 a dislike, 1 a full one.
    np.testing.assert_allclose(
        rating_polarity([5.0, 4.0, 3.5, 2.5, 1.0], user_mean=4.2, scale=1.0), [0.8, 0.5, 0.0, -1.0, -1.0], atol=1e-6
    )
    # Mean 1.8 (harsh): 3.5 clears the midpoint (3) and the mean: a like; 2.5 still a dislike.
    np.testing.assert_allclose(rating_polarity([3.5, 3.0, 2.5], user_mean=1.8, scale=1.0), [0.5, 0.0, -0.5])
