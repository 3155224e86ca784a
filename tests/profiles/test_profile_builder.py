from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import pdist
from sklearn.cluster import AgglomerativeClustering
from sklearn.metrics import adjusted_rand_score

from interestlm.core.schema import Event, InterestProfile
from interestlm.profiles import ProfileBuilder, ProfileConfig, history_from_items
from interestlm.profiles.builder import ward_labels

DAY = 86_400


def interleave(a: list[int], b: list[int]) -> list[int]:
    return [x for pair in zip(a, b, strict=True) for x in pair]


def by_label(profile: InterestProfile) -> dict[str, Any]:
    return {i.label: i for i in profile.interests}


def check_invariants(profile: InterestProfile) -> None:
    weights = np.array([i.weight for i in profile.interests])
    if len(weights):
        assert np.all(weights >= 0)
        assert weights.sum() == pytest.approx(1.0)
        assert list(weights) == sorted(weights, reverse=True)
    history_items = set(profile.history.items.tolist())
    members = [x for i in profile.interests for x in i.items]
    assert len(members) == len(set(members)), "an item sits in two interests"
    assert set(members) <= history_items
    assert not set(members) & set(profile.dislikes)
    for interest in profile.interests:
        assert interest.medoid in interest.items
        assert set(interest.exemplars) <= set(interest.items) - {interest.medoid}
        assert np.linalg.norm(interest.vector) == pytest.approx(1.0, abs=1e-5)
    assert set(profile.likes) <= history_items and set(profile.dislikes) <= history_items
    norm = float(np.linalg.norm(profile.short_term))
    assert norm == pytest.approx(1.0, abs=1e-5) or norm == 0.0
    assert set(profile.short_term_items) <= history_items
    assert all(abs(w) <= 1.0 + 1e-9 for _, w in profile.concepts)


def test_two_planted_topics_give_two_labelled_interests(world: Any) -> None:
    jazz, kitchen = world.topic_items["jazz"][:10], world.topic_items["kitchen"][:10]
    profile = world.builder().build("u", history_from_items(interleave(jazz, kitchen)))
    check_invariants(profile)
    interests = by_label(profile)
    assert set(interests) == {"jazz & music", "kitchen & cookware"}
    assert set(interests["jazz & music"].items) == set(jazz)
    assert set(interests["kitchen & cookware"].items) == set(kitchen)
    for interest in profile.interests:
        assert interest.weight == pytest.approx(0.5, abs=0.01)
        assert len(interest.exemplars) == 3
        assert interest.concepts[0][1] == 1.0
    jazz_vec = interests["jazz & music"].vector
    assert float(world.vectors[jazz].mean(axis=0) @ jazz_vec) > float(world.vectors[kitchen].mean(axis=0) @ jazz_vec)
    assert profile.summary.startswith("Mostly into ")
    assert "jazz & music (50%)" in profile.summary and "kitchen & cookware (50%)" in profile.summary


def test_medoid_is_the_member_closest_to_all_others(world: Any) -> None:
    jazz = world.topic_items["jazz"][:8]
    profile = world.builder().build("u", history_from_items(jazz))
    (interest,) = profile.interests
    x = world.vectors[jazz].astype(np.float64)
    cost = np.linalg.norm(x[:, None] - x[None], axis=2).sum(axis=1)
    assert interest.medoid == jazz[int(np.argmin(cost))]


def test_recent_burst_dominates_short_term(world: Any) -> None:
    jazz, kitchen = world.topic_items["jazz"][:12], world.topic_items["kitchen"][:5]
    profile = world.builder().build("u", history_from_items(jazz + kitchen))
    check_invariants(profile)
    assert set(profile.short_term_items[:5]) == set(kitchen)
    to_kitchen = float(world.vectors[kitchen].mean(axis=0) @ profile.short_term)
    to_jazz = float(world.vectors[jazz].mean(axis=0) @ profile.short_term)
    assert to_kitchen > to_jazz + 0.2
    assert profile.interests[0].label == "jazz & music"
    assert "lately: kitchen & cookware" in profile.summary


