"""Sentiment a person would sign: liked, lukewarm and disliked, on planted users with known answers."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interestlm.core.schema import Event, InterestProfile
from interestlm.core.tables import KIND_CODE, Interactions
from interestlm.profiles import (
    ReviewSentiment,
    histories_from_interactions,
    history_from_items,
    profile_from_state,
    profile_state,
    profile_to_json,
)
from interestlm.profiles.sentiment import RatingLevels, rating_polarity


def build(world: Any, items: list[int], ratings: list[float]) -> InterestProfile:
    profile: InterestProfile = world.builder().build("u", history_from_items(items, ratings=ratings))
    return profile


def concept_names(world: Any, items: list[int]) -> set[str]:
    m = world.concepts.matrix.tocsr()
    return {world.concepts.names[c] for i in items for c in m.indices[m.indptr[i] : m.indptr[i + 1]]}


def test_good_not_great_is_lukewarm_for_a_generous_rater(world: Any) -> None:
    # User 2 of ml-latest-small in miniature: mean about 4, four jazz items rated 4.5, 4, 3.5, 3
    # (the Nolan films), kitchen items mostly 5s, and a 3 for a kitchen classic (Shawshank).
    jazz, kitchen = world.topic_items["jazz"][:4], world.topic_items["kitchen"][:6]
    items = kitchen[:5] + jazz + kitchen[5:]
    ratings = [5.0, 5.0, 4.5, 5.0, 4.5, 4.5, 4.0, 3.5, 3.0, 3.0]
    profile = build(world, items, ratings)
    assert set(profile.likes) == set(kitchen[:5]) | set(jazz[:2])
    assert set(profile.lukewarm) == {jazz[2], jazz[3], kitchen[5]}
    assert profile.dislikes == () and profile.disliked_concepts == ()
    assert "jazz" in dict(profile.liked_concepts)
    assert "Dislikes" not in profile.summary


def test_low_on_the_scale_is_a_dislike_whoever_rates_it(world: Any) -> None:
    jazz, horror = world.topic_items["jazz"][:6], world.topic_items["horror"][:2]
    generous = build(world, jazz + horror, [5.0] * 6 + [2.0, 1.0])
    # A harsh rater (mean 2): their 2.5s are not below their own mean, yet low on the scale.
    harsh = build(world, jazz[:3] + horror, [2.0, 2.0, 2.0, 2.5, 2.5])
    for profile in (generous, harsh):
        assert set(horror) <= set(profile.dislikes)
        assert dict(profile.disliked_concepts)["horror"] < 0
    assert set(generous.likes) == set(jazz)
    assert set(harsh.dislikes) == set(jazz[:3]) | set(horror)


def test_a_harsh_raters_three_and_a_half_is_a_like(world: Any) -> None:
    # Mean about 2: a 3.5 clears both their mean and the scale's midpoint; a 3 does not.
    scifi, jazz, horror = world.topic_items["scifi"][:2], world.topic_items["jazz"][:2], world.topic_items["horror"][:4]
    profile = build(world, horror + scifi + jazz, [1.0, 1.5, 2.0, 1.0, 3.5, 3.5, 3.0, 3.0])
    assert set(profile.likes) == set(scifi)
    assert set(profile.lukewarm) == set(jazz)
    assert set(profile.dislikes) == set(horror)


def test_concept_of_a_top_rated_item_is_never_disliked(world: Any) -> None:
    # "film" is on the 4-star sci-fi item and on three 1-star horror items.
    scifi, horror = world.topic_items["scifi"][:1], world.topic_items["horror"][:3]
    profile = build(world, scifi + horror, [4.0, 1.0, 1.0, 1.0])
    assert scifi[0] in profile.likes
    assert dict(profile.disliked_concepts) == {"horror": -1.0}
    assert not set(dict(profile.liked_concepts)) & set(dict(profile.disliked_concepts))
    # The signed concept layer agrees: film is not negative there either.
    concepts = dict(profile.concepts)
    assert concepts["film"] > 0 and concepts["horror"] < 0


def test_a_concept_the_user_keeps_choosing_is_not_disliked(world: Any) -> None:
    # Six lukewarm sci-fi films and one hated horror film: "film" reads as neither a like nor a
    # dislike; "horror" is a dislike.
    scifi, horror = world.topic_items["scifi"][:6], world.topic_items["horror"][:1]
    profile = build(world, scifi + horror, [3.0] * 6 + [1.0])
    assert set(profile.lukewarm) == set(scifi) and profile.dislikes == tuple(horror)
    assert dict(profile.disliked_concepts) == {"horror": -1.0}


def test_explicit_dislike_and_negative_review_are_evidence(world: Any) -> None:
    builder = world.builder()
    jazz = world.topic_items["jazz"][:5]
    profile = builder.build("u", history_from_items(jazz, ratings=[4.5, 4.0, 4.5, 5.0, 4.0]))
    horror, kitchen = world.topic_items["horror"][0], world.topic_items["kitchen"][0]
    scifi = world.topic_items["scifi"][0]
    after = builder.update(profile, Event(item=horror, kind="dislike", timestamp=10))
    assert after.dislikes == (horror,)
    # A 3.5 with a scathing review is a dislike (the text is the evidence)...
    review = "Awful, terrible knife. Broke on day one, a waste of money."
    after = builder.update(after, Event(item=kitchen, kind="review", timestamp=11, value=3.5, text=review))
    assert kitchen in after.dislikes
    # ... but a 5-star review is never one, whatever VADER makes of its text.
    after = builder.update(after, Event(item=scifi, kind="review", timestamp=12, value=5.0, text=review))
    assert scifi not in after.dislikes
    # A rating below this generous user's mean but not low on the scale is lukewarm.
    lukewarm = builder.update(after, Event(item=world.topic_items["jazz"][9], kind="rate", timestamp=13, value=3.5))
    assert world.topic_items["jazz"][9] in lukewarm.lukewarm
    assert world.topic_items["jazz"][9] not in lukewarm.dislikes


def test_a_later_lukewarm_rating_overrides_an_earlier_dislike(world: Any) -> None:
    builder = world.builder()
    jazz = world.topic_items["jazz"][:4]
    profile = builder.build("u", history_from_items(jazz, ratings=[1.0, 4.0, 4.0, 4.0]))
    assert profile.dislikes == (jazz[0],)
    rerated = builder.update(profile, Event(item=jazz[0], kind="rate", timestamp=10, value=3.5))
    assert rerated.dislikes == () and jazz[0] in rerated.lukewarm
    assert jazz[0] in {x for i in rerated.interests for x in i.items}


def test_top_rating_protects_an_item_whatever_polarity_a_caller_gives(world: Any) -> None:
    items = world.topic_items["jazz"][:3]
    profile = world.builder().build(
        "u", history_from_items(items, ratings=[5.0, 4.0, 1.0], polarity=[-1.0, -1.0, -1.0])
    )
    assert profile.dislikes == (items[2],)


def test_lukewarm_is_shown_in_the_readable_json(world: Any) -> None:
    jazz = world.topic_items["jazz"][:3]
    profile = build(world, jazz, [5.0, 3.0, 1.0])
    out = profile_to_json(profile, item_ids=world.item_ids, titles=world.titles)
    assert [d["item_id"] for d in out["lukewarm"]] == [world.item_ids[jazz[1]]]
    assert [d["item_id"] for d in out["likes"]] == [world.item_ids[jazz[0]]]
    assert [d["item_id"] for d in out["dislikes"]] == [world.item_ids[jazz[2]]]
    # A plain view is evidence of nothing: in none of the three lists.
    viewed = world.builder().build("u", history_from_items(jazz))
    assert viewed.likes == viewed.lukewarm == viewed.dislikes == ()


def test_lukewarm_survives_the_stored_state_and_old_states_load(world: Any) -> None:
    profile = build(world, world.topic_items["jazz"][:3], [5.0, 3.0, 1.0])
    state, arrays = profile_state(profile)
    assert profile_from_state(state, arrays).lukewarm == profile.lukewarm == (world.topic_items["jazz"][1],)
    old = {k: v for k, v in state.items() if k != "lukewarm"}  # written before the level existed
    assert profile_from_state(old, arrays).lukewarm == ()


def test_histories_from_a_log_follow_the_same_levels(world: Any) -> None:
    # One log: a generous rater (mean 4.2) and a review-only dislike.
    log = Interactions.build(
        user=[0, 0, 0, 0, 0, 1], item=[0, 1, 2, 3, 4, 5], user_ids=["a", "b"], timestamp=[1, 2, 3, 4, 5, 6],
        rating=[5.0, 5.0, 4.5, 3.5, 3.0, np.nan],
        kind=[KIND_CODE["rating"]] * 5 + [KIND_CODE["review"]],
        review=[""] * 5 + ["Terrible, broke at once. Awful junk."],
    )
    a, b = histories_from_interactions(log, sentiment=ReviewSentiment(), prior_strength=0.0)
    builder = world.builder()
    pa, pb = builder.build("a", a), builder.build("b", b)
    assert set(pa.likes) == {0, 1, 2} and set(pa.lukewarm) == {3, 4} and pa.dislikes == ()
    assert pb.dislikes == (5,)


def test_rating_levels_are_checked() -> None:
    with pytest.raises(ValueError, match="dislike_rating <= midpoint <= like_rating"):
        RatingLevels(like_rating=3.0, dislike_rating=4.0, midpoint=3.5)
    with pytest.raises(ValueError, match="finite"):
        RatingLevels(like_rating=float("nan"))
    from interestlm.profiles import ProfileConfig

    with pytest.raises(ValueError, match="ProfileConfig"):
        ProfileConfig(rating_midpoint=5.5)  # a ten-point midpoint needs ten-point levels too
    ten = ProfileConfig(rating_midpoint=5.5, rating_scale=2.0, like_rating=8.0, dislike_rating=5.0)
    np.testing.assert_allclose(
        rating_polarity([9.0, 7.0, 4.0], user_mean=6.0, scale=2.0, levels=ten.rating_levels), [1.0, 0.5, -1.0]
    )


rated = st.lists(
    st.tuples(st.integers(0, 79), st.sampled_from([0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0])),
    min_size=1, max_size=40,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rated, st.lists(st.tuples(st.integers(0, 79), st.sampled_from(["like", "dislike", "view"])), max_size=5))
def test_sentiment_rules_hold_for_any_ratings(
    world: Any, rows: list[tuple[int, float]], events: list[tuple[int, str]]
) -> None:
    builder = world.builder()
    profile = builder.build("u", history_from_items([i for i, _ in rows], ratings=[r for _, r in rows]))
    for t, (item, kind) in enumerate(events, start=len(rows)):
        profile = builder.update(profile, Event(item=item, kind=kind, timestamp=t))
    h = profile.history
    latest: dict[int, tuple[float, str]] = {}
    for item, rating, pol in zip(h.items.tolist(), h.ratings.tolist(), h.polarity.tolist(), strict=True):
        if not np.isnan(rating):
            latest[item] = (rating, "rating")
        elif pol != 0:
            latest[item] = (np.nan, "explicit")
    liked, disliked = set(dict(profile.liked_concepts)), set(dict(profile.disliked_concepts))
    negative = {n for n, w in profile.concepts if w < 0}
    assert not liked & disliked and not liked & negative
    top = [i for i, (r, _) in latest.items() if r >= 4.0]
    assert not (disliked | negative) & concept_names(world, top + list(profile.likes))
    for item in profile.dislikes:
        rating, source = latest[item]
        assert source == "explicit" or rating <= 2.5
    for item in profile.lukewarm:
        assert latest[item][1] == "rating" and 2.5 < latest[item][0] < 4.0
    assert not set(profile.likes) & set(profile.dislikes)
    assert not set(profile.lukewarm) & (set(profile.likes) | set(profile.dislikes))
