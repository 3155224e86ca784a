"""A recommender with the sequence model, served over real HTTP: events move its short-term layer at once."""

from __future__ import annotations

from pathlib import Path

import pytest
from serve_helpers import KEY, live

from interestlm.config import RecommenderConfig
from interestlm.models.seqrec_config import SeqRecConfig
from interestlm.recommender import Recommender
from interestlm.serve import ServeSettings, create_app
from interestlm.testing.planted import planted_chains, planted_next

PER_TOPIC = 12
SEQ = SeqRecConfig(
    max_len=8, hidden=32, n_layers=1, n_heads=2, dropout=0.1, lr=5e-3, batch_size=16, epochs=30,
    patience=0, num_threads=1,
)  # fmt: skip


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = planted_chains(items_per_topic=PER_TOPIC)
    config = RecommenderConfig(encoder="hashing", collaborative="itemknn", sequential=True, seqrec=SEQ)
    return Path(Recommender(config).fit(data).save(tmp_path_factory.mktemp("seq") / "artifacts"))


def test_an_event_moves_the_sequential_layer_and_the_ranking(artifacts: Path, tmp_path: Path) -> None:
    rec = Recommender.load(artifacts)
    ids = rec.catalog.item_ids
    last = int(rec.profile("u3").history.items[-1])
    # An item of another topic than the user's chain: the model's next item must follow it.
    viewed = ((last // PER_TOPIC + 1) % 3) * PER_TOPIC + 5
    expected = str(ids[planted_next(viewed, PER_TOPIC)])
    settings = ServeSettings(api_keys=(KEY,), store_path=tmp_path / "store.sqlite3", synchronous="NORMAL")
    with live(create_app(artifacts, settings=settings)) as server, server.client() as c:
        url = "/v1/users/u3"
        before = c.get(url + "/profile").json()["sequential_intent"]["next_items"]
        assert len(before) == 5 and before[0]["item_id"] == str(ids[planted_next(last, PER_TOPIC)])
        c.get(url + "/recommendations", params={"k": 5}).raise_for_status()  # cached before the event
        r = c.post(url + "/events", json={"item_id": str(ids[viewed]), "kind": "view"})
        assert r.status_code == 200, r.text
        after = c.get(url + "/profile").json()["sequential_intent"]["next_items"]
        assert after[0]["item_id"] == expected
        recs = c.get(url + "/recommendations", params={"k": 5}).json()["recommendations"]
        assert expected in {x["item_id"] for x in recs}
