"""SeqRec on tiny planted data: it must learn sequences, rank unseen items by content, and persist."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from interestlm.core.protocol import EvalTask, Model, TrainData
from interestlm.core.tables import Catalog, Dataset, Interactions
from interestlm.data.registry import load_dataset
from interestlm.evaluate.runner import EvaluationConfig, run_evaluation
from interestlm.models import make_model
from interestlm.models.ranking import evaluate_task
from interestlm.models.seqrec import SeqRec, SeqRecConfig, SeqRecScorer, item_content
from interestlm.models.transformer import training_windows
from interestlm.testing.planted import planted_topic_of, planted_topics, planted_user_topics

FAST = SeqRecConfig(
    encoder="hashing", max_len=12, hidden=32, n_layers=1, n_heads=2, dropout=0.1, lr=5e-3,
    batch_size=16, epochs=20, num_threads=1,
)  # fmt: skip
N_TOPICS = 4
PER_TOPIC = 20
COLD_PER_TOPIC = 4  # the last items of each topic never appear in training


def _cold_items() -> np.ndarray:
    return np.array([t * PER_TOPIC + PER_TOPIC - 1 - j for t in range(N_TOPICS) for j in range(COLD_PER_TOPIC)])


def _dataset() -> Dataset:
    return planted_topics(n_topics=N_TOPICS, items_per_topic=PER_TOPIC, n_users=120, history_len=10, seed=3)


@pytest.fixture(scope="module")
def planted() -> TrainData:
    ds = _dataset()
    keep = ~np.isin(ds.interactions.item, _cold_items())
    return TrainData(interactions=ds.interactions.select(keep), catalog=ds.catalog)


@pytest.fixture(scope="module")
def fitted(planted: TrainData) -> SeqRec:
    return SeqRec(FAST).fit(planted)


def _topic_histories(train: TrainData) -> tuple[list[np.ndarray], list[int]]:
    """Each single-topic user's training history and that topic."""
    histories, topics = [], []
    ds = _dataset()
    for u, seq in enumerate(train.sequences()):
        user_topics = planted_user_topics(ds, u)
        if len(user_topics) == 1 and len(seq) >= 3:
            histories.append(seq)
            topics.append(user_topics[0])
    return histories, topics


def _best_cold_topic_rate(model: SeqRec, train: TrainData) -> float:
    """Share of single-topic users whose highest-scored cold item is of their topic."""
    histories, topics = _topic_histories(train)
    scores = model.score(np.arange(len(histories), dtype=np.int32), histories)
    cold = _cold_items()
    best = cold[scores[:, cold].argmax(axis=1)]
    ds = _dataset()
    return float(np.mean([planted_topic_of(ds, int(best[j])) == topics[j] for j in range(len(topics))]))


def test_cold_items_of_the_users_topic_rank_first_from_content(fitted: SeqRec, planted: TrainData) -> None:
    # Chance is 1 / N_TOPICS: content (text + concepts) must put the right topic's unseen items on top.
    assert _best_cold_topic_rate(fitted, planted) >= 0.8
    assert fitted.report()["warm_items"] == N_TOPICS * (PER_TOPIC - COLD_PER_TOPIC)


def test_cosine_similarity_scores_unit_vectors_over_the_temperature(planted: TrainData, tmp_path: Path) -> None:
    model = SeqRec(FAST, similarity="cos", temperature=0.1).fit(planted)
    assert _best_cold_topic_rate(model, planted) >= 0.8
    vectors = model.item_vectors()
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    histories, _ = _topic_histories(planted)
    intent = model.intent(histories[:5])
    np.testing.assert_allclose(np.linalg.norm(intent, axis=1), 10.0, rtol=1e-4)
    # Every score is a cosine over the temperature, so it lies within +-1/temperature.
    scores = model.score(np.arange(5, dtype=np.int32), histories[:5]) - model.new_item_offset_ * model.new_items()
    assert np.abs(scores).max() <= 10.0 + 1e-3
    content = item_content(planted.catalog, planted.interactions, model.config)
    added = model.content_vectors(content.text_vectors, content.concepts)
    np.testing.assert_allclose(np.linalg.norm(added, axis=1), 1.0, rtol=1e-5)
    model.save(tmp_path / "cos")
    np.testing.assert_array_equal(SeqRec.load(tmp_path / "cos").item_vectors(), vectors)


