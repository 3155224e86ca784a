"""The sequence model inside the Recommender: trained on its content, a fused signal, a profile layer, saved."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from interestlm.config import RecommenderConfig
from interestlm.core.schema import Event
from interestlm.core.tables import Dataset
from interestlm.fitted_io import SEQREC_DIR
from interestlm.models.seqrec_config import SeqRecConfig
from interestlm.recommender import Recommender
from interestlm.testing.planted import planted_chains, planted_next

N_TOPICS = 3
PER_TOPIC = 12
STEPS = 8
SEQ = SeqRecConfig(
    max_len=STEPS, hidden=32, n_layers=1, n_heads=2, dropout=0.1, lr=5e-3, batch_size=16, epochs=30,
    patience=0, num_threads=1,
)  # fmt: skip


def _next(item: int) -> int:
    return planted_next(item, PER_TOPIC)


@pytest.fixture(scope="module")
def data() -> Dataset:
    return planted_chains(n_topics=N_TOPICS, items_per_topic=PER_TOPIC, steps=STEPS)


@pytest.fixture(scope="module")
def fitted(data: Dataset) -> Recommender:
    config = RecommenderConfig(encoder="hashing", collaborative="itemknn", sequential=True, seqrec=SEQ)
    return Recommender(config).fit(data)


def test_sequential_is_a_learned_signal_and_reported(fitted: Recommender) -> None:
    assert fitted.sequential_ is not None
    assert "sequential" in fitted.state_.ranker.context.names
    assert "sequential" in fitted.fusion_.weights
    report = fitted.report(n_users=20)
    seq = report["sequential"]
    assert seq["parts"] == ["text", "concepts", "id"]
    assert seq["epochs_run"] == SEQ.epochs and seq["best_epoch"] >= 1
    # Trained on the recommender's own content: its text vectors and concept vocabulary.
    assert seq["text_dim"] == fitted.state_.item_vectors.shape[1]
    assert seq["n_concepts"] == fitted.state_.item_concepts.n_concepts


def test_the_model_predicts_the_chain_and_follows_events_at_once(data: Dataset, fitted: Recommender) -> None:
    hits = 0
    for u in range(20):
        user_id = f"u{u}"
        last = int(fitted.profile(user_id).history.items[-1])
        nxt = fitted.profile_json(user_id)["sequential_intent"]["next_items"]
        assert len(nxt) == 5
        assert not {n["item_id"] for n in nxt} & {
            str(data.catalog.item_ids[i]) for i in data.interactions.item[data.interactions.user == u]
        }
        hits += nxt[0]["item_id"] == str(data.catalog.item_ids[_next(last)])
    # A deterministic law the transformer must have learned (chance is ~1/30).
    assert hits >= 15
    # A live event moves the short-term layer: after viewing item X of another topic, X + 1 leads.
    user_id = "u0"
    own_topic = int(fitted.profile(user_id).history.items[-1]) // PER_TOPIC
    other = ((own_topic + 1) % N_TOPICS) * PER_TOPIC + 5
    fitted.update(user_id, Event(item=other, kind="view", timestamp=10**6))
    top = fitted.profile_json(user_id)["sequential_intent"]["next_items"][0]["item_id"]
    assert top == str(data.catalog.item_ids[_next(other)])


def test_save_load_scores_identically_with_items_added(tmp_path: Path, data: Dataset) -> None:
    quick = SeqRecConfig(**{**SEQ.to_json(), "epochs": 4})
    config = RecommenderConfig(encoder="hashing", collaborative="itemknn", sequential=True, seqrec=quick)
    rec = Recommender(config).fit(data)
    rows = rec.add_items([{"item_id": "new-1", "title": data.catalog.titles[3], "categories": ["x"]}])
    scorer = rec.state_.ranker.context.sequential
    assert scorer is not None and scorer.n_items == len(rec.catalog)
    profiles = [rec.profile(f"u{u}") for u in range(6)]
    before = rec.state_.ranker.scores(profiles)
    assert np.isfinite(before[:, rows[0]]).all()
    rec.save(tmp_path / "art")
    assert (tmp_path / "art" / SEQREC_DIR / "model.safetensors").is_file()
    loaded = Recommender.load(tmp_path / "art")
    assert loaded.sequential_ is not None
    after = loaded.state_.ranker.scores([loaded.profile(f"u{u}") for u in range(6)])
    np.testing.assert_allclose(after, before, rtol=1e-4, atol=1e-4)


def test_missing_model_directory_is_a_clear_error(tmp_path: Path, fitted: Recommender) -> None:
    out = fitted.save(tmp_path / "art")
    for f in (out / SEQREC_DIR).iterdir():
        f.unlink()
    (out / SEQREC_DIR).rmdir()
    with pytest.raises(Exception, match=r"manifest|missing"):
        Recommender.load(out)


def test_config_round_trips_through_toml(tmp_path: Path) -> None:
    from interestlm.config import config_to_dict, dumps_toml, recommender_config

    config = RecommenderConfig(sequential=True, seqrec=SEQ)
    import tomllib

    back = recommender_config(tomllib.loads(dumps_toml({"recommender": config_to_dict(config)})))
    assert back.sequential and back.seqrec == SEQ


def test_events_reach_the_live_log_of_a_trend_reading_model(data: Dataset) -> None:
    seq = SeqRecConfig(**{**SEQ.__dict__, "epochs": 2, "new_item_trend": True})
    config = RecommenderConfig(encoder="hashing", collaborative="itemknn", sequential=True, seqrec=seq)
    rec = Recommender(config).fit(data)
    assert rec.sequential_ is not None and len(rec.sequential_.live_items_) == 0
    item = rec.item_index(rec.catalog.item_ids[4])
    rec.update("u0", Event(item=item, kind="click", timestamp=1_000_000))
    rec.update("u1", Event(item=item, kind="click", timestamp=999_000))  # late arrivals are sorted in
    assert list(rec.sequential_.live_times_) == [999_000.0, 1_000_000.0]
    assert rec.sequential_.live_counts(np.array([np.nan]))[0, item] == 2
    # A model that does not read the log keeps none.
    plain = Recommender(RecommenderConfig(encoder="hashing", collaborative="itemknn", sequential=True,
                                          seqrec=SeqRecConfig(**{**SEQ.__dict__, "epochs": 1}))).fit(data)  # fmt: skip
    plain.update("u0", Event(item=item, kind="click", timestamp=1_000_000))
    assert plain.sequential_ is not None and len(plain.sequential_.live_items_) == 0
