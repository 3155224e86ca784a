"""The causal transformer and its training loop, shared by every SASRec-style sequential model.

A :class:`SequenceNet` maps left-padded item sequences to hidden states; an item's score is the
dot product of a hidden state with the item's output vector (:meth:`SequenceNet.item_weights`),
which is also the item's input embedding (tied). Subclasses decide where item vectors come from:
an ID table (ID-only SASRec) or a content tower (:mod:`interestlm.models.seqrec`).

:class:`SequentialModel` holds everything else that such models share: full-softmax (or sampled
softmax) cross-entropy at every non-padded position, length-grouped batches of pre-padded
windows, early stopping on validation NDCG@10, scoring, and save/load as safetensors + JSON.

Sequences are left-padded with index 0 (catalogue item ``i`` is index ``i + 1``). Positions are
right-aligned (the newest item always has position ``max_len - 1``). Padded keys are masked out
of attention; each position may always attend to itself, so an all-padding row (an empty
history) stays finite.

Why one file over 400 lines: the SASRec network and its training loop, shared by SASRec and seqrec.
"""

from __future__ import annotations

import copy
import json
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar, Generic, NamedTuple, Self, TypeVar

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from interestlm.core.progress import bar, note
from interestlm.core.protocol import EvalTask, TrainData
from interestlm.core.types import FloatArray, IntArray
from interestlm.models.parallel import DataParallel
from interestlm.models.ranking import evaluate_task
from interestlm.models.seqrec_config import TransformerConfig as TransformerConfig  # re-exported

CONFIG_FILE = "config.json"
STATE_FILE = "model.safetensors"
META_FILE = "meta.json"
_POOL_BATCHES = 64


