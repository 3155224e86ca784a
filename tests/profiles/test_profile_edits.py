from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from interestlm.core.schema import Event, InterestProfile
from interestlm.profiles import edit_profile, effective_interest_weights, history_from_items, template_summary


def jazz_kitchen(world: Any, n: int = 5) -> InterestProfile:
    jazz, kitchen = world.topic_items["jazz"][:n], world.topic_items["kitchen"][:n]
    profile: InterestProfile = world.builder().build("u", history_from_items(jazz + kitchen))
    return profile


def position(profile: InterestProfile, label: str) -> int:
    return next(j for j, i in enumerate(profile.interests) if i.label == label)


def test_mute_removes_from_explore_at_once_and_names_are_normalised(world: Any) -> None:
    profile = jazz_kitchen(world)
    assert "blues" in dict(profile.explore)
    edited = edit_profile(profile, mute=["  Blues "], pin=["jazz"])
    assert edited.edits.muted == {"blues"} and edited.edits.pinned == {"jazz"}
    assert "blues" not in dict(edited.explore) and "baking" in dict(edited.explore)
    assert profile.edits.muted == frozenset()  # the original is untouched
    undone = edit_profile(edited, unmute=["blues"], unpin=["jazz"])
    assert undone.edits.muted == frozenset() and undone.edits.pinned == frozenset()


def test_pinning_a_muted_concept_moves_it(world: Any) -> None:
    edited = edit_profile(jazz_kitchen(world), mute=["jazz"])
    moved = edit_profile(edited, pin=["jazz"])
    assert moved.edits.pinned == {"jazz"} and moved.edits.muted == frozenset()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"pin": ["no such concept"]}, "unknown concept"),
        ({"pin": ["jazz"], "mute": ["jazz"]}, "both pinned and muted"),
        ({"mute": "jazz"}, "not the string"),
        ({"pin": [""]}, "non-empty"),
        ({"interest_weights": {5: 1.0}}, "out of range"),
        ({"interest_weights": {0: -1.0}}, ">= 0"),
        ({"interest_weights": {0: float("nan")}}, "finite"),
        ({"interest_weights": {"0": 1.0}}, "positions"),
    ],
)
def test_bad_edits_are_rejected(world: Any, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        edit_profile(jazz_kitchen(world), **kwargs)


def test_interest_weight_overrides(world: Any) -> None:
    profile = jazz_kitchen(world)
    k = position(profile, "kitchen & cookware")
    hidden = edit_profile(profile, interest_weights={k: 0.0})
    weights = effective_interest_weights(hidden)
    assert weights[k] == 0.0 and weights.sum() == pytest.approx(1.0)
    assert template_summary(hidden) == "Mostly into jazz & music (100%)."
    cleared = edit_profile(hidden, interest_weights={k: None})
    assert cleared.edits.interest_weights == ()
    all_hidden = edit_profile(profile, interest_weights={0: 0.0, 1: 0.0})
    assert not effective_interest_weights(all_hidden).any()


def test_builder_edit_checks_full_vocabulary_and_seeds_explore_with_pins(world: Any) -> None:
    builder = world.builder()
    profile = jazz_kitchen(world)
    # "horror" is not in this profile, but it is a concept of the catalog; pinning it explores its neighbours.
    with pytest.raises(ValueError, match="unknown concept"):
        edit_profile(profile, pin=["horror"])
    pinned = builder.edit(profile, pin=["horror"])
    assert "sci fi" in dict(pinned.explore)
    assert pinned.summary.endswith(" Pinned: horror.")
    muted = builder.edit(pinned, mute=["sci fi", "blues"])
    assert "sci fi" not in dict(muted.explore) and "blues" not in dict(muted.explore)
    with pytest.raises(ValueError, match="unknown concept"):
        builder.edit(profile, mute=["nonsense"])


def test_edits_survive_updates_and_follow_their_interest(world: Any) -> None:
    builder = world.builder()
    jazz, kitchen = world.topic_items["jazz"][:6], world.topic_items["kitchen"][:3]
    profile = builder.build("u", history_from_items(jazz + kitchen, timestamps=[0] * 9))
    assert profile.interests[0].label == "jazz & music"
    k = position(profile, "kitchen & cookware")
    profile = builder.edit(profile, mute=["blues"], pin=["horror"], interest_weights={k: 0.25})
    for t, item in enumerate(world.topic_items["kitchen"][3:10], start=1):
        profile = builder.update(profile, Event(item=item, kind="view", timestamp=t))
    assert profile.interests[0].label == "kitchen & cookware"  # the order changed ...
    assert profile.edits.interest_weights == ((0, 0.25),)  # ... and the override followed its interest
    assert profile.edits.muted == {"blues"} and profile.edits.pinned == {"horror"}
    assert "blues" not in dict(profile.explore) and "sci fi" in dict(profile.explore)


def test_override_of_an_emptied_interest_is_dropped(world: Any) -> None:
    builder = world.builder()
    jazz, kitchen = world.topic_items["jazz"][:4], world.topic_items["kitchen"][:1]
    profile = builder.build("u", history_from_items(jazz + kitchen))
    k = position(profile, "kitchen & cookware")
    profile = edit_profile(profile, interest_weights={k: 0.9, 1 - k: 0.1})
    after = builder.update(profile, Event(item=kitchen[0], kind="dislike", timestamp=10))
    assert [i.label for i in after.interests] == ["jazz & music"]
    assert after.edits.interest_weights == ((0, 0.1),)


def test_effective_weights_of_a_profile_without_overrides(world: Any) -> None:
    profile = jazz_kitchen(world)
    np.testing.assert_allclose(effective_interest_weights(profile), [i.weight for i in profile.interests])
    assert effective_interest_weights(replace(profile, interests=())).shape == (0,)