def test_time_decay_favours_recent_interest(world: Any) -> None:
    # Daily events: every gap is under the cap, so time counts in full beside positions.
    jazz, kitchen = world.topic_items["jazz"][:8], world.topic_items["kitchen"][:8]
    ts = [d * DAY for d in range(16)]
    profile = world.builder(half_life_days=8.0).build("u", history_from_items(jazz + kitchen, timestamps=ts))
    weights = {i.label: i.weight for i in profile.interests}
    # Each jazz item is 8 events and 8 days older than its kitchen counterpart.
    assert weights["kitchen & cookware"] == pytest.approx(1 / (1 + 2 ** -(8 / 100 + 8 / 8)))


def test_position_decay_counts_actions(world: Any) -> None:
    jazz, kitchen = world.topic_items["jazz"][:10], world.topic_items["kitchen"][:10]
    builder = world.builder(time_unit="positions", half_life_positions=5.0)
    profile = builder.build("u", history_from_items(jazz + kitchen, timestamps=[7] * 20))
    weights = {i.label: i.weight for i in profile.interests}
    assert weights["kitchen & cookware"] == pytest.approx(1 / (1 + 2**-2))


def test_max_interests_caps_the_count(world: Any) -> None:
    items = [i for t in ("jazz", "kitchen", "horror", "scifi") for i in world.topic_items[t][:5]]
    assert len(world.builder().build("u", history_from_items(items)).interests) == 4
    capped = world.builder(max_interests=2).build("u", history_from_items(items))
    check_invariants(capped)
    assert len(capped.interests) == 2
    assert sum(len(i.items) for i in capped.interests) == len(items)


def test_long_history_clusters_recent_items_and_assigns_the_rest(world: Any) -> None:
    jazz, kitchen = world.topic_items["jazz"][:10], world.topic_items["kitchen"][:10]
    profile = world.builder(max_cluster_items=6).build("u", history_from_items(jazz + kitchen))
    check_invariants(profile)
    assert sum(len(i.items) for i in profile.interests) == 20
    for interest in profile.interests:
        assert interest.medoid in kitchen  # medoids come from the clustered (recent) items


def test_dislike_event_moves_item_to_dislikes_and_concepts_negative(world: Any) -> None:
    jazz, kitchen = world.topic_items["jazz"][:6], world.topic_items["kitchen"][:6]
    builder = world.builder()
    profile = builder.build("u", history_from_items(interleave(jazz, kitchen)))
    horror = world.topic_items["horror"][0]
    after = builder.update(profile, Event(item=horror, kind="dislike", timestamp=100))
    check_invariants(after)
    assert after.dislikes == (horror,)
    assert after.disliked_concepts[0] == ("horror", -1.0)
    concepts = dict(after.concepts)
    assert concepts["horror"] < 0 and concepts["film"] < 0
    assert all(horror not in i.items for i in after.interests)
    assert len(after.interests) == 2
    assert after.short_term_items[0] != horror
    assert "Dislikes: horror" in after.summary
    assert len(after.history) == len(profile.history) + 1


def test_dislike_of_a_member_removes_it_from_its_interest(world: Any) -> None:
    jazz, kitchen = world.topic_items["jazz"][:6], world.topic_items["kitchen"][:6]
    builder = world.builder()
    profile = builder.build("u", history_from_items(interleave(jazz, kitchen)))
    medoid = by_label(profile)["jazz & music"].medoid
    after = builder.update(profile, Event(item=medoid, kind="dislike", timestamp=100))
    check_invariants(after)
    jazz_interest = by_label(after)["jazz & music"]
    assert medoid not in jazz_interest.items and medoid in after.dislikes
    assert set(jazz_interest.items) == set(jazz) - {medoid}
    assert jazz_interest.medoid != medoid
    # A later like brings it back into an interest.
    back = builder.update(after, Event(item=medoid, kind="like", timestamp=101))
    check_invariants(back)
    assert medoid in by_label(back)["jazz & music"].items and medoid in back.likes


def test_single_interest_emptied_by_dislikes_disappears(world: Any) -> None:
    builder = world.builder()
    item = world.topic_items["jazz"][0]
    profile = builder.build("u", history_from_items([item]))
    assert len(profile.interests) == 1
    after = builder.update(profile, Event(item=item, kind="dislike", timestamp=5))
    check_invariants(after)
    assert after.interests == () and after.dislikes == (item,)
    assert not after.short_term.any()


