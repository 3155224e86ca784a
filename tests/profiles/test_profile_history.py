from __future__ import annotations

import time

import numpy as np
import pytest

from interestlm.core.tables import KIND_CODE, Interactions
from interestlm.profiles import ReviewSentiment, histories_from_interactions, history_from_items
from interestlm.profiles.sentiment import RatingLevels


def _log() -> Interactions:
    # user 0: three ratings (one tie in time, kept in file order); user 1: like, dislike, a review
    # with no rating; user 2: nothing.
    return Interactions.build(
        user=[0, 1, 0, 0, 1, 1],
        item=[10, 20, 11, 12, 21, 22],
        user_ids=["a", "b", "c"],
        timestamp=[5, 1, 3, 5, 2, 3],
        rating=[5.0, np.nan, 1.0, 3.0, np.nan, np.nan],
        kind=[KIND_CODE[k] for k in ("rating", "like", "rating", "rating", "dislike", "review")],
        review=["", "", "", "", "", "Awful. Broke at once, a terrible waste of money."],
    )


def test_histories_are_time_ordered_with_stable_ties() -> None:
    hs = histories_from_interactions(_log(), prior_strength=0.0)
    assert len(hs) == 3
    np.testing.assert_array_equal(hs[0].items, [11, 10, 12])
    np.testing.assert_array_equal(hs[0].timestamps, [3, 5, 5])
    assert len(hs[2]) == 0
    assert hs[0].items.dtype == np.int32 and hs[0].polarity.dtype == np.float32


def test_rating_polarity_is_centred_per_user() -> None:
    hs = histories_from_interactions(_log(), prior_strength=0.0)
    # user 0: mean 3, all ratings span 1..5 -> scale 2
    np.testing.assert_allclose(hs[0].polarity, [-1.0, 1.0, 0.0])
    np.testing.assert_allclose(hs[0].ratings, [1.0, 5.0, 3.0])


def test_prior_shrinks_a_lone_rating_towards_the_global_mean() -> None:
    log = Interactions.build(user=[0, 0, 1], item=[1, 2, 3], user_ids=["a", "b"], rating=[5.0, 5.0, 1.0],
                             kind=[KIND_CODE["rating"]] * 3)
    hs = histories_from_interactions(log, prior_strength=5.0)
    # Centred on the shrunk mean (about 3.2), the 1-star is a full dislike.
    assert hs[1].polarity[0] == -1.0
    # Centred on itself it is no distance from the mean; a 1 of 5 is still a dislike, at the level.
    assert histories_from_interactions(log, prior_strength=0.0)[1].polarity[0] == -0.5


def test_ratings_read_on_the_scale_not_below_a_generous_mean() -> None:
    # User "a" rates generously (mean 4.0): a 3.5 is lukewarm (0), a 4 a like, a 2 a dislike.
    # User "b" rates harshly (mean 2.1): a 3.5 clears both their mean and the midpoint, a like.
    ratings = [5.0, 5.0, 4.5, 4.0, 3.5, 2.0, 1.0, 1.5, 3.5, 2.5]
    log = Interactions.build(user=[0] * 6 + [1] * 4, item=list(range(10)), user_ids=["a", "b"], rating=ratings,
                             kind=[KIND_CODE["rating"]] * 10, timestamp=list(range(10)))
    a, b = histories_from_interactions(log, prior_strength=0.0)
    np.testing.assert_allclose(a.polarity, [1.0, 1.0, 0.5, 0.5, 0.0, -1.0], atol=1e-6)
    np.testing.assert_allclose(b.polarity, [-1.0, -0.625, 0.5, -0.5], atol=1e-6)
    ten = histories_from_interactions(log, prior_strength=0.0, rating_scale=2.0,
                                      levels=RatingLevels(like_rating=8.0, dislike_rating=5.0, midpoint=5.5))
    assert np.all(ten[0].polarity < 0)  # every rating here is low on a ten-point scale


def test_likes_dislikes_and_review_text() -> None:
    hs = histories_from_interactions(_log(), sentiment=ReviewSentiment())
    np.testing.assert_array_equal(hs[1].items, [20, 21, 22])
    assert hs[1].polarity[0] == 1.0
    assert hs[1].polarity[1] == -1.0
    assert hs[1].polarity[2] < -0.5  # text only: the review has no rating
    no_text = histories_from_interactions(_log())
    assert no_text[1].polarity[2] == 0.0


def test_users_subset_in_given_order() -> None:
    hs = histories_from_interactions(_log(), users=np.array([1, 0], dtype=np.int32), prior_strength=0.0)
    np.testing.assert_array_equal(hs[0].items, [20, 21, 22])
    np.testing.assert_array_equal(hs[1].items, [11, 10, 12])
    with pytest.raises(ValueError, match="user indices"):
        histories_from_interactions(_log(), users=np.array([3], dtype=np.int32))


def test_many_users_is_fast() -> None:
    rng = np.random.default_rng(0)
    n_users, per_user = 22_000, 8
    user = np.repeat(np.arange(n_users), per_user)
    log = Interactions.build(
        user=user, item=rng.integers(0, 12_000, len(user)), user_ids=[str(u) for u in range(n_users)],
        timestamp=rng.integers(0, 10**6, len(user)), rating=rng.integers(1, 6, len(user)).astype(float),
        kind=np.full(len(user), KIND_CODE["rating"]),
    )
    t0 = time.perf_counter()
    hs = histories_from_interactions(log)
    assert time.perf_counter() - t0 < 5.0
    assert len(hs) == n_users and all(len(h) == per_user for h in hs[:100])
    assert all(np.all(np.diff(h.timestamps) >= 0) for h in hs[:100])


def test_history_from_items_sorts_and_scores() -> None:
    h = history_from_items([3, 1, 2], timestamps=[30, 10, 20], ratings=[5.0, 1.0, 3.0])
    np.testing.assert_array_equal(h.items, [1, 2, 3])
    np.testing.assert_allclose(h.polarity, [-1.0, 0.0, 1.0])
    plain = history_from_items([4, 5])
    np.testing.assert_array_equal(plain.timestamps, [0, 1])
    np.testing.assert_array_equal(plain.polarity, [0.0, 0.0])
    assert np.isnan(plain.ratings).all()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"items": [1, 2], "timestamps": [1]}, "timestamps"),
        ({"items": [1, 2], "ratings": [1.0]}, "ratings"),
        ({"items": [-1]}, "non-negative"),
        ({"items": [1], "polarity": [2.0]}, "polarity"),
    ],
)
def test_history_from_items_rejects_bad_input(kwargs: dict[str, list[float]], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        history_from_items(**kwargs)  # type: ignore[arg-type]
