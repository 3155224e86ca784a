from __future__ import annotations

import time

import numpy as np
import pytest

from interestlm.concepts import extract_concepts
from interestlm.core.schema import Event
from interestlm.data.registry import load_dataset
from interestlm.encode import HashingEncoder
from interestlm.profiles import ProfileBuilder, ReviewSentiment, histories_from_interactions
from interestlm.testing import shared_data
from interestlm.text import item_texts, review_snippets


@pytest.mark.integration
def test_musical_instruments_profiles_from_real_reviews() -> None:
    folder = shared_data("amazon-2014-musical-instruments-5core")
    ds = load_dataset("musical-instruments", data_root=folder.parent)
    # No metadata ships with this set: items are described by their reviews.
    texts = item_texts(ds.catalog, reviews=review_snippets(ds.interactions, ds.n_items))
    vectors = HashingEncoder(dim=256).encode(texts)
    concepts = extract_concepts(ds.catalog, texts=texts)

    t0 = time.perf_counter()
    histories = histories_from_interactions(ds.interactions, sentiment=ReviewSentiment())
    t1 = time.perf_counter()
    builder = ProfileBuilder(vectors, concepts)
    profiles = builder.build_many(list(ds.interactions.user_ids), histories)
    t2 = time.perf_counter()
    print(f"\n{len(ds.interactions)} reviews scored in {t1 - t0:.1f} s; {len(profiles)} profiles in {t2 - t1:.1f} s")

    assert len(profiles) == ds.n_users
    with_dislikes = sum(1 for p in profiles if p.dislikes)
    assert with_dislikes >= 0.05 * len(profiles), with_dislikes
    assert all(p.interests for p in profiles)  # every user liked or used something
    # Disliked reviews really are the low-star ones.
    ratings = np.concatenate([h.ratings for h in histories])
    polarity = np.concatenate([h.polarity for h in histories])
    assert ratings[polarity <= -0.4].mean() < 3.0 < ratings[polarity >= 0.4].mean()
    for p in profiles:
        weights = [i.weight for i in p.interests]
        assert sum(weights) == pytest.approx(1.0)
        assert not set(p.dislikes) & {x for i in p.interests for x in i.items}
    assert t2 - t1 < 60.0


@pytest.mark.integration
def test_movielens_profiles_are_true_to_the_ratings_and_to_time() -> None:
    """Issue 20 on ml-latest-small: no sentiment-rule violations, and one live event stamped today
    moves a long history's interest weights by at most the stated bound (update path)."""
    folder = shared_data("ml-latest-small")
    ds = load_dataset("ml-latest-small", data_root=folder.parent)
    texts = item_texts(ds.catalog)
    builder = ProfileBuilder(HashingEncoder(dim=256).encode(texts), extract_concepts(ds.catalog, texts=texts))
    histories = histories_from_interactions(ds.interactions)
    matrix = builder.item_concepts.matrix.tocsr()
    names = builder.item_concepts.names
    rng = np.random.default_rng(0)
    moved: dict[int, float] = {}
    long_term: dict[int, int] = {}
    for u, h in enumerate(histories):
        profile = builder.build(str(u), h)
        latest = {int(i): float(r) for i, r in zip(h.items, h.ratings, strict=True)}
        top = [i for i, r in latest.items() if r >= 4.0]
        carried = {names[c] for i in top for c in matrix.indices[matrix.indptr[i] : matrix.indptr[i + 1]]}
        liked, disliked = set(dict(profile.liked_concepts)), set(dict(profile.disliked_concepts))
        assert not liked & disliked and not disliked & carried
        assert all(latest[i] <= 2.5 for i in profile.dislikes)  # ratings are the only evidence here
        if len(h) < 20 or not profile.interests:
            continue
        item = int(rng.integers(ds.n_items))
        while item in latest:
            item = int(rng.integers(ds.n_items))
        after = builder.update(profile, Event(item=item, kind="like", timestamp=1_700_000_000))
        assert after.short_term_items[0] == item
        # update() keeps each interest (its medoid may move) and adds the item to at most one;
        # an interest is known by its items other than the new one.
        old = {frozenset(i.items): i.weight for i in profile.interests}
        new = {frozenset(i.items) - {item}: i.weight for i in after.interests}
        moved[u] = sum(abs(new.get(k, 0.0) - old.get(k, 0.0)) for k in old.keys() | new.keys())
        assert moved[u] <= builder.weight_shift_bound(profile) + 1e-9
        long_term[u] = int(np.isin(h.items, [x for i in profile.interests for x in i.items]).sum())
    assert len(moved) >= 600
    assert all(moved[u] <= 0.25 for u in moved if long_term[u] >= 20)
    assert float(np.median(list(moved.values()))) <= 0.1
