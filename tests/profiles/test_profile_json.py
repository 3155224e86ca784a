from __future__ import annotations

import io
import json
from dataclasses import fields, replace
from typing import Any

import numpy as np
import pytest

from interestlm.core.schema import Event, History, Interest, InterestProfile
from interestlm.profiles import (
    edit_profile,
    history_from_items,
    profile_from_state,
    profile_state,
    profile_to_json,
    profile_vectors,
)


def rich_profile(world: Any) -> InterestProfile:
    builder = world.builder()
    jazz, kitchen = world.topic_items["jazz"][:5], world.topic_items["kitchen"][:5]
    profile = builder.build("u7", history_from_items(jazz + kitchen, ratings=[4.5, 5.0, 4.5, 5.0, 4.5] * 2))
    profile = builder.update(profile, Event(item=world.topic_items["horror"][1], kind="dislike", timestamp=20))
    profile = builder.edit(profile, mute=["blues"], pin=["kitchen"], interest_weights={1: 0.3})
    return replace(profile, extra={"scores": np.arange(3, dtype=np.float64), "note": {"source": "test", "n": [1, 2]}})


def assert_same(a: Any, b: Any, where: str = "profile") -> None:
    """Exact equality, arrays included (values, dtype and shape)."""
    if isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray), where
        assert a.dtype == b.dtype and a.shape == b.shape, where
        np.testing.assert_array_equal(a, b, err_msg=where)
    elif isinstance(a, InterestProfile | Interest | History):
        for f in fields(a):
            assert_same(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            assert_same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, tuple):
        assert isinstance(b, tuple) and len(a) == len(b), where
        for j, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}[{j}]")
    else:
        assert type(a) is type(b) and a == b, f"{where}: {a!r} != {b!r}"


def through_disk(state: dict[str, Any], arrays: dict[str, np.ndarray]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as npz:
        loaded = {k: npz[k] for k in npz.files}
    return json.loads(json.dumps(state)), loaded


def test_state_round_trips_exactly(world: Any) -> None:
    profile = rich_profile(world)
    state, arrays = profile_state(profile)
    back = profile_from_state(*through_disk(state, arrays))
    assert_same(profile, back)


def test_empty_profile_round_trips(world: Any) -> None:
    profile = world.builder().build("nobody", history_from_items([]))
    back = profile_from_state(*through_disk(*profile_state(profile)))
    assert_same(profile, back)
    assert back.interests == () and back.mean_rating is None


def test_round_trip_then_update_equals_update(world: Any) -> None:
    builder = world.builder()
    profile = rich_profile(world)
    event = Event(item=world.topic_items["jazz"][7], kind="like", timestamp=30)
    direct = builder.update(profile, event)
    reloaded = builder.update(profile_from_state(*through_disk(*profile_state(profile))), event)
    assert_same(replace(direct, extra={}), replace(reloaded, extra={}))


def test_damaged_state_is_reported(world: Any) -> None:
    state, arrays = profile_state(rich_profile(world))
    with pytest.raises(ValueError, match="format"):
        profile_from_state({**state, "format": "other"}, arrays)
    with pytest.raises(ValueError, match="missing array"):
        profile_from_state(state, {k: v for k, v in arrays.items() if k != "short_term"})
    with pytest.raises(ValueError, match="missing field 'likes'"):
        profile_from_state({k: v for k, v in state.items() if k != "likes"}, arrays)
    with pytest.raises(ValueError, match="interests/vectors"):
        profile_from_state(state, {**arrays, "interests/vectors": arrays["interests/vectors"][:1]})


def test_unstorable_extra_is_refused(world: Any) -> None:
    profile = world.builder().build("u", history_from_items([1, 2]))
    with pytest.raises(ValueError, match="tuple is not storable"):
        profile_state(replace(profile, extra={"pair": (1, 2)}))
    with pytest.raises(ValueError, match="non-finite"):
        profile_state(replace(profile, extra={"x": [float("nan")]}))


def test_readable_json(world: Any) -> None:
    profile = rich_profile(world)
    out = profile_to_json(profile, item_ids=world.item_ids, titles=world.titles)
    json.dumps(out)  # plain JSON types only
    assert out["user_id"] == "u7" and out["n_events"] == 11 and out["summary"] == profile.summary
    first = out["interests"][0]
    assert set(first) == {"label", "weight", "effective_weight", "medoid", "exemplars", "concepts", "size"}
    medoid = profile.interests[0].medoid
    assert first["medoid"] == {"item_id": world.item_ids[medoid], "title": world.titles[medoid]}
    assert first["size"] == len(profile.interests[0].items)
    assert out["dislikes"] == [{"item_id": world.item_ids[world.topic_items["horror"][1]],
                                "title": world.titles[world.topic_items["horror"][1]]}]
    assert out["edits"] == {"pinned": ["kitchen"], "muted": ["blues"], "interest_weights": {"1": 0.3}}
    assert out["disliked_concepts"][0] == ["horror", -1.0]
    assert len(out["short_term"]["items"]) == len(profile.short_term_items)
    assert [c[0] for c in out["concepts"]] == [n for n, _ in profile.concepts]


def test_readable_json_labels_unlabelled_interest_and_checks_items(world: Any) -> None:
    profile = world.builder().build("u", history_from_items(world.topic_items["jazz"][:3]))
    unlabelled = replace(profile, interests=(replace(profile.interests[0], label=""),))
    out = profile_to_json(unlabelled, item_ids=world.item_ids, titles=world.titles)
    assert out["interests"][0]["label"] == f"things like {world.titles[profile.interests[0].medoid]}"
    with pytest.raises(ValueError, match="same length"):
        profile_to_json(profile, item_ids=world.item_ids, titles=world.titles[:3])
    with pytest.raises(ValueError, match="outside item_ids"):
        profile_to_json(profile, item_ids=world.item_ids[:2], titles=world.titles[:2])


def test_profile_vectors(world: Any) -> None:
    profile = rich_profile(world)
    vectors = profile_vectors(profile)
    k, d = len(profile.interests), world.vectors.shape[1]
    assert vectors["interests"].shape == (k, d) and vectors["interests"].dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors["interests"], axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(vectors["interest_weights"], [i.weight for i in profile.interests], rtol=1e-6)
    assert vectors["medoids"].tolist() == [i.medoid for i in profile.interests]
    assert vectors["short_term"].shape == (d,)
    empty = profile_vectors(world.builder().build("u", history_from_items([])))
    assert empty["interests"].shape == (0, d) and empty["medoids"].shape == (0,)


def test_edited_profile_state_keeps_edits(world: Any) -> None:
    profile = edit_profile(world.builder().build("u", history_from_items([0, 1, 20])), mute=["jazz"])
    back = profile_from_state(*through_disk(*profile_state(profile)))
    assert back.edits == profile.edits
