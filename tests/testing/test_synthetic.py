from __future__ import annotations

import numpy as np
import pytest

from interestlm.core.metrics import recall
from interestlm.testing.synthetic import (
    LIKE_THRESHOLD,
    MAX_TOPICS,
    MIN_HISTORY,
    Synthetic,
    synthetic,
    synthetic_sizes,
    topic_names,
)

TINY = {"n_users": 120, "n_items": 1_200, "n_interactions": 4_000, "n_topics": 12}


@pytest.fixture(scope="module")
def tiny() -> Synthetic:
    return synthetic(**TINY, seed=3)


def _seen(s: Synthetic) -> list[np.ndarray]:
    return [a.astype(np.int64) for a in s.dataset.interactions.per_user(s.dataset.interactions.item)]


def test_sizes_are_the_ones_asked_for(tiny: Synthetic) -> None:
    ds = tiny.dataset
    assert ds.n_items == TINY["n_items"]
    assert ds.interactions.n_users == TINY["n_users"]
    assert len(ds.interactions) == TINY["n_interactions"]
    assert len(tiny.planted.topics) == TINY["n_topics"]
    assert len(tiny.planted.next_item) == TINY["n_users"]
    assert synthetic_sizes(1.0) == (610, 9_742, 100_836)
    assert synthetic_sizes(10.0) == (6_100, 97_420, 1_008_360)


def test_the_same_seed_gives_the_same_data_and_another_seed_other_data(tiny: Synthetic) -> None:
    again = synthetic(**TINY, seed=3)
    other = synthetic(**TINY, seed=4)
    for a, b in ((tiny.dataset.interactions, again.dataset.interactions),):
        for col in ("user", "item", "timestamp", "rating"):
            np.testing.assert_array_equal(getattr(a, col), getattr(b, col))
    assert tiny.dataset.catalog.titles == again.dataset.catalog.titles
    np.testing.assert_array_equal(tiny.planted.next_item, again.planted.next_item)
    assert not np.array_equal(tiny.dataset.interactions.item, other.dataset.interactions.item)


def test_items_carry_their_topic_and_distinct_titles(tiny: Synthetic) -> None:
    cat, planted = tiny.dataset.catalog, tiny.planted
    assert len(set(cat.titles)) == len(cat.titles)
    for i in range(len(cat)):
        topic = planted.topics[int(planted.item_topic[i])]
        assert cat.categories[i][0] == topic
        # The topic's words (its style and its domain) are in the item's text.
        style, domain = topic.split(" ", 1)
        assert domain in cat.descriptions[i] and style in cat.descriptions[i]
    sizes = np.bincount(planted.item_topic, minlength=len(planted.topics))
    assert sizes.min() >= 20
    # Inside a topic the probabilities sum to one, with a Zipf head.
    mass = np.bincount(planted.item_topic, weights=planted.item_prob)
    np.testing.assert_allclose(mass, 1.0)
    assert planted.item_prob.max() > 10 * planted.item_prob.min()


def test_histories_follow_the_users_topics_and_the_next_item_is_new(tiny: Synthetic) -> None:
    inter, planted = tiny.dataset.interactions, tiny.planted
    seen = _seen(tiny)
    times = inter.per_user(inter.timestamp)
    ratings = inter.per_user(inter.rating)
    foreign_likes = 0
    for u, items in enumerate(seen):
        assert len(items) >= MIN_HISTORY and len(set(items.tolist())) == len(items)
        assert np.all(np.diff(times[u]) > 0)
        own = set(planted.user_topics[u][planted.user_topics[u] >= 0].tolist())
        assert 1 <= len(own) <= 3
        topics = planted.item_topic[items]
        liked = ratings[u] >= LIKE_THRESHOLD
        foreign_likes += int((~np.isin(topics[liked], list(own))).sum())
        assert not np.isin(topics[~liked], list(own)).any()  # dislikes are of other topics
        assert int(planted.next_item[u]) not in set(items.tolist())
        assert int(planted.item_topic[planted.next_item[u]]) in own
    assert foreign_likes == 0
    assert 0 < (inter.rating < LIKE_THRESHOLD).mean() < 0.1


def test_a_topic_popularity_recommender_recovers_the_planted_next_items(tiny: Synthetic) -> None:
    """Knowing only the log and each item's first category, topic-aware popularity gets close to the
    oracle's recall and far above plain popularity: the planted structure is recoverable."""
    ds, planted = tiny.dataset, tiny.planted
    inter, n_items = ds.interactions, ds.n_items
    topic_of = {name: t for t, name in enumerate(sorted({c[0] for c in ds.catalog.categories}))}
    item_topic = np.asarray([topic_of[c[0]] for c in ds.catalog.categories])
    liked = inter.rating >= LIKE_THRESHOLD
    counts = np.bincount(inter.item[liked], minlength=n_items) + 1.0
    within = counts / np.bincount(item_topic, weights=counts)[item_topic]
    seen = _seen(tiny)
    top_topic_pop = np.zeros((len(seen), 10), dtype=np.int64)
    top_pop = np.zeros((len(seen), 10), dtype=np.int64)
    for u, items in enumerate(seen):
        rows = np.flatnonzero((inter.user == u) & liked)
        share = np.bincount(item_topic[inter.item[rows]], minlength=len(topic_of)) / len(rows)
        score = share[item_topic] * within
        score[items] = -1
        top_topic_pop[u] = np.argsort(-score, kind="stable")[:10]
        pop = counts.copy()
        pop[items] = -1
        top_pop[u] = np.argsort(-pop, kind="stable")[:10]
    targets = [np.asarray([t]) for t in planted.next_item]
    oracle = recall(planted.oracle_top_k(seen, 10), targets, 10).mean()
    simple = recall(top_topic_pop, targets, 10).mean()
    popular = recall(top_pop, targets, 10).mean()
    assert oracle > 0.3
    assert simple > 0.75 * oracle
    assert simple > 2 * popular


def test_the_oracle_lists_unseen_items_of_the_users_topics(tiny: Synthetic) -> None:
    seen = _seen(tiny)
    top = tiny.planted.oracle_top_k(seen, 10)
    for u, items in enumerate(seen):
        assert not np.isin(top[u], items).any()
        own = tiny.planted.user_topics[u]
        assert np.isin(tiny.planted.item_topic[top[u]], own[own >= 0]).all()
        p = tiny.planted.next_item_probability(u, top[u])
        assert np.all(np.diff(p) <= 1e-12)


def test_topics_are_many_and_named_by_style_and_domain() -> None:
    names = topic_names(MAX_TOPICS)
    assert len(set(names)) == MAX_TOPICS >= 200
    # Every domain appears once among the first len(DOMAINS) topics.
    first = topic_names(30)
    assert len({n.split(" ", 1)[1] for n in first}) == 30


def test_sizes_that_cannot_hold_the_structure_are_refused() -> None:
    with pytest.raises(ValueError, match="items"):
        synthetic(n_users=10, n_items=100, n_interactions=100, n_topics=8)
    with pytest.raises(ValueError, match="interactions"):
        synthetic(n_users=10, n_items=400, n_interactions=20, n_topics=8)
    with pytest.raises(ValueError, match="histories may hold"):
        synthetic(n_users=10, n_items=400, n_interactions=3_000, n_topics=8)
    with pytest.raises(ValueError, match="n_topics"):
        synthetic(n_users=10, n_items=100_000, n_interactions=100, n_topics=MAX_TOPICS + 1)