def test_update_matches_build_from_scratch(world: Any) -> None:
    jazz, kitchen = world.topic_items["jazz"][:10], world.topic_items["kitchen"][:10]
    order = interleave(jazz, kitchen)
    builder = world.builder()
    profile = builder.build("u", history_from_items(order[:8]))
    for t, item in enumerate(order[8:], start=8):
        profile = builder.update(profile, Event(item=item, kind="view", timestamp=t))
    scratch = builder.build("u", history_from_items(order))
    check_invariants(profile)
    assert len(profile.interests) == len(scratch.interests) == 2
    inc, ref = by_label(profile), by_label(scratch)
    assert set(inc) == set(ref)
    for label in ref:
        assert set(inc[label].items) == set(ref[label].items)
        assert inc[label].weight == pytest.approx(ref[label].weight, abs=1e-6)
        assert inc[label].cohesion == pytest.approx(ref[label].cohesion, abs=1e-5)
        np.testing.assert_allclose(inc[label].vector, ref[label].vector, atol=1e-5)
    assert [n for n, _ in profile.concepts] == [n for n, _ in scratch.concepts]
    assert dict(profile.concepts) == pytest.approx(dict(scratch.concepts))
    np.testing.assert_allclose(profile.short_term, scratch.short_term, atol=1e-6)
    assert profile.short_term_items == scratch.short_term_items
    assert profile.summary == scratch.summary


def test_new_topic_opens_a_new_interest(world: Any) -> None:
    jazz, kitchen = world.topic_items["jazz"][:8], world.topic_items["kitchen"][:8]
    builder = world.builder()
    profile = builder.build("u", history_from_items(interleave(jazz, kitchen)))
    for t, item in enumerate(world.topic_items["scifi"][:4]):
        profile = builder.update(profile, Event(item=item, kind="click", timestamp=100 + t))
    check_invariants(profile)
    assert set(by_label(profile)) == {"jazz & music", "kitchen & cookware", "sci fi"}
    assert set(by_label(profile)["sci fi"].items) == set(world.topic_items["scifi"][:4])


def test_update_at_max_interests_merges_into_nearest(world: Any) -> None:
    builder = world.builder(max_interests=2)
    jazz, kitchen = world.topic_items["jazz"][:4], world.topic_items["kitchen"][:4]
    profile = builder.build("u", history_from_items(interleave(jazz, kitchen)))
    after = builder.update(profile, Event(item=world.topic_items["horror"][0], kind="view", timestamp=50))
    check_invariants(after)
    assert len(after.interests) == 2
    assert world.topic_items["horror"][0] in {x for i in after.interests for x in i.items}


def test_rate_and_review_events_set_polarity(world: Any) -> None:
    builder = world.builder()
    items = world.topic_items["jazz"][:4]
    profile = builder.build("u", history_from_items(items, ratings=[3.5, 3.5, 3.5, 3.5]))
    assert profile.mean_rating == pytest.approx(3.5)
    loved = builder.update(profile, Event(item=items[0], kind="rate", timestamp=10, value=5.0))
    assert items[0] in loved.likes
    assert loved.mean_rating == pytest.approx((4 * 3.5 + 5) / 5)
    hated = builder.update(profile, Event(item=world.topic_items["kitchen"][0], kind="review", timestamp=10,
                                          text="Awful, terrible knife. Broke on day one, a waste of money."))
    assert hated.dislikes == (world.topic_items["kitchen"][0],)
    assert np.isnan(hated.history.ratings[-1])


def test_out_of_order_event_is_inserted_in_time(world: Any) -> None:
    builder = world.builder()
    items = world.topic_items["jazz"][:3]
    profile = builder.build("u", history_from_items(items, timestamps=[10, 20, 30]))
    after = builder.update(profile, Event(item=world.topic_items["jazz"][5], kind="view", timestamp=15))
    np.testing.assert_array_equal(after.history.timestamps, [10, 15, 20, 30])
    assert after.history.items[1] == world.topic_items["jazz"][5]


def test_empty_history_and_first_event(world: Any) -> None:
    builder = world.builder()
    empty = builder.build("new", history_from_items([]))
    check_invariants(empty)
    assert empty.interests == () and empty.summary == "No activity yet."
    assert empty.short_term.shape == (world.vectors.shape[1],) and not empty.short_term.any()
    first = builder.update(empty, Event(item=3, kind="like", timestamp=1))
    check_invariants(first)
    assert len(first.interests) == 1 and first.interests[0].weight == 1.0 and first.likes == (3,)


