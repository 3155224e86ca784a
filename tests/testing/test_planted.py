from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interestlm.core.tables import Dataset
from interestlm.encode.hashing import HashingEncoder
from interestlm.evaluate.split import leave_one_out
from interestlm.testing.planted import (
    LIKE_THRESHOLD,
    PLANTED_TOPICS,
    planted_topic_of,
    planted_topics,
    planted_user_topics,
)


def _user_rows(ds: Dataset, u: int) -> np.ndarray:
    order = ds.interactions.time_order()
    return order[ds.interactions.user[order] == u]


def _check_invariants(ds: Dataset, n_topics: int, items_per_topic: int, n_users: int, history_len: int) -> None:
    inter, cat = ds.interactions, ds.catalog
    assert ds.n_items == n_topics * items_per_topic
    assert inter.n_users == n_users
    assert len(inter) == n_users * history_len
    for i in range(ds.n_items):
        topic = planted_topic_of(ds, i)
        assert topic == i // items_per_topic
        name = PLANTED_TOPICS[topic]
        assert name in cat.descriptions[i]
        assert cat.titles[i].strip()
    assert len(set(cat.titles)) == ds.n_items
    for u in range(n_users):
        rows = _user_rows(ds, u)
        assert len(rows) == history_len
        assert np.all(np.diff(inter.timestamp[rows]) > 0)
        items = inter.item[rows]
        assert len(set(items.tolist())) == history_len
        own = planted_user_topics(ds, u)
        assert 1 <= len(own) <= 2
        last = rows[-1]
        assert inter.rating[last] >= LIKE_THRESHOLD
        assert planted_topic_of(ds, int(inter.item[last])) in own
        for r in rows:
            topic = planted_topic_of(ds, int(inter.item[r]))
            if inter.rating[r] < LIKE_THRESHOLD:
                assert inter.rating[r] < 2
                assert topic not in own
                assert "Not for me" in str(inter.review[r])
            else:
                assert topic in own


def test_default_dataset_invariants() -> None:
    ds = planted_topics()
    _check_invariants(ds, 4, 25, 40, 12)
    assert ds.name == "planted-topics" and ds.has_time


def test_mix_of_single_and_two_topic_users_and_some_dislikes() -> None:
    ds = planted_topics()
    n_own = [len(planted_user_topics(ds, u)) for u in range(ds.n_users)]
    assert n_own.count(1) >= ds.n_users // 2
    assert n_own.count(2) == ds.n_users // 4
    n_dislikes = int((ds.interactions.rating < LIKE_THRESHOLD).sum())
    assert 5 <= n_dislikes <= ds.n_users
    # Every topic is followed by someone, so every topic can be a planted answer.
    assert set().union(*(planted_user_topics(ds, u) for u in range(ds.n_users))) == set(range(4))


def test_deterministic_per_seed() -> None:
    a, b, c = planted_topics(seed=3), planted_topics(seed=3), planted_topics(seed=4)
    for name in ("user", "item", "timestamp", "rating"):
        assert np.array_equal(getattr(a.interactions, name), getattr(b.interactions, name))
    assert a.catalog.tags == b.catalog.tags
    assert not np.array_equal(a.interactions.item, c.interactions.item)


@settings(max_examples=25, deadline=None)
@given(
    n_topics=st.integers(1, len(PLANTED_TOPICS)),
    items_per_topic=st.integers(2, 60),
    n_users=st.integers(1, 30),
    data=st.data(),
    seed=st.integers(0, 2**16),
)
def test_invariants_hold_for_any_size(
    n_topics: int, items_per_topic: int, n_users: int, data: st.DataObject, seed: int
) -> None:
    history_len = data.draw(st.integers(2, items_per_topic))
    ds = planted_topics(
        n_topics=n_topics, items_per_topic=items_per_topic, n_users=n_users, history_len=history_len, seed=seed
    )
    _check_invariants(ds, n_topics, items_per_topic, n_users, history_len)


def test_text_encoder_sees_the_topic() -> None:
    ds = planted_topics()
    cat = ds.catalog
    texts = [f"{t}. {d} {' '.join(g)}" for t, d, g in zip(cat.titles, cat.descriptions, cat.tags, strict=True)]
    vecs = HashingEncoder(dim=1024).encode(texts)
    topic = np.array([planted_topic_of(ds, i) for i in range(ds.n_items)])
    sims = vecs @ vecs.T
    same = topic[:, None] == topic[None, :]
    np.fill_diagonal(same, False)
    different = topic[:, None] != topic[None, :]
    assert sims[same].mean() > sims[different].mean() + 0.2
    # Nearest neighbour of every item (other than itself) is of the same topic.
    np.fill_diagonal(sims, -np.inf)
    assert np.all(topic[sims.argmax(axis=1)] == topic)


def test_leave_one_out_target_is_of_the_users_topic() -> None:
    """The planted answer: a single-topic user's held-out (last) item is of that topic."""
    ds = planted_topics()
    split = leave_one_out(ds)
    topic = np.array([planted_topic_of(ds, i) for i in range(ds.n_items)])
    for u, target in zip(split.test.users.tolist(), split.test.targets, strict=True):
        own = planted_user_topics(ds, u)
        assert topic[int(target[0])] in own
        if len(own) == 1:
            assert topic[int(target[0])] == own[0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_topics": 0}, "n_topics"),
        ({"n_topics": len(PLANTED_TOPICS) + 1}, "n_topics"),
        ({"items_per_topic": 1}, "items_per_topic"),
        ({"n_users": 0}, "n_users"),
        ({"history_len": 1}, "history_len"),
        ({"history_len": 26}, "history_len"),
    ],
)
def test_bad_parameters_raise(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        planted_topics(**kwargs)


def test_lookup_errors() -> None:
    ds = planted_topics(n_users=2)
    with pytest.raises(ValueError, match="item 100"):
        planted_topic_of(ds, 100)
    with pytest.raises(ValueError, match="user 2"):
        planted_user_topics(ds, 2)
