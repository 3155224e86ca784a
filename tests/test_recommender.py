"""The front door end to end on the planted-topic fixture (hashing encoder: fast, no weights)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from interestlm.config import RecommenderConfig
from interestlm.core.errors import UnknownIdError
from interestlm.core.schema import Event
from interestlm.core.tables import Dataset
from interestlm.evaluate.runner import EvaluationConfig, evaluate_model, make_split
from interestlm.explain import grounding_rate
from interestlm.lm import Generator, TemplateLM
from interestlm.lm_writer import LMWriter
from interestlm.recommender import Recommender
from interestlm.testing.planted import planted_topic_of, planted_topics, planted_user_topics


@pytest.fixture(scope="module")
def data() -> Dataset:
    return planted_topics(n_topics=4, items_per_topic=25, n_users=40, history_len=12, seed=0)


@pytest.fixture(scope="module")
def fitted(data: Dataset) -> Recommender:
    return Recommender(RecommenderConfig(encoder="hashing", collaborative="itemknn")).fit(data)


def _single_topic_users(data: Dataset) -> list[int]:
    return [u for u in range(data.n_users) if len(planted_user_topics(data, u)) == 1]


def test_single_topic_users_get_their_topic(data: Dataset, fitted: Recommender) -> None:
    users = _single_topic_users(data)
    assert users, "the fixture must have single-topic users"
    hits = []
    for u in users:
        (topic,) = planted_user_topics(data, u)
        recs = fitted.recommend(str(data.interactions.user_ids[u]), 5, explain=False)
        hits.append(np.mean([planted_topic_of(data, r.item) == topic for r in recs]))
    # Planted answer: nearly all of the top-5 come from the user's only topic.
    assert float(np.mean(hits)) >= 0.9


def test_explanations_cite_only_the_users_history(data: Dataset, fitted: Recommender) -> None:
    u = _single_topic_users(data)[0]
    user_id = str(data.interactions.user_ids[u])
    (topic,) = planted_user_topics(data, u)
    profile = fitted.profile(user_id)
    recs = fitted.recommend(user_id, 10)
    explanations = [r.explanation for r in recs if r.explanation is not None]
    assert len(explanations) == 10
    assert grounding_rate(explanations, [profile] * len(explanations)) == 1.0
    history = set(profile.history.items.tolist())
    top = explanations[0]
    assert top.evidence and set(top.evidence) <= history
    assert all(planted_topic_of(data, i) == topic for i in top.evidence)
    assert any(data.catalog.titles[i] in top.text for i in top.evidence)


def test_profile_json_is_readable(data: Dataset, fitted: Recommender) -> None:
    user_id = str(data.interactions.user_ids[0])
    profile = fitted.profile_json(user_id)
    json.dumps(profile)
    assert profile["user_id"] == user_id
    assert profile["interests"] and profile["summary"]
    assert abs(sum(i["weight"] for i in profile["interests"]) - 1.0) < 1e-4


def test_like_and_mute_change_the_next_ranking(data: Dataset) -> None:
    rec = Recommender(RecommenderConfig(encoder="hashing", collaborative="itemknn")).fit(data)
    u = _single_topic_users(data)[0]
    user_id = str(data.interactions.user_ids[u])
    (topic,) = planted_user_topics(data, u)
    before = [r.item for r in rec.recommend(user_id, 10, explain=False)]
    other = (topic + 1) % 4
    seen = set(rec.profile(user_id).history.items.tolist())
    others = [i for i in range(data.n_items) if planted_topic_of(data, i) == other and i not in seen]

    def mean_rank_of_other() -> float:
        scores = rec.state_.ranker.scores([rec.profile(user_id)])[0]
        ranks = np.argsort(np.argsort(-scores))
        return float(ranks[others[4:]].mean())

    rank_before = mean_rank_of_other()
    last = int(rec.profile(user_id).history.timestamps[-1])
    for step, item in enumerate(others[:4], start=1):
        rec.update(user_id, Event(item=item, kind="like", timestamp=last + step))
    after = [r.item for r in rec.recommend(user_id, 10, explain=False)]
    # Liking four items of another topic changes the list and lifts that topic's other items.
    assert after != before
    assert mean_rank_of_other() < rank_before - 5
    # Muting the user's own topic removes every item carrying it.
    topic_name = data.catalog.categories[before[0]][0].lower()
    rec.edit(user_id, mute=[topic_name])
    muted = [r.item for r in rec.recommend(user_id, 10, explain=False)]
    assert muted and all(planted_topic_of(data, i) != topic for i in muted)


def test_new_users_from_history_and_text(data: Dataset, fitted: Recommender) -> None:
    space = [i for i in range(data.n_items) if data.catalog.categories[i][0] == "space"]
    profile = fitted.profile_from_history([str(data.catalog.item_ids[i]) for i in space[:3]])
    recs = fitted.recommend(profile, 5, explain=False)
    assert all(data.catalog.categories[r.item][0] == "space" for r in recs)
    text_profile = fitted.profile_from_text("telescope rocket galaxy orbit planets")
    recs = fitted.recommend(text_profile, 5, explain=False)
    assert sum(data.catalog.categories[r.item][0] == "space" for r in recs) >= 4
    with pytest.raises(UnknownIdError):
        fitted.profile_from_history(["no-such-item"])
    with pytest.raises(UnknownIdError):
        fitted.profile("no-such-user")


def test_seed_items_of_a_text_profile_stay_recommendable_and_are_never_cited(
    data: Dataset, fitted: Recommender
) -> None:
    # A text-built profile is seeded with the items that fit the description best; the user never
    # saw them, so filtering them as "seen" removed the very items the user most likely wants.
    writer = fitted.with_text(LMWriter(Generator(TemplateLM())))
    for profile in (
        fitted.profile_from_text("telescope rocket galaxy orbit planets"),
        writer.profile_from_text("I love space and astronomy. I can't stand the kitchen."),
    ):
        seeds = profile.seed_items
        assert seeds and seeds == set(profile.history.items.tolist()) and len(profile.seen_items) == 0
        recs = fitted.recommend(profile, len(seeds) + 5)
        assert seeds & {r.item for r in recs}
        assert all(r.explanation is not None and not set(r.explanation.evidence) & seeds for r in recs)
        assert sum(data.catalog.categories[r.item][0] == "space" for r in recs[:5]) >= 4
    # A real inline history is still filtered, also when a text steers it.
    space = [i for i in range(data.n_items) if data.catalog.categories[i][0] == "space"]
    profile = fitted.profile_from_history([str(data.catalog.item_ids[i]) for i in space[:3]])
    assert not profile.seed_items and len(profile.seen_items) == 3
    assert not set(space[:3]) & {r.item for r in fitted.recommend(profile, 30, explain=False)}


def test_save_load_round_trip(tmp_path: Path, data: Dataset, fitted: Recommender) -> None:
    user_id = str(data.interactions.user_ids[3])
    fitted.edit(user_id, pin=[fitted.profile(user_id).concepts[0][0]])
    out = fitted.save(tmp_path / "artifacts")
    assert {"config.toml", "manifest.json", "vectors.npy", "items.parquet", "index.faiss"} <= {
        p.name for p in out.iterdir()
    }
    loaded = Recommender.load(out)
    assert loaded.fusion_.weights == fitted.fusion_.weights
    assert loaded.profile(user_id).edits == fitted.profile(user_id).edits
    a = [(r.item_id, round(r.score, 4)) for r in fitted.recommend(user_id, 10, explain=False)]
    b = [(r.item_id, round(r.score, 4)) for r in loaded.recommend(user_id, 10, explain=False)]
    assert a == b
    raw = bytearray((out / "vectors.npy").read_bytes())
    raw[-7] ^= 0xFF
    (out / "vectors.npy").write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"vectors\.npy"):
        Recommender.load(out)


def test_evaluated_beside_baselines(data: Dataset) -> None:
    split = make_split(data, "loo")
    config = EvaluationConfig(ks=(10,), models={"interest": {"encoder": "hashing"}}, slices=False)
    interest = evaluate_model(data, split, "interest", config)
    pop = evaluate_model(data, split, "pop", config)
    assert interest["metrics"]["ndcg@10"] > pop["metrics"]["ndcg@10"]
    report = interest["model_report"]
    assert report["grounding_rate"] == 1.0
    assert set(report["fusion_weights"]) >= {"interest", "short_term", "popularity"}


def test_new_item_is_recommendable_at_once(data: Dataset) -> None:
    rec = Recommender(RecommenderConfig(encoder="hashing", collaborative="itemknn")).fit(data)
    u = _single_topic_users(data)[0]
    user_id = str(data.interactions.user_ids[u])
    (topic,) = planted_user_topics(data, u)
    name = data.catalog.categories[rec.profile(user_id).history.items[0]][0]
    # The new item copies the text of the user's own topic (planted answer: it must show up).
    template = int(rec.profile(user_id).history.items[0])
    rows = rec.add_items(
        [
            {
                "item_id": "new-1",
                "title": data.catalog.titles[template] + " Deluxe",
                "text": data.catalog.descriptions[template],
                "categories": list(data.catalog.categories[template]),
            }
        ]
    )
    assert rows == [data.n_items] and rec.item_index("new-1") == data.n_items
    assert planted_topic_of(data, template) == topic and name
    top = [r.item_id for r in rec.recommend(user_id, 10, explain=True)]
    assert "new-1" in top
    similar = rec.similar_items("new-1", 3)
    assert similar[0][0] == data.catalog.item_ids[template] or similar[0][1] > 0.5
    # Updating a known id re-encodes it in place: no new row.
    assert rec.add_items([{"item_id": "new-1", "title": "Changed"}]) == [data.n_items]
    assert len(rec.catalog) == data.n_items + 1


def test_new_user_created_by_first_event(fitted: Recommender, data: Dataset) -> None:
    profile = fitted.ensure_user("brand-new")
    assert len(profile.history) == 0
    cold = fitted.recommend("brand-new", 5, explain=False)
    assert len(cold) == 5
    space = next(i for i in range(data.n_items) if data.catalog.categories[i][0] == "space")
    fitted.update("brand-new", Event(item=space, kind="like", timestamp=1))
    assert fitted.profile("brand-new").likes == (space,)


def test_items_without_titles_are_named_by_their_ids(data: Dataset) -> None:
    from dataclasses import replace

    untitled = replace(data, catalog=replace(data.catalog, titles=[""] * len(data.catalog)))
    rec = Recommender(RecommenderConfig(encoder="hashing", collaborative="itemknn")).fit(untitled)
    user_id = str(data.interactions.user_ids[0])
    texts = [r.explanation.text for r in rec.recommend(user_id, 10)]
    cited = [t for t in texts if "item " in t]
    assert cited, texts
    # Never a catalogue row number: every "item X" names a real item id.
    ids = {str(i) for i in data.catalog.item_ids.tolist()}
    for text in cited:
        for name in re.findall(r"item ([^\s\",.—]+)", text):
            assert name in ids, text


def test_you_pinned_names_only_what_the_user_pinned(data: Dataset) -> None:
    rec = Recommender(RecommenderConfig(encoder="hashing", collaborative="itemknn")).fit(data)
    user_id = str(data.interactions.user_ids[0])
    own = {c for c, _ in rec.profile(user_id).concepts}
    concepts = rec.state_.item_concepts
    counts = np.asarray((concepts.matrix > 0).sum(axis=0)).ravel()
    # The most common concept the user has never shown: pinning it must lift its items.
    other = next(concepts.names[j] for j in np.argsort(-counts, kind="stable") if concepts.names[j] not in own)
    rec.edit(user_id, pin=[other])
    pinned = [r for r in rec.recommend(user_id, 10) if r.explanation.reason == "pin"]
    assert pinned, "a pinned concept the user never showed must lift some items"
    for r in pinned:
        assert r.explanation.pinned == (other,), r.explanation
        lead = r.explanation.text.split(" — ")[0]
        assert lead == f"You pinned {other}", r.explanation.text
