from __future__ import annotations

import time

import numpy as np
import pytest

from interestlm.concepts import extract_concepts
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
