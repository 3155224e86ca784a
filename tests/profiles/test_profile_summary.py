from __future__ import annotations

from dataclasses import replace
from typing import Any

from interestlm.core.schema import Event
from interestlm.profiles import history_from_items, template_summary


def test_summary_of_a_planted_user(world: Any) -> None:
    jazz, kitchen = world.topic_items["jazz"][:6], world.topic_items["kitchen"][:4]
    builder = world.builder()
    profile = builder.build("u", history_from_items(jazz + kitchen, timestamps=[0] * 10))
    profile = builder.update(profile, Event(item=world.topic_items["horror"][0], kind="dislike", timestamp=1))
    # Six jazz items against four later kitchen ones: the user's clock (events after each) gives 59/41.
    assert profile.summary == (
        "Mostly into jazz & music (59%) and kitchen & cookware (41%); lately: kitchen & cookware. Dislikes: horror."
    )
    assert profile.summary_source == "template"


def test_summary_without_history_or_interests(world: Any) -> None:
    builder = world.builder()
    assert builder.build("u", history_from_items([])).summary == "No activity yet."
    only_dislikes = builder.build("u", history_from_items(world.topic_items["horror"][:2], polarity=[-1.0, -1.0]))
    assert only_dislikes.summary == "Dislikes: horror."


def test_interests_with_the_same_label_are_merged(world: Any) -> None:
    profile = world.builder().build("u", history_from_items(world.topic_items["jazz"][:4]))
    (interest,) = profile.interests
    twins = replace(profile, interests=(replace(interest, weight=0.5), replace(interest, weight=0.5)))
    assert template_summary(twins) == "Mostly into jazz & music (100%)."


def test_unlabelled_interest_is_named_by_its_medoid(world: Any) -> None:
    profile = world.builder().build("u", history_from_items(world.topic_items["jazz"][:4]))
    unlabelled = replace(profile, interests=(replace(profile.interests[0], label=""),))
    medoid = profile.interests[0].medoid
    text = template_summary(unlabelled, titles=world.titles)
    assert text == f"Mostly into things like {world.titles[medoid]} (100%)."
    assert template_summary(unlabelled) == "Mostly into interest 1 (100%)."


def test_net_positive_concepts_are_not_called_dislikes(world: Any) -> None:
    # "film" is on the disliked horror item but the user loves sci-fi films: it is liked, never
    # disliked (it used to be listed among the disliked concepts too, and only the summary hid it).
    items = world.topic_items["scifi"][:6] + world.topic_items["horror"][:1]
    profile = world.builder().build("u", history_from_items(items, polarity=[1.0] * 6 + [-1.0]))
    assert "film" not in dict(profile.disliked_concepts) and "film" in dict(profile.liked_concepts)
    assert dict(profile.disliked_concepts) == {"horror": -1.0}
    assert profile.summary.endswith("Dislikes: horror.")
