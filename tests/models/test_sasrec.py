"""SASRec on tiny planted sequences: it must learn them, and be deterministic, savable and robust."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from interestlm.core.protocol import EvalTask, Model, TrainData, history_matrix
from interestlm.core.tables import Catalog, Interactions
from interestlm.models.ranking import evaluate_task
from interestlm.models.sasrec import SASRec, SASRecConfig, training_windows

N_ITEMS = 12
CYCLE = 6  # items 0..5 form the cycle 0->1->...->5->0; items 6..11 are never seen


def _cycle_sequences(n_users: int = 48, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, CYCLE, n_users)
    lengths = rng.integers(4, 14, n_users)
    return [((s + np.arange(n)) % CYCLE).astype(np.int32) for s, n in zip(starts, lengths, strict=True)]


def _train_data(sequences: list[np.ndarray], n_items: int = N_ITEMS) -> TrainData:
    user = np.concatenate([np.full(len(s), u, np.int32) for u, s in enumerate(sequences)])
    item = np.concatenate(sequences)
    timestamp = np.concatenate([np.arange(len(s)) for s in sequences])
    inter = Interactions.build(
        user=user, item=item, timestamp=timestamp, user_ids=[f"u{u}" for u in range(len(sequences))]
    )
    return TrainData(interactions=inter, catalog=Catalog.build([f"i{i}" for i in range(n_items)]))


def _task(histories: list[np.ndarray], targets: list[int], n_items: int = N_ITEMS) -> EvalTask:
    return EvalTask(
        name="valid",
        users=np.arange(len(histories), dtype=np.int32),
        histories=histories,
        targets=[np.array([t], dtype=np.int32) for t in targets],
        exclude=history_matrix(histories, n_items),
    )


FAST = SASRecConfig(
    max_len=8, hidden=32, n_layers=1, n_heads=2, dropout=0.0, lr=1e-2, batch_size=16, epochs=15, num_threads=1
)


@pytest.fixture(scope="module")
def fitted() -> SASRec:
    return SASRec(FAST).fit(_train_data(_cycle_sequences()))


def test_learns_planted_cycle_and_ranks_true_next_item_first(fitted: SASRec) -> None:
    histories = [np.array([(s + j) % CYCLE for j in range(n)], dtype=np.int32) for s in range(CYCLE) for n in (1, 3, 7)]
    scores = fitted.score(np.arange(len(histories), dtype=np.int32), histories)
    expected = np.array([(h[-1] + 1) % CYCLE for h in histories])
    np.testing.assert_array_equal(scores.argmax(axis=1), expected)


def test_sampled_softmax_also_learns_the_cycle() -> None:
    model = SASRec(FAST, loss="sampled", n_negatives=4, epochs=25).fit(_train_data(_cycle_sequences()))
    histories = [np.array([s, (s + 1) % CYCLE], dtype=np.int32) for s in range(CYCLE)]
    scores = model.score(np.arange(CYCLE, dtype=np.int32), histories)
    np.testing.assert_array_equal(scores.argmax(axis=1), (np.arange(CYCLE) + 2) % CYCLE)


def test_scores_shape_dtype_and_protocol(fitted: SASRec) -> None:
    assert isinstance(fitted, Model)
    histories = [np.array([0, 1], dtype=np.int32), np.array([3], dtype=np.int32), np.array([5, 0, 1], dtype=np.int32)]
    scores = fitted.score(np.array([0, 1, 2], dtype=np.int32), histories)
    assert scores.shape == (3, N_ITEMS)
    assert scores.dtype == np.float32
    assert np.isfinite(scores).all()
    assert fitted.n_items_ == N_ITEMS
    assert fitted.score(np.zeros(0, dtype=np.int32), []).shape == (0, N_ITEMS)


def test_long_histories_use_last_max_len_items_and_empty_histories_are_finite(fitted: SASRec) -> None:
    long = np.array([j % CYCLE for j in range(3 * FAST.max_len + 1)], dtype=np.int32)
    empty = np.zeros(0, dtype=np.int32)
    scores = fitted.score(np.arange(4, dtype=np.int32), [long, long[-FAST.max_len :], empty, empty])
    np.testing.assert_array_equal(scores[0], scores[1])
    assert scores[0].argmax() == (long[-1] + 1) % CYCLE
    assert np.isfinite(scores[2]).all()
    np.testing.assert_array_equal(scores[2], scores[3])


def test_same_seed_gives_identical_scores_and_another_seed_differs() -> None:
    train = _train_data(_cycle_sequences())
    cfg = SASRecConfig(max_len=8, hidden=16, n_layers=2, dropout=0.3, epochs=3, batch_size=8, num_threads=1)
    histories = [np.array([1, 2, 3], dtype=np.int32), np.zeros(0, dtype=np.int32)]
    users = np.arange(2, dtype=np.int32)
    a = SASRec(cfg).fit(train).score(users, histories)
    b = SASRec(cfg).fit(train).score(users, histories)
    c = SASRec(cfg, seed=1).fit(train).score(users, histories)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_early_stopping_restores_the_best_epoch() -> None:
    # Validation asks for the item *before* the last one: the better the model learns the cycle,
    # the worse it does here, so the best evaluation comes early and training stops.
    sequences = _cycle_sequences(seed=1)
    train = _train_data(sequences)
    histories = [np.array([s, (s + 1) % CYCLE], dtype=np.int32) for s in range(CYCLE)]
    valid = _task(histories, [(s + 3) % CYCLE for s in range(CYCLE)])
    model = SASRec(FAST, epochs=40, patience=3, eval_every=1).fit(train, valid=valid)
    curve = [h["valid_ndcg@10"] for h in model.history_]
    best = int(np.argmax(curve))
    assert model.best_epoch_ == best + 1
    assert model.best_score_ == curve[best]
    assert len(model.history_) == model.best_epoch_ + 3 < 40
    assert evaluate_task(model, valid, ks=(10,))["ndcg@10"] == pytest.approx(model.best_score_, abs=1e-12)


def test_save_load_round_trip_gives_identical_scores(fitted: SASRec, tmp_path: Path) -> None:
    fitted.save(tmp_path / "sasrec")
    assert sorted(p.name for p in (tmp_path / "sasrec").iterdir()) == ["config.json", "meta.json", "model.safetensors"]
    loaded = SASRec.load(tmp_path / "sasrec")
    assert loaded.config == fitted.config
    histories = [np.array([2, 3, 4], dtype=np.int32), np.zeros(0, dtype=np.int32)]
    users = np.arange(2, dtype=np.int32)
    np.testing.assert_array_equal(loaded.score(users, histories), fitted.score(users, histories))
    assert loaded.best_epoch_ == fitted.best_epoch_


def test_training_windows_cover_every_transition_once() -> None:
    seq = np.arange(12, dtype=np.int32)
    windows = training_windows([seq, np.array([7], dtype=np.int32), np.zeros(0, dtype=np.int32)], max_len=5)
    # 11 transitions in steps of 5 -> 3 windows, newest first; the 1- and 0-item sequences give none.
    assert windows.shape == (3, 6)
    np.testing.assert_array_equal(windows[0], seq[6:12] + 1)
    np.testing.assert_array_equal(windows[1], seq[1:7] + 1)
    np.testing.assert_array_equal(windows[2], [0, 0, 0, 0, 1, 2])
    inputs, labels = windows[:, :-1], windows[:, 1:]
    pairs = sorted((int(i), int(j)) for i, j in zip(inputs[inputs > 0], labels[inputs > 0], strict=True))
    assert pairs == [(i + 1, i + 2) for i in range(11)]
    newest_only = training_windows([seq], max_len=5, all_windows=False)
    np.testing.assert_array_equal(newest_only, windows[:1])


def test_bad_input_and_bad_config_are_rejected(fitted: SASRec) -> None:
    with pytest.raises(RuntimeError, match="not fitted"):
        SASRec().score(np.zeros(1, dtype=np.int32), [np.array([1], dtype=np.int32)])
    with pytest.raises(ValueError, match="outside"):
        fitted.score(np.zeros(1, dtype=np.int32), [np.array([N_ITEMS], dtype=np.int32)])
    with pytest.raises(ValueError, match="users but"):
        fitted.score(np.zeros(2, dtype=np.int32), [np.array([1], dtype=np.int32)])
    with pytest.raises(ValueError, match="divisible"):
        SASRecConfig(hidden=10, n_heads=3)
    with pytest.raises(ValueError, match="loss"):
        SASRecConfig(loss="bce")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="nothing to learn"):
        SASRec(FAST).fit(_train_data([np.array([1], dtype=np.int32)]))


def test_contrastive_term_learns_the_cycle_and_masks_duplicate_sequences() -> None:
    model = SASRec(FAST, dropout=0.2, contrastive_weight=0.5, contrastive_temperature=0.5, epochs=25)
    model.fit(_train_data(_cycle_sequences()))
    histories = [np.array([s, (s + 1) % CYCLE], dtype=np.int32) for s in range(CYCLE)]
    scores = model.score(np.arange(CYCLE, dtype=np.int32), histories)
    np.testing.assert_array_equal(scores.argmax(axis=1), (np.arange(CYCLE) + 2) % CYCLE)
    plain = SASRec(FAST, dropout=0.2, epochs=25).fit(_train_data(_cycle_sequences()))
    assert model.history_[0]["loss"] != plain.history_[0]["loss"]

    import torch

    model.net_.train()
    with torch.no_grad():
        weights = model.net_.item_weights()
        same = torch.tensor([[1, 2, 3]] * 4)  # identical rows: no negatives left, nothing to pull apart
        assert float(model._contrastive(same, weights, model.net_(same, weights)[:, -1])) == pytest.approx(0, abs=1e-6)
        distinct = torch.tensor([[1, 2, 3], [2, 3, 4], [3, 4, 5], [0, 4, 5]])
        last = model.net_(distinct, weights)[:, -1]
        assert float(model._contrastive(distinct, weights, last)) > 0.0
        off = SASRec(FAST)
        off.net_ = model.net_
        assert float(off._contrastive(distinct, weights, last)) == 0.0
    with pytest.raises(ValueError, match="contrastive_weight"):
        SASRecConfig(contrastive_weight=-1.0)
    with pytest.raises(ValueError, match="contrastive_temperature"):
        SASRecConfig(contrastive_temperature=0.0)


def test_max_train_seconds_ends_training_after_the_epoch_that_passes_it() -> None:
    train = _train_data(_cycle_sequences())
    model = SASRec(FAST, epochs=30, max_train_seconds=1e-9).fit(train)
    assert len(model.history_) == 1 and model.stop_reason_ == "time"
    assert SASRec(FAST, epochs=2).fit(train).stop_reason_ == "epochs"
    with pytest.raises(ValueError, match="max_train_seconds"):
        SASRecConfig(max_train_seconds=0)