class CausalBlock(nn.Module):
    """Pre-LayerNorm causal self-attention block with a position-wise feed-forward layer."""

    def __init__(self, hidden: int, n_heads: int, ffn_hidden: int, dropout: float) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.dropout = dropout
        self.attn_norm = nn.LayerNorm(hidden)
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.out = nn.Linear(hidden, hidden)
        self.ffn_norm = nn.LayerNorm(hidden)
        self.ffn = nn.Sequential(
            nn.Linear(hidden, ffn_hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(ffn_hidden, hidden)
        )
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``x`` after attention (under boolean ``mask``, True = may attend) and the feed-forward layer."""
        b, length, hidden = x.shape
        q, k, v = self.qkv(self.attn_norm(x)).view(b, length, 3, self.n_heads, -1).permute(2, 0, 3, 1, 4)
        attn = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0)
        x = x + self.drop(self.out(attn.transpose(1, 2).reshape(b, length, hidden)))
        out: torch.Tensor = x + self.drop(self.ffn(self.ffn_norm(x)))
        return out


class CausalEncoder(nn.Module):
    """Learned right-aligned positions, ``n_layers`` causal blocks and a final LayerNorm."""

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.max_len = cfg.max_len
        self.pos_emb = nn.Embedding(cfg.max_len, cfg.hidden)
        self.emb_drop = nn.Dropout(cfg.dropout)
        ffn = cfg.ffn_hidden or cfg.hidden
        self.blocks = nn.ModuleList(CausalBlock(cfg.hidden, cfg.n_heads, ffn, cfg.dropout) for _ in range(cfg.n_layers))
        self.final_norm = nn.LayerNorm(cfg.hidden)

    def forward(self, x: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """Hidden states of input embeddings ``x`` ``(batch, length, hidden)``; ``real`` marks non-padding."""
        length = x.shape[1]
        positions = torch.arange(self.max_len - length, self.max_len, device=x.device)
        x = self.emb_drop(x + self.pos_emb(positions)) * real.unsqueeze(-1)
        causal = torch.ones(length, length, dtype=torch.bool, device=x.device).tril()
        eye = torch.eye(length, dtype=torch.bool, device=x.device)
        # Real queries see only real earlier keys; padded queries see only themselves (no NaN rows).
        mask = (causal & (real.unsqueeze(1) | eye)).unsqueeze(1)
        for block in self.blocks:
            x = block(x, mask)
        out: torch.Tensor = self.final_norm(x)
        return out


def init_transformer_weights(module: nn.Module) -> None:
    """Xavier-normal matrices, zero biases (LayerNorm gains stay 1), as in the SASRec reference code."""
    for name, p in module.named_parameters():
        if p.dim() > 1:
            nn.init.xavier_normal_(p)
        elif name.endswith("bias"):
            nn.init.zeros_(p)


class SequenceNet(nn.Module, ABC):
    """Item vectors plus an encoder (set as ``self.encoder`` by subclasses): a module taking input
    embeddings and the non-padding mask to hidden states, a :class:`CausalEncoder` for SASRec."""

    encoder: nn.Module

    @abstractmethod
    def item_weights(self) -> torch.Tensor:
        """Vectors of every catalogue item, ``(n_items, hidden)``: output and (tied) input embeddings."""

    @abstractmethod
    def embed(self, seqs: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """Input embeddings of left-padded ``seqs`` given the current ``item_weights()``."""

    def forward(self, seqs: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """Hidden states ``(batch, length, hidden)`` of left-padded ``seqs`` (``length <= max_len``)."""
        out: torch.Tensor = self.encoder(self.embed(seqs, weights), seqs > 0)
        return out


def left_pad(histories: Sequence[npt.NDArray[np.integer]], max_len: int) -> npt.NDArray[np.int64]:
    """The last ``max_len`` items of each history, shifted by +1 and left-padded with 0."""
    out = np.zeros((len(histories), max_len), dtype=np.int64)
    lengths = np.fromiter((min(len(h), max_len) for h in histories), dtype=np.int64, count=len(histories))
    if lengths.sum() == 0:
        return out
    tails = [np.asarray(h[len(h) - n :], dtype=np.int64) for h, n in zip(histories, lengths, strict=True)]
    flat = np.concatenate(tails)
    rows = np.repeat(np.arange(len(histories)), lengths)
    cols = max_len - lengths[rows] + (np.arange(len(flat)) - np.repeat(np.cumsum(lengths) - lengths, lengths))
    out[rows, cols] = flat + 1
    return out


def training_windows(
    sequences: Sequence[npt.NDArray[np.integer]], max_len: int, *, all_windows: bool = True
) -> npt.NDArray[np.int64]:
    """Left-padded ``(n_windows, max_len + 1)`` windows of item indices shifted by +1 (0 = padding).

    Each window gives inputs ``w[:, :-1]`` and next-item labels ``w[:, 1:]``. The newest window of
    every sequence ends at its last item; with ``all_windows``, earlier windows step back by
    ``max_len`` so consecutive windows share one item and every transition is a label exactly once.
    Sequences shorter than two items hold no transition and give no window.
    """
    width = max_len + 1
    lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
    if not (lengths >= 2).any():
        return np.zeros((0, width), dtype=np.int64)
    flat = np.concatenate([np.asarray(s, dtype=np.int64) for s in sequences]) + 1
    idx, valid = _window_index(lengths, max_len, all_windows=all_windows)
    return np.where(valid, flat[np.clip(idx, 0, None)], 0)


def prefix_windows(sequences: Sequence[npt.NDArray[np.integer]], max_len: int) -> npt.NDArray[np.int64]:
    """One left-padded ``(max_len + 1)``-wide window per transition, laid out as :func:`training_windows`.

    The window of a sequence's item ``t >= 1`` ends at it: inputs are the up to ``max_len`` items
    before ``t``, and only the last label (``t``) is meant to be trained on. It is for encoders whose
    state at a position depends on later positions (BSARec's frequency filter), which must not
    see the next item: each prefix then needs its own pass, as in the authors' code.
    """
    width = max_len + 1
    lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
    keep = lengths >= 2
    if not keep.any():
        return np.zeros((0, width), dtype=np.int64)
    flat = np.concatenate([np.asarray(s, dtype=np.int64) for s in sequences]) + 1
    starts = (np.cumsum(lengths) - lengths)[keep]
    n_windows = lengths[keep] - 1
    seq_of = np.repeat(np.arange(len(n_windows)), n_windows)
    step = np.arange(len(seq_of)) - np.repeat(np.cumsum(n_windows) - n_windows, n_windows)
    ends = starts[seq_of] + 2 + step  # exclusive end in ``flat``: the window's label is flat[end - 1]
    idx = ends[:, None] - width + np.arange(width)[None, :]
    valid = idx >= starts[seq_of][:, None]
    return np.where(valid, flat[np.clip(idx, 0, None)], 0)


def window_values(
    values: Sequence[npt.NDArray[np.floating]], max_len: int, *, all_windows: bool = True
) -> npt.NDArray[np.float32]:
    """Per-position values (e.g. ratings) laid out exactly as :func:`training_windows` lays out the
    items of sequences of the same lengths; padding is NaN."""
    width = max_len + 1
    lengths = np.fromiter((len(s) for s in values), dtype=np.int64, count=len(values))
    if not (lengths >= 2).any():
        return np.zeros((0, width), dtype=np.float32)
    flat = np.concatenate([np.asarray(s, dtype=np.float32) for s in values])
    idx, valid = _window_index(lengths, max_len, all_windows=all_windows)
    return np.where(valid, flat[np.clip(idx, 0, None)], np.float32(np.nan)).astype(np.float32)


def _window_index(
    lengths: npt.NDArray[np.int64], max_len: int, *, all_windows: bool
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Positions in the concatenated sequences of every window cell, and which cells are real."""
    width = max_len + 1
    keep = lengths >= 2
    starts = np.cumsum(lengths) - lengths
    lengths, starts = lengths[keep], starts[keep]
    # Windows per sequence: ends at n, n - max_len, ... while at least one transition remains.
    n_windows = np.ceil((lengths - 1) / max_len).astype(np.int64) if all_windows else np.ones_like(lengths)
    seq_of = np.repeat(np.arange(len(lengths)), n_windows)
    step = np.arange(len(seq_of)) - np.repeat(np.cumsum(n_windows) - n_windows, n_windows)
    ends = starts[seq_of] + lengths[seq_of] - step * max_len  # exclusive end in ``flat``
    idx = ends[:, None] - width + np.arange(width)[None, :]
    valid = idx >= starts[seq_of][:, None]
    return idx, valid


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run a block with torch set to ``n`` CPU threads, restoring the previous count afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


C = TypeVar("C", bound=TransformerConfig)


#: A score term per (state, item) of a batch: ``bias(items)`` with ``items`` ``(1 or n_states, m)``
#: item indices, or None for every catalogue item; returns ``(n_states, m)``.
LogitBias = Callable[[torch.Tensor | None], torch.Tensor]


class BatchStates(NamedTuple):
    """What a training loss needs from one batch's forward pass (see ``SequentialModel._states``)."""

    weights: torch.Tensor  #: item vectors, ``(n_items, hidden)``
    states: torch.Tensor  #: hidden states at real positions, ``(n_positions, hidden)``
    targets: torch.Tensor  #: their next items (0-based)
    mask: torch.Tensor  #: real positions of the batch, ``(batch, length)``
    contrast: torch.Tensor  #: the weighted contrastive term (a 0-d tensor; 0 when off)


class SequentialModel(ABC, Generic[C]):
    """Fit / score / save / load of a :class:`SequenceNet`, following the evaluation ``Model`` protocol.

    ``__init__`` stores the config, :meth:`fit` learns and sets the attributes ending in ``_``,
    :meth:`score` returns ``(len(users), n_items)`` float32 scores. Subclasses build the net
    (:meth:`_build_net`, :meth:`_empty_net`) and may add JSON metadata (:meth:`_net_meta`).
    """

    config_type: ClassVar[type[TransformerConfig]] = TransformerConfig
    config: C
    net_: SequenceNet
    #: Set by a data-parallel trainer (Ray Train): this process's share of every batch (issue 23.2).
    parallel: DataParallel | None = None

    def __init__(self, config: C | None = None, **overrides: Any) -> None:
        base = config if config is not None else self.config_type()
        self.config = replace(base, **overrides) if overrides else base  # type: ignore[assignment]

    # ----------------------------------------------------------------------------- subclass hooks
    @abstractmethod
    def _build_net(self, train: TrainData) -> SequenceNet:
        """A freshly initialised net for ``train`` (called under the fit seed, before training)."""

    @abstractmethod
    def _empty_net(self, meta: dict[str, Any]) -> SequenceNet:
        """A net of the shapes recorded in ``meta`` (its weights are then loaded from the state file)."""

    def _net_meta(self) -> dict[str, Any]:
        """Extra JSON metadata :meth:`_empty_net` needs to rebuild the net's shapes."""
        return {}

    def _negative_items(self, train: TrainData) -> torch.Tensor | None:
        """Boolean mask of the items the training softmax may use as negatives (None: every item)."""
        return None

    def _training_windows(self, train: TrainData) -> npt.NDArray[np.int64]:
        """The ``(n_windows, max_len + 1)`` item windows an epoch trains on (see :func:`training_windows`)."""
        cfg = self.config
        return training_windows(train.sequences(), cfg.max_len, all_windows=cfg.all_windows)

    def _aux_windows(self, train: TrainData) -> dict[str, npt.NDArray[np.float32]]:
        """Named per-position training values laid out like the item windows (see
        :func:`window_values`), handed to :meth:`_loss` as ``aux``, each cut to the batch's columns
        (the same ``(batch, length + 1)`` cells as inputs plus the last label); empty: none."""
        return {}

    # ----------------------------------------------------------------------------- fitting
    def _device(self) -> torch.device:
        if self.config.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.config.device)

    def fit(self, train: TrainData, *, valid: EvalTask | None = None) -> Self:
        """Train on every user's training sequence; early-stop on ``valid`` NDCG@10 when given."""
        cfg = self.config
        device = self._device()
        with torch_threads(cfg.num_threads), torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(cfg.seed)
            self._fit(train, valid, device)
        return self

    def _fit(self, train: TrainData, valid: EvalTask | None, device: torch.device) -> None:
        cfg = self.config
        name = type(self).__name__
        self.n_items_ = train.n_items
        self.device_ = device
        windows = torch.from_numpy(self._training_windows(train))
        if len(windows) == 0:
            raise ValueError(f"{name}.fit: no user has two or more training items, so there is nothing to learn")
        lengths = (windows[:, :-1] > 0).sum(dim=1)
        windows = windows.to(device)
        aux = {name: torch.from_numpy(v).to(device) for name, v in self._aux_windows(train).items()}
        self.net_ = self._build_net(train).to(device)
        negatives = self._negative_items(train)
        self._negatives = negatives.to(device) if negatives is not None else None
        optimizer = torch.optim.AdamW(self.net_.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        # -- data parallel (issue 23.2): DDP averages the gradients of every process's share
        parallel = self.parallel
        batch_loss = self._loss if parallel is None else parallel.wrap(self._loss, self.net_)
        gen = torch.Generator(device="cpu").manual_seed(cfg.seed)
        amp = device.type == "cuda"
        amp_dtype = torch.bfloat16 if amp and torch.cuda.is_bf16_supported() else torch.float16
        scaler = torch.amp.GradScaler("cuda", enabled=amp and amp_dtype == torch.float16)

        self.history_: list[dict[str, float]] = []
        self.best_epoch_ = 0
        self.best_score_ = -math.inf
        best_state: dict[str, torch.Tensor] | None = None
        bad_evals = 0
        self.stop_reason_ = "epochs"
        fit_start = time.perf_counter()
        n_batches = math.ceil(len(windows) / cfg.batch_size)
        epochs = bar(range(1, cfg.epochs + 1), desc=name, unit="epoch", asked=cfg.progress)
        for epoch in epochs:
            start = time.perf_counter()
            self.net_.train()
            order = self._epoch_order(lengths, gen).to(device)
            total = torch.zeros((), device=device)
            for b in range(n_batches):
                rows = order[b * cfg.batch_size : (b + 1) * cfg.batch_size]
                if parallel is not None:
                    share = parallel.rows(rows)
                    if share is None:
                        continue
                    rows = share
                batch = windows[rows]
                # Left padding: columns that are padding in every row carry nothing; drop them.
                first = int((batch[:, :-1] > 0).any(dim=0).int().argmax())
                inputs, labels = batch[:, first:-1], batch[:, first + 1 :]
                with torch.autocast(device.type, dtype=amp_dtype, enabled=amp):
                    loss = batch_loss(inputs, labels, gen, {name: v[rows][:, first:] for name, v in aux.items()})
                optimizer.zero_grad(set_to_none=True)
                torch.autograd.backward(scaler.scale(loss))
                scaler.step(optimizer)
                scaler.update()
                total += loss.detach()
            record = {"epoch": float(epoch), "loss": float(total) / n_batches, "seconds": time.perf_counter() - start}
            if valid is not None and len(valid) and epoch % cfg.eval_every == 0:
                ndcg = evaluate_task(self, valid, ks=(10,))["ndcg@10"]
                record["valid_ndcg@10"] = ndcg
                if ndcg > self.best_score_:
                    self.best_score_, self.best_epoch_, bad_evals = ndcg, epoch, 0
                    best_state = copy.deepcopy(self.net_.state_dict())
                else:
                    bad_evals += 1
            self.history_.append(record)
            if cfg.verbose:
                print(" ".join(f"{k}={v:.4f}" for k, v in record.items()), flush=True)
            epochs.set_postfix(loss=f"{record['loss']:.4f}", ndcg=f"{record.get('valid_ndcg@10', math.nan):.4f}")
            note(
                "%s epoch %d/%d: loss %.4f, valid ndcg@10 %s (%.1f s)",
                name, epoch, cfg.epochs, record["loss"],
                f"{record['valid_ndcg@10']:.4f}" if "valid_ndcg@10" in record else "-", record["seconds"],
            )
            if cfg.patience and bad_evals >= cfg.patience:
                self.stop_reason_ = "patience"
                break
            if cfg.max_train_seconds is not None and time.perf_counter() - fit_start > cfg.max_train_seconds:
                self.stop_reason_ = "time"
                break
        if best_state is not None:
            self.net_.load_state_dict(best_state)
        else:
            self.best_epoch_ = len(self.history_)
        self.net_.eval()

    def _epoch_order(self, lengths: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """A random order of the windows; with ``group_by_length``, sorted by length within pools."""
        cfg = self.config
        order = torch.randperm(len(lengths), generator=gen)
        if not cfg.group_by_length:
            return order
        pool = torch.arange(len(order)) // (cfg.batch_size * _POOL_BATCHES)
        # Stable sort on (pool, length): random within equal lengths, pools stay in random order.
        order = order[torch.sort(pool * (cfg.max_len + 1) + lengths[order], stable=True).indices]
        batches = list(torch.split(order, cfg.batch_size))
        shuffled = torch.randperm(len(batches), generator=gen).tolist()
        return torch.cat([batches[i] for i in shuffled])

    def _loss(
        self,
        inputs: torch.Tensor,
        labels: torch.Tensor,
        gen: torch.Generator,
        aux: dict[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Next-item loss of one batch (``aux``: the batch's windows of :meth:`_aux_windows`)."""
        b = self._states(inputs, labels)
        return self._next_item_loss(b.weights, b.states, b.targets, inputs.device, gen) + b.contrast

    def _states(self, inputs: torch.Tensor, labels: torch.Tensor) -> BatchStates:
        """Item vectors, hidden states at real positions, their next items, the position mask and
        the (weighted) contrastive term of the batch."""
        # Item vectors once per batch: a content tower is then run once, not once per position.
        weights = self.net_.item_weights()
        hidden = self.net_(inputs, weights)
        mask = inputs > 0  # left padding: a real input always has a real next item
        contrast = self._contrastive(inputs, weights, hidden[:, -1])
        return BatchStates(weights, hidden[mask], labels[mask] - 1, mask, contrast)

    def _contrastive(self, inputs: torch.Tensor, weights: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
        """In-batch InfoNCE between each sequence's last state and a second, differently
        dropped-out pass over the same inputs (0 when ``contrastive_weight`` is 0)."""
        cfg = self.config
        if cfg.contrastive_weight <= 0 or len(inputs) < 2:
            return last.new_zeros(())
        # Left padding: the last column is every row's latest real position.
        other = self.net_(inputs, weights)[:, -1]
        a, b = F.normalize(last.float(), dim=-1), F.normalize(other.float(), dim=-1)
        sim = a @ b.T / cfg.contrastive_temperature
        same = torch.arange(len(sim), device=sim.device)
        # Rows with the same input sequence are no negatives of each other.
        duplicate = (inputs.unsqueeze(1) == inputs.unsqueeze(0)).all(dim=-1) & (same.unsqueeze(1) != same)
        sim = sim.masked_fill(duplicate, -torch.inf)
        return cfg.contrastive_weight * 0.5 * (F.cross_entropy(sim, same) + F.cross_entropy(sim.T, same))

    def _next_item_loss(
        self,
        weights: torch.Tensor,
        states: torch.Tensor,
        targets: torch.Tensor,
        device: torch.device,
        gen: torch.Generator,
        bias: LogitBias | None = None,
    ) -> torch.Tensor:
        """Cross-entropy of each state's next item over the catalogue (or sampled negatives).

        ``bias(items)`` (optional) adds a score term of each state for ``items``: ``(1 or
        n_states, m)`` item indices, None for the whole catalogue.
        """
        if self.config.loss == "ce":
            logits = (states @ weights.T).float()
            if bias is not None:
                logits = logits + bias(None)
            if self._negatives is not None:
                logits = logits.masked_fill(~self._negatives, -torch.inf)
            return F.cross_entropy(logits, targets)
        negatives = torch.randint(0, self.n_items_, (self.config.n_negatives,), generator=gen).to(device)
        pos = (states * weights[targets]).sum(-1, keepdim=True)
        neg = states @ weights[negatives].T
        if bias is not None:
            pos, neg = pos + bias(targets.unsqueeze(1)), neg + bias(negatives.unsqueeze(0))
        neg = neg.masked_fill(negatives.unsqueeze(0) == targets.unsqueeze(1), -torch.inf)
        if self._negatives is not None:
            neg = neg.masked_fill(~self._negatives[negatives].unsqueeze(0), -torch.inf)
        logits = torch.cat([pos, neg], dim=1).float()
        return F.cross_entropy(logits, torch.zeros(len(targets), dtype=torch.long, device=device))

    # ----------------------------------------------------------------------------- scoring
    def _check_fitted(self) -> None:
        if not hasattr(self, "net_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit() or load() first")

    def _check_histories(
        self, histories: list[IntArray], *, users: IntArray | None = None, n_items: int | None = None, where: str
    ) -> None:
        """Every history item is an index in ``[0, n_items)`` (default: the fitted catalogue)."""
        name = type(self).__name__
        if users is not None and len(users) != len(histories):
            raise ValueError(f"{name}.{where}: {len(users)} users but {len(histories)} histories")
        limit = self.n_items_ if n_items is None else n_items
        for j, h in enumerate(histories):
            if len(h) and (int(np.min(h)) < 0 or int(np.max(h)) >= limit):
                raise ValueError(f"{name}.{where}: history {j} holds an item index outside [0, {limit})")

    @contextmanager
    def _inference(self) -> Iterator[SequenceNet]:
        """The net in eval mode under inference_mode and the configured threads; its mode restored after."""
        was_training = self.net_.training
        self.net_.eval()
        try:
            with torch_threads(self.config.num_threads), torch.inference_mode():
                yield self.net_
        finally:
            self.net_.train(was_training)

    def _last_states(self, histories: list[IntArray], weights: torch.Tensor) -> Iterator[tuple[int, torch.Tensor]]:
        """``(start row, last hidden states)`` per scoring batch; call in eval and inference mode."""
        cfg = self.config
        for start in range(0, len(histories), cfg.score_batch_size):
            seqs = torch.from_numpy(left_pad(histories[start : start + cfg.score_batch_size], cfg.max_len))
            yield start, self.net_(seqs.to(self.device_), weights)[:, -1]

    def score(self, users: IntArray, histories: list[IntArray]) -> FloatArray:
        """Scores of every catalogue item after each history (its last ``max_len`` items are used).

        ``users`` is only checked for length: the model has no user parameters. An empty history
        is scored from padding alone (the same scores for every such user).
        """
        self._check_fitted()
        self._check_histories(histories, users=users, where="score")
        out = np.empty((len(histories), self.n_items_), dtype=np.float32)
        with self._inference() as net:
            weights = net.item_weights()
            for start, last in self._last_states(histories, weights):
                out[start : start + len(last)] = (last @ weights.T).float().cpu().numpy()
        return out

    def intent(self, histories: list[IntArray], *, item_vectors: FloatArray | None = None) -> FloatArray:
        """The sequence state after each history, ``(len(histories), hidden)``: a short-term intent vector.

        ``score`` is ``intent(histories) @ item_vectors().T``. ``item_vectors`` (default: the
        model's own) may hold more rows than the fitted catalogue, for items added since, so
        histories that contain them are read with their vectors.
        """
        self._check_fitted()
        n_items = None if item_vectors is None else len(item_vectors)
        self._check_histories(histories, n_items=n_items, where="intent")
        out = np.empty((len(histories), self.config.hidden), dtype=np.float32)
        with self._inference() as net:
            weights = (
                net.item_weights()
                if item_vectors is None
                else torch.from_numpy(np.ascontiguousarray(item_vectors, dtype=np.float32)).to(self.device_)
            )
            for start, last in self._last_states(histories, weights):
                out[start : start + len(last)] = last.float().cpu().numpy()
        return out

    def item_vectors(self) -> FloatArray:
        """Every catalogue item's vector in the model's space, ``(n_items, hidden)``."""
        self._check_fitted()
        with self._inference() as net:
            out: FloatArray = net.item_weights().float().cpu().numpy()
        return out

    # ----------------------------------------------------------------------------- persistence
    def save(self, path: str | Path) -> Path:
        """Write the fitted model to directory ``path``: config.json, meta.json, model.safetensors."""
        self._check_fitted()
        directory = Path(path)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / CONFIG_FILE).write_text(json.dumps(self.config.to_json(), indent=2) + "\n")
        meta = {
            "n_items": self.n_items_,
            "best_epoch": self.best_epoch_,
            "best_score": self.best_score_,
            "history": self.history_,
            "stop_reason": getattr(self, "stop_reason_", None),
            **self._net_meta(),
        }
        (directory / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
        state = {k: v.detach().cpu().contiguous() for k, v in self.net_.state_dict().items()}
        save_file(state, str(directory / STATE_FILE))
        return directory

    @classmethod
    def load(cls, path: str | Path, *, device: str | None = None) -> Self:
        """Read a model written by :meth:`save` (``device`` overrides the saved device setting)."""
        directory = Path(path)
        config = cls.config_type.from_json(json.loads((directory / CONFIG_FILE).read_text()))
        if device is not None:
            config = replace(config, device=device)
        meta = json.loads((directory / META_FILE).read_text())
        model = cls(config)  # type: ignore[arg-type]
        model.n_items_ = int(meta["n_items"])
        model.best_epoch_ = int(meta["best_epoch"])
        model.best_score_ = float(meta["best_score"])
        model.history_ = list(meta["history"])
        if meta.get("stop_reason") is not None:  # absent from models saved before it was recorded
            model.stop_reason_ = str(meta["stop_reason"])
        model.device_ = model._device()
        net = model._empty_net(meta)
        net.load_state_dict(load_file(str(directory / STATE_FILE)))
        model.net_ = net.to(model.device_).eval()
        return model