def test_explore_reaches_graph_neighbours_but_not_own_concepts(world: Any) -> None:
    jazz, kitchen = world.topic_items["jazz"][:5], world.topic_items["kitchen"][:5]
    profile = world.builder().build("u", history_from_items(interleave(jazz, kitchen)))
    explore = dict(profile.explore)
    assert set(explore) == {"blues", "baking"}
    # blues: jazz (1.0) x 0.9 + music (0.5) x 0.5; baking: kitchen (1.0) x 0.8. Each jazz item
    # comes one event before a kitchen one, so on the user's clock jazz weighs 2**-(1/100) of kitchen.
    jazz_weight = 2 ** -(1 / 100)
    assert explore["blues"] == pytest.approx(1.15 * jazz_weight, abs=1e-3)
    assert explore["baking"] == pytest.approx(0.8, abs=1e-3)
    no_second_hop = world.builder(explore_hops=1).build("u", history_from_items(world.topic_items["horror"][:3]))
    # horror -> sci fi is one hop; nothing else is reachable
    assert [n for n, _ in no_second_hop.explore] == ["sci fi"]


def test_builder_without_graph_has_no_explore(world: Any) -> None:
    builder = ProfileBuilder(world.vectors, world.concepts)
    assert builder.build("u", history_from_items(world.topic_items["jazz"][:3])).explore == ()


def test_bad_inputs_are_named(world: Any) -> None:
    builder = world.builder()
    with pytest.raises(ValueError, match="out of range"):
        builder.update(builder.build("u", history_from_items([1])), Event(item=10_000, kind="view", timestamp=1))
    with pytest.raises(ValueError, match=r"History\.items"):
        builder.build("u", history_from_items([10_000]))
    with pytest.raises(ValueError, match="rows but item_concepts"):
        ProfileBuilder(world.vectors[:5], world.concepts)
    with pytest.raises(ValueError, match="concept_idf"):
        ProfileBuilder(world.vectors, world.concepts, concept_idf=np.ones(2))
    with pytest.raises(ValueError, match="max_interests"):
        ProfileConfig(max_interests=0)
    with pytest.raises(ValueError, match="time_unit"):
        ProfileConfig(time_unit="days")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="like_threshold"):
        ProfileConfig(like_threshold=2.0)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(2, 60), st.floats(0.3, 3.0), st.integers(1, 9), st.integers(0, 2**31 - 1)
)
def test_ward_labels_match_scikit_learn(n: int, threshold: float, cap: int, seed: int) -> None:
    x = np.random.default_rng(seed).normal(size=(n, 8))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    ours = ward_labels(x, distance_threshold=threshold, max_clusters=cap)
    ref = AgglomerativeClustering(n_clusters=None, distance_threshold=threshold, linkage="ward").fit(x).labels_
    if ref.max() + 1 > cap:
        ref = AgglomerativeClustering(n_clusters=cap, linkage="ward").fit(x).labels_
    assert adjusted_rand_score(ours, ref) == pytest.approx(1.0)
    assert set(ours.tolist()) == set(range(ours.max() + 1))
    # Given the pairwise distances (as the builder does, sharing them with its medoids): the same.
    shared = ward_labels(x, distance_threshold=threshold, max_clusters=cap, distances=pdist(x))
    np.testing.assert_array_equal(shared, ours)


events = st.lists(
    st.tuples(st.integers(0, 79), st.sampled_from(["view", "click", "like", "dislike", "rate"]), st.integers(1, 5)),
    max_size=12,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(st.tuples(st.integers(0, 79), st.floats(-1.0, 1.0)), max_size=30),
    events,
)
def test_profile_invariants_hold_after_build_and_updates(
    world: Any, rows: list[tuple[int, float]], updates: list[tuple[int, str, int]]
) -> None:
    builder = world.builder()
    items = [i for i, _ in rows]
    polarity = [p for _, p in rows]
    profile = builder.build("u", history_from_items(items, polarity=polarity))
    check_invariants(profile)
    for t, (item, kind, value) in enumerate(updates, start=len(rows)):
        profile = builder.update(profile, Event(item=item, kind=kind, timestamp=t, value=float(value)))
        check_invariants(profile)
    assert len(profile.history) == len(rows) + len(updates)
