"""BSARec: the frequency filter's algebra, what the model may see of the future, and that it learns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from interestlm.core.protocol import EvalTask, Model, TrainData, history_matrix
from interestlm.core.tables import Catalog, Interactions
from interestlm.models import make_model
from interestlm.models.bsarec import BSARec, BSARecConfig, FrequencyLayer, _BSARecNet
from interestlm.models.pop import MostPopular
from interestlm.models.ranking import evaluate_task
from interestlm.models.transformer import prefix_windows

N_ITEMS = 12
CYCLE = 6  # items 0..5 form the cycle 0->1->...->5->0; items 6..11 are never seen

FAST = BSARecConfig(
    max_len=8, hidden=32, n_layers=1, n_heads=2, dropout=0.0, lr=1e-2, batch_size=16, epochs=15, num_threads=1
)


def _cycle_sequences(n_users: int = 48, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, CYCLE, n_users)
    lengths = rng.integers(4, 14, n_users)
    return [((s + np.arange(n)) % CYCLE).astype(np.int32) for s, n in zip(starts, lengths, strict=True)]


def _train_data(sequences: list[np.ndarray], n_items: int = N_ITEMS) -> TrainData:
    user = np.concatenate([np.full(len(s), u, np.int32) for u, s in enumerate(sequences)])
    inter = Interactions.build(
        user=user,
        item=np.concatenate(sequences),
        timestamp=np.concatenate([np.arange(len(s)) for s in sequences]),
        user_ids=[f"u{u}" for u in range(len(sequences))],
    )
    return TrainData(interactions=inter, catalog=Catalog.build([f"i{i}" for i in range(n_items)]))


def _net(**overrides: object) -> _BSARecNet:
    torch.manual_seed(0)
    cfg = BSARecConfig(max_len=8, hidden=16, n_layers=2, n_heads=2, dropout=0.0, num_threads=1)
    return _BSARecNet(N_ITEMS, BSARecConfig(**{**cfg.to_json(), **overrides})).eval()


@pytest.fixture(scope="module")
def fitted() -> BSARec:
    return BSARec(FAST).fit(_train_data(_cycle_sequences()))


# ----------------------------------------------------------------------------- the frequency layer
def test_filter_with_beta_one_is_the_identity_before_residual_and_norm() -> None:
    layer = FrequencyLayer(hidden=16, c=5, dropout=0.0)
    x = torch.randn(4, 50, 16)
    for sign in (1.0, -1.0):  # beta = sqrt_beta ** 2
        with torch.no_grad():
            layer.sqrt_beta.fill_(sign)
        torch.testing.assert_close(layer.filtered(x), x, atol=1e-5, rtol=1e-5)


def test_bands_add_up_and_the_low_band_holds_only_the_lowest_frequencies() -> None:
    layer = FrequencyLayer(hidden=8, c=5, dropout=0.0)  # keeps bins 0, 1, 2 of 26
    x = torch.randn(3, 50, 8)
    low, high = layer.bands(x)
    torch.testing.assert_close(low + high, x)
    spectrum = torch.fft.rfft(low, dim=1, norm="ortho")
    assert spectrum[:, 3:].abs().max() < 1e-4
    torch.testing.assert_close(spectrum[:, :3], torch.fft.rfft(x, dim=1, norm="ortho")[:, :3], atol=1e-5, rtol=1e-5)
    constant = torch.ones(1, 50, 8)  # a constant sequence is all DC: all low band
    torch.testing.assert_close(layer.bands(constant)[0], constant, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("c", [8, 9, 20])
def test_a_cut_above_the_nyquist_bin_keeps_everything_in_the_low_band(c: int) -> None:
    # length 8 has 8 // 2 + 1 = 5 bins; c // 2 + 1 >= 5 keeps all of them.
    layer = FrequencyLayer(hidden=4, c=c, dropout=0.0)
    x = torch.randn(2, 8, 4)
    low, high = layer.bands(x)
    torch.testing.assert_close(low, x, atol=1e-5, rtol=1e-5)
    assert high.abs().max() < 1e-5
    torch.testing.assert_close(layer.filtered(x), x, atol=1e-5, rtol=1e-5)  # whatever beta is
    # One bin fewer (c // 2 + 1 == 4) drops the Nyquist component of a random signal.
    assert FrequencyLayer(hidden=4, c=6, dropout=0.0).bands(x)[1].abs().max() > 1e-3


# ----------------------------------------------------------------------------- shapes and causality
def test_hidden_states_have_the_full_window_whatever_the_input_width() -> None:
    net = _net()
    seqs = torch.tensor([[0, 0, 0, 1, 2, 3, 4, 5], [0, 0, 0, 0, 0, 0, 7, 8]])
    full = net(seqs, net.item_weights())
    assert full.shape == (2, 8, 16)
    # The training loop drops all-padding columns; the net pads them back, so nothing changes.
    torch.testing.assert_close(net(seqs[:, 3:], net.item_weights()), full)


def test_attention_alone_is_causal_but_the_filter_sees_later_items() -> None:
    seqs = torch.tensor([[0, 0, 3, 4, 5, 6, 7, 8]])
    later = seqs.clone()
    later[0, -1] = 9  # only the newest item differs
    causal = _net(alpha=0.0)
    a, b = causal(seqs, causal.item_weights()), causal(later, causal.item_weights())
    torch.testing.assert_close(a[:, :-1], b[:, :-1])
    # With the filter, the state of every earlier position moves too: the authors' model is not
    # causal, which is why only last positions are trained on and scored.
    mixed = _net(alpha=0.7)
    a, b = mixed(seqs, mixed.item_weights()), mixed(later, mixed.item_weights())
    assert (a[0, :-1] - b[0, :-1]).abs().amax(dim=-1).min() > 1e-4


def test_prefix_windows_give_each_transition_once_with_only_earlier_items_as_inputs() -> None:
    seq = np.arange(7, dtype=np.int32)
    windows = prefix_windows([seq, np.array([9], dtype=np.int32), np.zeros(0, dtype=np.int32)], max_len=3)
    # One window per transition of the 7-item sequence; the 1- and 0-item sequences give none.
    assert windows.shape == (6, 4)
    np.testing.assert_array_equal(windows[:, -1], seq[1:] + 1)  # every label once
    np.testing.assert_array_equal(windows[0], [0, 0, 1, 2])
    np.testing.assert_array_equal(windows[1], [0, 1, 2, 3])
    np.testing.assert_array_equal(windows[5], [4, 5, 6, 7])  # only the max_len items before
    for w in windows:
        inputs = w[:-1][w[:-1] > 0]
        assert (inputs < w[-1]).all()  # nothing at or after the label


def test_training_reads_only_the_last_state_of_each_prefix(fitted: BSARec) -> None:
    windows = torch.from_numpy(prefix_windows(_cycle_sequences(n_users=4), FAST.max_len))
    batch = fitted._states(windows[:, :-1], windows[:, 1:])
    assert batch.states.shape == (len(windows), FAST.hidden)
    np.testing.assert_array_equal(batch.targets.numpy(), windows[:, -1].numpy() - 1)
    assert batch.mask[:, -1].all() and not batch.mask[:, :-1].any()


# ----------------------------------------------------------------------------- the model
def test_learns_a_planted_cycle_and_beats_popularity(fitted: BSARec) -> None:
    train = _train_data(_cycle_sequences())
    histories = [np.array([(s + j) % CYCLE for j in range(n)], dtype=np.int32) for s in range(CYCLE) for n in (1, 2, 3)]
    targets = [np.array([(h[-1] + 1) % CYCLE], dtype=np.int32) for h in histories]
    task = EvalTask(
        name="valid",
        users=np.arange(len(histories), dtype=np.int32),
        histories=histories,
        targets=targets,
        exclude=history_matrix(histories, N_ITEMS),
    )
    ours = evaluate_task(fitted, task, ks=(1, 10))
    pop = evaluate_task(MostPopular().fit(train), task, ks=(1, 10))
    assert ours["hr@1"] == 1.0
    assert ours["ndcg@10"] > pop["ndcg@10"] + 0.3


def test_registry_protocol_scores_and_save_load(fitted: BSARec, tmp_path: Path) -> None:
    assert isinstance(make_model("bsarec", max_len=8), BSARec)
    assert isinstance(fitted, Model)
    histories = [np.array([2, 3, 4], dtype=np.int32), np.zeros(0, dtype=np.int32)]
    users = np.arange(2, dtype=np.int32)
    scores = fitted.score(users, histories)
    assert scores.shape == (2, N_ITEMS) and scores.dtype == np.float32 and np.isfinite(scores).all()
    loaded = BSARec.load(fitted.save(tmp_path / "bsarec"))
    assert loaded.config == fitted.config
    assert loaded.stop_reason_ == fitted.stop_reason_ == "epochs"
    np.testing.assert_array_equal(loaded.score(users, histories), scores)


def test_bad_config_is_rejected() -> None:
    with pytest.raises(ValueError, match="alpha"):
        BSARecConfig(alpha=1.5)
    with pytest.raises(ValueError, match="c must"):
        BSARecConfig(c=0)
    assert BSARecConfig().lr == 5e-4 and BSARecConfig().batch_size == 256  # the authors' settings