def test_id_only_tower_cannot_rank_cold_items(planted: TrainData) -> None:
    # The control: without content a cold item has no vector at all, so every cold item ties.
    model = SeqRec(FAST, text=False, concepts=False).fit(planted)
    histories, _ = _topic_histories(planted)
    scores = model.score(np.arange(len(histories), dtype=np.int32), histories)
    np.testing.assert_array_equal(scores[:, _cold_items()], 0.0)


def test_learns_a_planted_cycle_through_content_only_vectors() -> None:
    # Six items with distinct text; every user walks the cycle 0 -> 1 -> ... -> 5 -> 0.
    rng = np.random.default_rng(0)
    words = ["violin", "tent", "rocket", "whisk", "guitar", "compass"]
    catalog = Catalog.build([f"i{i}" for i in range(6)], titles=[f"{w} {w}" for w in words])
    seqs = [
        ((s + np.arange(n)) % 6).astype(np.int32)
        for s, n in zip(rng.integers(0, 6, 60), rng.integers(4, 12, 60), strict=True)
    ]
    inter = Interactions.build(
        user=np.concatenate([np.full(len(s), u, np.int32) for u, s in enumerate(seqs)]),
        item=np.concatenate(seqs),
        timestamp=np.concatenate([np.arange(len(s)) for s in seqs]),
        user_ids=[f"u{u}" for u in range(len(seqs))],
    )
    model = SeqRec(FAST, item_id=False, concepts=False, epochs=30).fit(TrainData(interactions=inter, catalog=catalog))
    histories = [np.array([(s + j) % 6 for j in range(n)], dtype=np.int32) for s in range(6) for n in (1, 3)]
    scores = model.score(np.arange(len(histories), dtype=np.int32), histories)
    np.testing.assert_array_equal(scores.argmax(axis=1), [(h[-1] + 1) % 6 for h in histories])


def test_save_load_round_trip_gives_identical_scores(fitted: SeqRec, tmp_path: Path) -> None:
    fitted.save(tmp_path / "seqrec")
    assert sorted(p.name for p in (tmp_path / "seqrec").iterdir()) == ["config.json", "meta.json", "model.safetensors"]
    loaded = SeqRec.load(tmp_path / "seqrec")
    assert loaded.config == fitted.config
    histories = [np.array([2, 3, 4], dtype=np.int32), np.zeros(0, dtype=np.int32)]
    users = np.arange(2, dtype=np.int32)
    np.testing.assert_array_equal(loaded.score(users, histories), fitted.score(users, histories))
    assert loaded.report() == fitted.report()


