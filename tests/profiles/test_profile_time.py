"""Time that follows the user: weights age on the user's own event clock, so one live event stamped
today moves long-term weights by a bounded amount while short-term intent follows it at once."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linear_sum_assignment

from interestlm.core.schema import Event, InterestProfile
from interestlm.profiles import ProfileConfig, history_from_items

DAY = 86_400
YEAR = 365 * DAY
#: The README's live-event timestamp (2023-11-14).
NOW = 1_700_000_000
#: 2005-01-01: a history that ends long before NOW.
PAST = 1_104_537_600


def matched_l1(before: InterestProfile, after: InterestProfile) -> float:
    """L1 change of interest weights, interests matched by shared items (unmatched count in full)."""
    wa = np.array([i.weight for i in before.interests])
    wb = np.array([i.weight for i in after.interests])
    overlap = np.array([[len(set(a.items) & set(b.items)) for b in after.interests] for a in before.interests])
    rows, cols = linear_sum_assignment(-overlap)
    paired = overlap[rows, cols] > 0
    rows, cols = rows[paired], cols[paired]
    return float(np.abs(wa[rows] - wb[cols]).sum() + np.delete(wa, rows).sum() + np.delete(wb, cols).sum())


def planted_user(world: Any, *, gap: int) -> tuple[list[int], list[int]]:
    """Ten jazz and ten kitchen items, interleaved, ``gap`` seconds apart, ending in 2005-2015."""
    jazz, kitchen = world.topic_items["jazz"][:10], world.topic_items["kitchen"][:10]
    items = [x for pair in zip(jazz, kitchen, strict=True) for x in pair]
    return items, [PAST + j * gap for j in range(len(items))]


@pytest.mark.parametrize("gap", [DAY, 30 * DAY, YEAR // 2])
def test_live_event_today_moves_long_term_weights_by_a_bounded_amount(world: Any, gap: int) -> None:
    builder = world.builder()
    items, ts = planted_user(world, gap=gap)
    profile = builder.build("u", history_from_items(items, timestamps=ts))
    new = world.topic_items["scifi"][0]
    updated = builder.update(profile, Event(item=new, kind="like", timestamp=NOW))
    rebuilt = builder.build("u", updated.history)
    bound = builder.config.weight_shift_bound(len(items))
    assert bound <= 0.25
    for after in (updated, rebuilt):
        # The new item opens an interest of its own; the old two keep nearly all their weight.
        weights = {i.label: i.weight for i in after.interests}
        assert set(weights) == {"jazz & music", "kitchen & cookware", "sci fi"}
        assert weights["jazz & music"] > 0.4 and weights["kitchen & cookware"] > 0.4
        assert matched_l1(profile, after) <= bound + 1e-9
        # Short-term intent follows the new item at once.
        x = world.vectors[new].astype(np.float64)
        assert after.short_term_items[0] == new
        assert float(after.short_term @ x) > float(profile.short_term @ x) + 0.2
    assert matched_l1(profile, updated) == pytest.approx(matched_l1(profile, rebuilt), abs=1e-6)


def test_bound_is_reached_when_every_gap_is_past_the_cap(world: Any) -> None:
    # Gaps of half a year all count as max_gap_days, and a new interest takes the whole move:
    # the change equals the stated bound, so the bound is exact, not loose.
    builder = world.builder()
    items, ts = planted_user(world, gap=YEAR // 2)
    profile = builder.build("u", history_from_items(items, timestamps=ts))
    updated = builder.update(profile, Event(item=world.topic_items["scifi"][0], kind="view", timestamp=NOW))
    assert matched_l1(profile, updated) == pytest.approx(builder.config.weight_shift_bound(len(items)), rel=1e-6)


def test_a_long_absence_ages_no_more_than_the_cap(world: Any) -> None:
    jazz, kitchen = world.topic_items["jazz"][:8], world.topic_items["kitchen"][:8]
    cfg = ProfileConfig()
    for away in (cfg.max_gap_days * DAY, 3 * YEAR, 20 * YEAR):
        ts = [0] * 8 + [int(away)] * 8
        profile = world.builder().build("u", history_from_items(jazz + kitchen, timestamps=ts))
        weights = {i.label: i.weight for i in profile.interests}
        # Jazz is 8 events and one capped gap older than kitchen, whatever the absence.
        older = 2 ** -(8 / cfg.half_life_positions + cfg.max_gap_days / cfg.half_life_days)
        assert weights["kitchen & cookware"] == pytest.approx(1 / (1 + older))


def test_positions_data_keeps_working(world: Any) -> None:
    builder = world.builder(time_unit="positions")
    items, _ = planted_user(world, gap=DAY)
    profile = builder.build("u", history_from_items(items))  # timestamps 0, 1, 2, ...
    updated = builder.update(profile, Event(item=world.topic_items["scifi"][0], kind="like", timestamp=NOW))
    # Positions only: the new interest weighs 1 against the 20 earlier events' 2**-(k/100).
    mass = sum(2 ** -(k / 100) for k in range(1, 21))
    assert {i.label: i.weight for i in updated.interests}["sci fi"] == pytest.approx(1 / (1 + mass))
    assert matched_l1(profile, updated) <= builder.config.weight_shift_bound(20) + 1e-9


def test_a_mostly_disliked_history_moves_more_but_within_its_own_bound(world: Any) -> None:
    # Twenty events, sixteen of them 1-star horror: only four sit in an interest, so one like
    # moves the weights past the 20-event figure, yet not past this profile's own bound.
    builder = world.builder()
    items = world.topic_items["jazz"][:4] + world.topic_items["horror"][:16]
    profile = builder.build("u", history_from_items(items, ratings=[5.0] * 4 + [1.0] * 16))
    assert [len(i.items) for i in profile.interests] == [4]
    updated = builder.update(profile, Event(item=world.topic_items["kitchen"][0], kind="like", timestamp=NOW))
    moved = matched_l1(profile, updated)
    assert builder.config.weight_shift_bound(20) < moved <= builder.weight_shift_bound(profile) + 1e-9
    assert moved == pytest.approx(builder.weight_shift_bound(profile), rel=0.05)


def test_weight_shift_bound_and_config_checks() -> None:
    cfg = ProfileConfig()
    assert cfg.weight_shift_bound(20) <= 0.25
    assert cfg.weight_shift_bound(0) == pytest.approx(2.0)
    assert [cfg.weight_shift_bound(n) for n in (5, 10, 20, 40)] == sorted(
        [cfg.weight_shift_bound(n) for n in (5, 10, 20, 40)], reverse=True
    )
    # Positions data ignores the gap cap; an uncapped-looking clock (long half-life) is gentler.
    assert ProfileConfig(time_unit="positions").step_decay() == pytest.approx(2 ** -(1 / 100))
    assert ProfileConfig(max_gap_days=0.0).weight_shift_bound(20) < cfg.weight_shift_bound(20)
    with pytest.raises(ValueError, match="max_gap_days"):
        ProfileConfig(max_gap_days=-1.0)
    with pytest.raises(ValueError, match="n_events"):
        cfg.weight_shift_bound(-1)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(st.tuples(st.integers(0, 79), st.integers(0, 3 * YEAR)), min_size=20, max_size=40),
    st.integers(0, 79),
    st.sampled_from(["view", "click", "like"]),
    st.integers(0, 30 * YEAR),
)
def test_one_event_never_moves_weights_past_the_bound(
    world: Any, rows: list[tuple[int, int]], item: int, kind: str, later: int
) -> None:
    builder = world.builder()
    items = [i for i, _ in rows]
    ts = np.cumsum([g for _, g in rows]).tolist()
    profile = builder.build("u", history_from_items(items, timestamps=ts))
    updated = builder.update(profile, Event(item=item, kind=kind, timestamp=int(ts[-1]) + later))
    # No dislikes here, so every event sits in an interest.
    moved = matched_l1(profile, updated)
    assert moved <= builder.weight_shift_bound(profile) + 1e-9
    assert builder.weight_shift_bound(profile) <= builder.config.weight_shift_bound(len(items)) + 1e-9
    assert updated.short_term_items[0] == item
