"""The profile is the model: explanations say what carried each score, and a user described in
words gets what the words say (negation included), through one path for library, CLI and HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from interestlm import Recommender, RecommenderConfig
from interestlm.core.tables import Dataset
from interestlm.explain.explanation import MIN_SHARE, PROFILE_SIGNALS, top_contribution
from interestlm.testing.genres import planted_genres


@pytest.fixture(scope="module")
def genres() -> Dataset:
    return planted_genres()


@pytest.fixture(scope="module")
def fitted(genres: Dataset) -> Recommender:
    return Recommender(RecommenderConfig(encoder="hashing")).fit(genres)


def genre_of(item_id: str) -> int:
    return int(item_id.split("-")[0])


HORROR, SCIFI = 2, 0


# ---------------------------------------------------------------------------- explanations
def test_the_stated_reason_is_the_largest_contributing_signal(fitted: Recommender, genres: Dataset) -> None:
    users = [str(u) for u in genres.interactions.user_ids.tolist()]
    reasons = set()
    for user in users:
        for r in fitted.recommend(user, 10):
            assert r.explanation is not None
            largest = max(r.contributions, key=lambda n: r.contributions[n])
            # Nothing carried an item whose every share is negative (the least bad of the rest).
            top = largest if r.contributions[largest] > 0 else None
            assert r.explanation.reason == top == top_contribution(r.contributions)
            reasons.add(top)
            positive = sum(v for v in r.contributions.values() if v > 0) or 1.0
            interest_share = max(r.contributions.get("interest", 0.0), 0.0) / positive
            # An interest is named only when the interest signal really carried the item.
            assert bool(r.explanation.interest_label) <= (interest_share >= MIN_SHARE)
            if top not in PROFILE_SIGNALS and top in ("transition", "collaborative", "popularity"):
                opening = {
                    "transition": "People who watched",
                    "collaborative": "People ",
                    "popularity": "Popular with everyone",
                }[top]
                assert r.explanation.text.startswith(opening), (top, r.explanation.text)
    assert len(reasons) >= 2, reasons


def test_explain_gives_the_same_reason_as_the_list(fitted: Recommender) -> None:
    recs = fitted.recommend("u1-1", 5)
    for r in recs:
        alone = fitted.explain("u1-1", r.item_id)
        assert r.explanation is not None and alone.reason == r.explanation.reason
        assert alone.text == r.explanation.text


# ---------------------------------------------------------------------------- users from text
TEXT = "I love sci-fi. I hate horror."


def test_negation_in_text_keeps_disliked_concepts_out_of_the_library_ranking(fitted: Recommender) -> None:
    profile = fitted.profile_from_text(TEXT)
    assert profile.extra["taste"]["likes"] == ["sci fi"] and profile.extra["taste"]["dislikes"] == ["horror"]
    assert "horror" in profile.edits.muted
    recs = fitted.recommend(profile, 10)
    genres = [genre_of(r.item_id) for r in recs]
    assert HORROR not in genres and genres.count(SCIFI) >= 6, genres


def test_a_title_in_the_text_is_a_reference_not_a_concept(fitted: Recommender, genres: Dataset) -> None:
    title = genres.catalog.titles[3]  # a sci-fi film
    profile = fitted.profile_from_text(f"Something like {title}, but less horror.")
    assert 3 in profile.seed_items and profile.extra["taste"]["dislikes"] == ["horror"]
    recs = fitted.recommend(profile, 10)
    assert all(genre_of(r.item_id) != HORROR for r in recs)


def test_the_cli_and_http_take_the_same_text_path(
    fitted: Recommender, tmp_path_factory: pytest.TempPathFactory
) -> None:
    artifacts = fitted.save(tmp_path_factory.mktemp("acts") / "artifacts")
    out = tmp_path_factory.mktemp("cli") / "recs.json"
    done = subprocess.run(
        [sys.executable, "-m", "interestlm.cli", "recommend", "--artifacts", str(artifacts), "--text", TEXT,
         "--json", str(out)],
        capture_output=True, text=True, check=False,
    )
    assert done.returncode == 0, done.stderr
    from_cli = json.loads(out.read_text())
    assert from_cli["taste"]["dislikes"] == ["horror"]
    sys.path.insert(0, str(Path(__file__).parent / "serve"))
    from serve_helpers import KEY, live

    from interestlm.serve import ServeSettings, create_app

    settings = ServeSettings(api_keys=(KEY,), store_path=tmp_path_factory.mktemp("st") / "s.sqlite3")
    with live(create_app(artifacts, settings=settings)) as server, server.client() as c:
        from_http = c.post("/v1/recommendations", json={"text": TEXT}).json()
    ids_cli = [r["item_id"] for r in from_cli["recommendations"]]
    ids_http = [r["item_id"] for r in from_http["recommendations"]]
    assert ids_cli == ids_http
    assert all(genre_of(i) != HORROR for i in ids_http)
    assert np.mean([genre_of(i) == SCIFI for i in ids_http]) >= 0.6


# ---------------------------------------------------------------------------- edits
def test_hiding_an_interest_removes_the_items_it_served(fitted: Recommender) -> None:
    user = "u0-1"  # follows two genres: two interests
    profile = fitted.profile(user)
    assert len(profile.interests) >= 2
    vectors = np.stack([i.vector for i in profile.interests])
    item_vectors = fitted.state_.space.vectors_  # the space the interests live in

    def owner(item: int) -> int:
        return int(np.argmax(vectors @ item_vectors[item]))

    before = fitted.recommend(user, 10)
    served = {r.item for r in before if owner(r.item) == 0}
    assert served, "the first interest serves some of the list"
    fitted.edit(user, interest_weights={0: 0.0})
    after = fitted.recommend(user, 10)
    assert not served & {r.item for r in after}
    assert all(owner(r.item) != 0 for r in after)
    assert all(r.explanation is not None and r.explanation.interest != 0 for r in after)
    fitted.edit(user, interest_weights={0: None})
    assert [r.item for r in fitted.recommend(user, 10)] == [r.item for r in before]