def test_same_seed_reproduces_and_another_seed_differs(planted: TrainData) -> None:
    cfg = SeqRecConfig(encoder="hashing", max_len=8, hidden=16, epochs=2, batch_size=32, num_threads=1)
    histories = [np.array([1, 2, 3], dtype=np.int32), np.zeros(0, dtype=np.int32)]
    users = np.arange(2, dtype=np.int32)
    a = SeqRec(cfg).fit(planted).score(users, histories)
    b = SeqRec(cfg).fit(planted).score(users, histories)
    c = SeqRec(cfg, seed=1).fit(planted).score(users, histories)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_registry_protocol_and_content(planted: TrainData) -> None:
    model = make_model("seqrec", encoder="hashing", epochs=1)
    assert isinstance(model, SeqRec) and isinstance(model, Model)
    content = item_content(planted.catalog, planted.interactions, FAST)
    assert content.text_vectors is not None and content.text_vectors.shape[0] == len(planted.catalog)
    assert content.concepts is not None
    sums = np.asarray(content.concepts.sum(axis=1)).ravel()
    np.testing.assert_allclose(sums[sums > 0], 1.0, rtol=1e-5)
    # Every planted item has a category, and same-topic items share concepts.
    assert (sums > 0).all()


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ({"text": False, "concepts": False, "item_id": False}, "at least one"),
        ({"id_dropout": 1.0}, "id_dropout"),
        ({"n_experts": 0}, "n_experts"),
        ({"category_kind": "genres"}, "category_kind"),
        ({"hidden": 10, "n_heads": 3}, "divisible"),
        ({"new_item_objective": "recall"}, "new_item_objective"),
        ({"min_new_targets": 0}, "min_new_targets"),
        ({"similarity": "euclid"}, "similarity"),
        ({"temperature": 0.0}, "temperature"),
        ({"new_item_min_offset": float("nan")}, "new_item_min_offset"),
    ],
)
def test_bad_config_is_rejected(bad: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        SeqRecConfig(**bad)  # type: ignore[arg-type]


def test_unknown_saved_fields_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown SeqRecConfig fields: nope"):
        SeqRecConfig.from_json({"nope": 1})


def test_intent_and_item_vectors_factor_the_scores(fitted: SeqRec) -> None:
    histories = [np.array([2, 3, 4], dtype=np.int32), np.array([40], dtype=np.int32), np.zeros(0, dtype=np.int32)]
    scores = fitted.score(np.arange(3, dtype=np.int32), histories)
    intent, items = fitted.intent(histories), fitted.item_vectors()
    assert intent.shape == (3, FAST.hidden) and items.shape == (N_TOPICS * PER_TOPIC, FAST.hidden)
    np.testing.assert_allclose(intent @ items.T, scores, rtol=1e-4, atol=1e-4)
    # A cold item still has a (content) vector; an ID-only model would leave it at zero.
    assert np.abs(items[_cold_items()]).sum(axis=1).min() > 0


@pytest.mark.parametrize("unseen_negatives", [False, True])
def test_items_without_training_interactions_are_softmax_negatives_only_when_asked(
    planted: TrainData, unseen_negatives: bool
) -> None:
    model = SeqRec(FAST, epochs=1, unseen_negatives=unseen_negatives).fit(planted)
    windows = torch.from_numpy(training_windows(planted.sequences(), FAST.max_len))
    inputs, labels = windows[:, :-1], windows[:, 1:]
    gen = torch.Generator().manual_seed(0)
    model.net_.eval()
    with torch.no_grad():
        before = float(model._loss(inputs, labels, gen))
        model.net_.tower.text[torch.from_numpy(_cold_items())] += 1.0  # move only the cold items
        after = float(model._loss(inputs, labels, gen))
    assert (before == after) is not unseen_negatives


def test_the_evaluation_runner_fits_and_reports_seqrec() -> None:
    # What `interestlm evaluate --model seqrec` does, on the shipped MovieLens sample.
    dataset = load_dataset("ml-latest-small-sample")
    settings = {"encoder": "hashing", "epochs": 1, "max_len": 20, "hidden": 16, "num_threads": 1}
    config = EvaluationConfig(ks=(10,), slices=False, models={"seqrec": settings})
    [result] = run_evaluation(dataset, ["seqrec"], config)
    assert result["model"] == "seqrec" and result["device"] == "cpu"
    assert 0.0 <= result["metrics"]["recall@10"] <= 1.0
    assert result["model_report"]["parts"] == ["text", "concepts", "id"]
    assert result["training"]["epochs_run"] == 1
    assert result["config"]["max_len"] == 20  # the run's settings win over the MovieLens default of 200


def test_rating_head_tells_followed_topics_from_disliked_ones(planted: TrainData, tmp_path: Path) -> None:
    from interestlm.testing.planted import LIKE_THRESHOLD

    model = SeqRec(FAST, rating_weight=1.0).fit(planted)
    inter = planted.interactions
    # Every training row: the history before it and its item; planted likes are 3.5-5, dislikes 1-1.5.
    order = inter.time_order()
    histories, items, truth = [], [], []
    seqs = planted.sequences()
    position = np.zeros(inter.n_users, dtype=np.int64)
    for r in order:
        u = int(inter.user[r])
        histories.append(seqs[u][: position[u]])
        items.append(int(inter.item[r]))
        truth.append(float(inter.rating[r]))
        position[u] += 1
    predicted = model.predict_ratings(histories, np.asarray(items))
    truth_arr = np.asarray(truth)
    liked = truth_arr >= LIKE_THRESHOLD
    assert liked.any() and (~liked).any()
    # Planted answer: disliked items are predicted well below liked ones, and the error beats the mean.
    assert predicted[liked].mean() - predicted[~liked].mean() > 1.0
    rmse = float(np.sqrt(np.mean((predicted - truth_arr) ** 2)))
    assert rmse < 0.8 * float(truth_arr.std())
    # The head and its rating scale are saved with the model.
    again = SeqRec.load(model.save(tmp_path / "rated"))
    np.testing.assert_allclose(again.predict_ratings(histories[:50], np.asarray(items[:50])), predicted[:50], rtol=1e-5)
    with pytest.raises(RuntimeError, match="no rating head"):
        SeqRec(FAST, epochs=1).fit(planted).predict_ratings(histories[:1], np.asarray(items[:1]))


def _topic_task(train: TrainData, seed: int, hits: np.ndarray | None = None, at: float | None = None) -> EvalTask:
    """Single-topic users; every other row's target is a cold item of the user's topic (``hits[topic]``
    when given, else a random one), the rest warm. ``at``: every row's request time."""
    histories, topics = _topic_histories(train)
    cold = _cold_items()
    rng = np.random.default_rng(seed)
    targets = []
    for j, (h, t) in enumerate(zip(histories, topics, strict=True)):
        warm = np.setdiff1d(np.arange(t * PER_TOPIC, (t + 1) * PER_TOPIC), np.concatenate([h, cold]))
        if (j % 2 == seed % 2 or len(warm) == 0) and hits is not None:
            targets.append(np.array([hits[t]]))
            continue
        pool = cold[cold // PER_TOPIC == t] if j % 2 == seed % 2 or len(warm) == 0 else warm
        targets.append(np.array([rng.choice(pool)]))
    task = _valid_task(histories, targets)
    return task if at is None else replace(task, times=np.full(len(task), at))


def _valid_task(histories: list[np.ndarray], targets: list[np.ndarray]) -> EvalTask:
    """A validation task of these rows, each history's items excluded from its ranking."""
    import scipy.sparse as sp

    n = len(histories)
    exclude = sp.csr_matrix(
        (np.ones(sum(map(len, histories))), np.concatenate(histories), np.cumsum([0, *map(len, histories)])),
        shape=(n, N_TOPICS * PER_TOPIC),
    )
    return EvalTask(name="valid", users=np.arange(n, dtype=np.int32), histories=histories, targets=targets,
                    exclude=exclude)  # fmt: skip


def test_new_items_score_offset_is_learned_on_validation_and_carries_to_other_rows(
    planted: TrainData, tmp_path: Path
) -> None:
    valid = _topic_task(planted, seed=0)
    model = SeqRec(FAST).fit(planted, valid=valid)
    offset = model.new_item_offset_
    assert offset > 0  # the trained items' scores sit higher than content alone reaches
    np.testing.assert_array_equal(np.flatnonzero(model.new_items()), np.sort(_cold_items()))
    # New rows (other cold and warm targets): the offset found on validation helps there too.
    for seed in (1, 2):
        test = _topic_task(planted, seed=seed)
        with_offset = evaluate_task(model, test, ks=(10,))["ndcg@10"]
        model.new_item_offset_ = 0.0
        without = evaluate_task(model, test, ks=(10,))["ndcg@10"]
        model.new_item_offset_ = offset
        assert with_offset > without + 0.02
    # It is part of the scores, the saved model and the ranking signal, added items included.
    histories = [np.array([2, 3, 4], dtype=np.int32)]
    raw = model.intent(histories) @ model.item_vectors().T
    shift = np.where(model.new_items(), np.float32(offset), np.float32(0.0))
    np.testing.assert_allclose(model.score(np.zeros(1, dtype=np.int32), histories), raw + shift, rtol=1e-5, atol=1e-5)
    loaded = SeqRec.load(model.save(tmp_path / "m"))
    assert loaded.new_item_offset_ == offset and loaded.report()["new_item_offset"] == offset
    scorer = SeqRecScorer(loaded)
    np.testing.assert_allclose(scorer.score(histories), raw + shift, rtol=1e-5, atol=1e-5)
    content = item_content(planted.catalog, planted.interactions, loaded.config)
    assert content.text_vectors is not None and content.concepts is not None
    grown = scorer.with_items(content.text_vectors[:2], content.concepts[:2])
    added = loaded.intent(histories) @ loaded.content_vectors(content.text_vectors[:2], content.concepts[:2]).T
    np.testing.assert_allclose(grown.score(histories)[:, -2:], added + offset, rtol=1e-5, atol=1e-5)


def _new_item_fan_task(train: TrainData, seed: int) -> EvalTask:
    """Single-topic users; every other one has just chosen a cold item of their topic and chooses
    another (the "new release" users), the rest choose a warm item of their topic."""
    base, topics = _topic_histories(train)
    cold = _cold_items()
    rng = np.random.default_rng(seed)
    histories, targets = [], []
    for j, (h, t) in enumerate(zip(base, topics, strict=True)):
        if j % 2 == seed % 2:
            first, second = rng.choice(cold[cold // PER_TOPIC == t], size=2, replace=False)
            histories.append(np.append(h, first).astype(np.int32))
            targets.append(np.array([second]))
        else:
            warm = np.setdiff1d(np.arange(t * PER_TOPIC, (t + 1) * PER_TOPIC), np.concatenate([h, cold]))
            histories.append(h)
            targets.append(np.array([rng.choice(warm if len(warm) else h)]))
    return _valid_task(histories, targets)


def test_the_new_item_affinity_lifts_new_items_for_users_who_just_chose_one(planted: TrainData, tmp_path: Path) -> None:
    model = SeqRec(FAST, new_item_affinity=True, new_item_window=2).fit(planted, valid=_new_item_fan_task(planted, 0))
    offset, affinity = model.new_item_offset_, model.new_item_affinity_
    assert affinity > 0 and model.report()["new_item_affinity"] == affinity
    # On other rows of the same kind it beats the best single offset of the same weights.
    test = _new_item_fan_task(planted, 1)
    with_slope = evaluate_task(model, test, ks=(10,))["ndcg@10"]
    model.calibrate_new_items(_new_item_fan_task(planted, 0), affinity=False)
    assert model.new_item_affinity_ == 0.0
    assert with_slope > evaluate_task(model, test, ks=(10,))["ndcg@10"] + 0.02
    model.new_item_offset_, model.new_item_affinity_ = offset, affinity
    # The lift is offset + affinity * (share of new items among the last 2), in the scores, the
    # saved model and the ranking signal, where items added since count as new.
    histories = [np.array([2, 3, 4], dtype=np.int32), np.array([2, int(_cold_items()[0])], dtype=np.int32)]
    new = model.new_items()
    raw = model.intent(histories) @ model.item_vectors().T
    lifted = raw + np.array([[offset], [offset + affinity / 2]], dtype=np.float32) * new
    np.testing.assert_allclose(model.score(np.zeros(2, dtype=np.int32), histories), lifted, rtol=1e-5, atol=1e-5)
    loaded = SeqRec.load(model.save(tmp_path / "fan"))
    assert (loaded.new_item_offset_, loaded.new_item_affinity_) == (offset, affinity)
    np.testing.assert_allclose(SeqRecScorer(loaded).score(histories), lifted, rtol=1e-5, atol=1e-5)
    content = item_content(planted.catalog, planted.interactions, loaded.config)
    assert content.text_vectors is not None and content.concepts is not None
    grown = SeqRecScorer(loaded).with_items(content.text_vectors[:2], content.concepts[:2])
    added = np.array([2, model.n_items_], dtype=np.int32)  # a warm item, then the first added one
    vectors = loaded.content_vectors(content.text_vectors[:2], content.concepts[:2])
    expected = loaded.intent([added], item_vectors=grown.vectors) @ vectors.T + offset + affinity / 2
    np.testing.assert_allclose(grown.score([added])[:, -2:], expected, rtol=1e-5, atol=1e-5)


DAY = 86400.0
NOW = 1_000_000_000.0


def test_the_live_log_counts_each_item_in_the_window_before_the_request(fitted: SeqRec, tmp_path: Path) -> None:
    model = SeqRec.load(fitted.save(tmp_path / "log"))
    assert not model.live_counts(np.array([NOW])).any()  # nothing told yet
    model.observe(np.array([5, 5, 7, 5]), np.array([NOW - 40 * DAY, NOW - 2 * DAY, NOW - DAY, NOW]))
    model.observe(np.array([7]), np.array([NOW - 3 * DAY]))  # out of order: kept sorted
    counts = model.live_counts(np.array([NOW, NOW - DAY, np.nan]))
    # The 30 days before NOW, the request's own second excluded; NaN: up to the last event.
    assert (counts[0, 5], counts[0, 7]) == (1, 2)
    assert (counts[1, 5], counts[1, 7]) == (1, 1)
    assert (counts[2, 5], counts[2, 7]) == (2, 2)
    assert counts.sum() == 1 + 2 + 1 + 1 + 2 + 2
    with pytest.raises(ValueError, match="item indices"):
        model.observe(np.array([model.n_items_]), np.array([NOW]))
    with pytest.raises(ValueError, match="NaN"):
        model.observe(np.array([1]), np.array([np.nan]))
    with pytest.raises(ValueError, match="2 items but 1 times"):
        model.observe(np.array([1, 2]), np.array([NOW]))


def test_the_live_log_appends_in_place_and_stays_bounded(
    fitted: SeqRec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import interestlm.models.seqrec as seqrec_module

    one_by_one = SeqRec.load(fitted.save(tmp_path / "stream"))
    at_once = SeqRec.load(fitted.save(tmp_path / "batch"))
    rng = np.random.default_rng(0)
    items = rng.integers(0, fitted.n_items_, 3000)
    times = NOW - DAY * 20 + np.arange(3000) * 60.0
    for item, t in zip(items, times, strict=True):
        one_by_one.observe(np.array([item]), np.array([t]))
    at_once.observe(items, times)
    np.testing.assert_array_equal(one_by_one.live_items_, at_once.live_items_)
    np.testing.assert_array_equal(one_by_one.live_counts(np.array([NOW])), at_once.live_counts(np.array([NOW])))
    # The buffer grows by doubling: far fewer reallocations than events.
    assert len(one_by_one._live_times_buf) < 2 * 3000
    monkeypatch.setattr(seqrec_module, "LIVE_LOG_LIMIT", 1000)
    one_by_one.observe(np.array([1]), np.array([times[-1] + 1]))
    assert len(one_by_one.live_times_) == 500 and one_by_one.live_times_[-1] == times[-1] + 1
    assert np.all(np.diff(one_by_one.live_times_) >= 0)


def test_the_trend_weight_lifts_the_new_items_people_are_choosing(planted: TrainData, tmp_path: Path) -> None:
    cold = _cold_items()
    hits = np.array([cold[cold // PER_TOPIC == t][1] for t in range(N_TOPICS)])
    model = SeqRec(FAST, new_item_trend=True).fit(planted, valid=_topic_task(planted, 0, hits, NOW))
    assert model.new_item_trend_ == 0.0  # fit has no live log yet
    # The log after training: each topic's hit chosen 12 times last week, its other cold items once.
    others = np.setdiff1d(cold, hits)
    items = np.concatenate([np.repeat(hits, 12), others])
    model.observe(items, NOW - DAY * np.linspace(1, 7, len(items)))
    model.calibrate_new_items(_topic_task(planted, 0, hits, NOW))
    weight = model.new_item_trend_
    assert weight > 0 and model.report()["new_item_trend"] == weight
    test = _topic_task(planted, 1, hits, NOW)
    with_trend = evaluate_task(model, test, ks=(10,))["ndcg@10"]
    model.calibrate_new_items(_topic_task(planted, 0, hits, NOW), trend=False)
    assert model.new_item_trend_ == 0.0
    assert with_trend > evaluate_task(model, test, ks=(10,))["ndcg@10"] + 0.05
    model.calibrate_new_items(_topic_task(planted, 0, hits, NOW))
    # In the scores: weight * log(1 + count) on new items, counted before each request time.
    history = [np.array([2, 3, 4], dtype=np.int32)]
    plain = model.intent(history) @ model.item_vectors().T + model.new_item_lift(history)[:, None] * model.new_items()
    counts = model.live_counts(np.array([NOW]))
    np.testing.assert_allclose(
        model.score_at(np.zeros(1, dtype=np.int32), history, np.array([NOW])),
        plain + weight * np.log1p(counts) * model.new_items(), rtol=1e-5, atol=1e-4,
    )  # fmt: skip
    # The weight is saved; the log is serving state, told again after loading.
    loaded = SeqRec.load(model.save(tmp_path / "trend"))
    assert loaded.new_item_trend_ == weight and len(loaded.live_times_) == 0
    loaded.observe(model.live_items_, model.live_times_)
    np.testing.assert_allclose(
        SeqRecScorer(loaded).score(history),
        plain + weight * np.log1p(loaded.live_counts(np.array([np.nan]))) * model.new_items(), rtol=1e-5, atol=1e-4,
    )  # fmt: skip


def test_the_offset_floor_reaches_the_calibration(planted: TrainData) -> None:
    # A floor far above the offset validation would pick: the calibration may not go below it.
    model = SeqRec(FAST, new_item_min_offset=50.0).fit(planted, valid=_topic_task(planted, seed=0))
    assert model.new_item_offset_ >= 50.0


def test_no_offset_without_calibration_or_validation(planted: TrainData) -> None:
    valid = _topic_task(planted, seed=0)
    assert SeqRec(FAST, epochs=2, calibrate_new_items=False).fit(planted, valid=valid).new_item_offset_ == 0.0
    assert SeqRec(FAST, epochs=2).fit(planted).new_item_offset_ == 0.0
    # Fewer new-item targets than min_new_targets: no evidence, no offset.
    n_new = sum(int(np.isin(t, _cold_items()).any()) for t in valid.targets)
    strict = SeqRec(FAST, epochs=2, min_new_targets=n_new + 1).fit(planted, valid=valid)
    assert strict.new_item_offset_ == 0.0


def test_concepts_no_training_item_carries_add_nothing_to_an_items_vector(fitted: SeqRec, planted: TrainData) -> None:
    # Their embeddings never get a gradient (random initial values): a new item's bag skips them.
    trained = fitted.net_.tower.concept_trained.numpy()
    content = item_content(planted.catalog, planted.interactions, fitted.config)
    assert content.concepts is not None and content.text_vectors is not None
    carried = np.asarray(content.concepts[np.setdiff1d(np.arange(N_TOPICS * PER_TOPIC), _cold_items())].sum(axis=0))
    np.testing.assert_array_equal(trained, (carried.ravel() > 0).astype(np.float32))
    untrained = np.flatnonzero(trained == 0)
    assert len(untrained) > 0  # the cold items bring concepts of their own
    cold = int(_cold_items()[0])
    text = content.text_vectors[[cold]]
    bag = content.concepts[[cold]].toarray()
    with_noise = bag.copy()
    with_noise[0, untrained] += 0.5
    np.testing.assert_allclose(
        fitted.content_vectors(text, with_noise), fitted.content_vectors(text, bag), rtol=1e-5, atol=1e-6
    )
    # A trained concept does change it.
    moved = bag.copy()
    moved[0, int(np.flatnonzero(trained)[0])] += 0.5
    assert not np.allclose(fitted.content_vectors(text, moved), fitted.content_vectors(text, bag), atol=1e-4)
