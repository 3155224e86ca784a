"""ID-only SASRec (Kang & McAuley 2018) trained with full-softmax cross-entropy.

The network is the original self-attentive sequential recommender: item ID embeddings plus
learned positional embeddings, ``n_layers`` causal pre-LayerNorm transformer blocks and a final
LayerNorm; an item's score is the dot product of the last hidden state with its (tied) embedding.

Training follows "SASRec+CE" (Klenitskiy & Vasilev 2023; Petrov & Macdonald's gSASRec): at every
non-padded position the next item is predicted with a softmax over the whole catalogue, which is
far stronger than the original one-negative BCE. ``loss="sampled"`` swaps in a softmax over the
positive and ``n_negatives`` uniform negatives shared by the batch, for catalogues too large for
the full softmax.

Sequences are left-padded with index 0 (catalogue item ``i`` is embedding row ``i + 1``).
Positions are right-aligned (the newest item always has position ``max_len - 1``), as in the
original with left padding. Padded keys are masked out of attention; each position may always
attend to itself, so an all-padding row (an empty history) stays finite.
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal, Self

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm.auto import tqdm

from interestlm.data.tables import FloatArray, IntArray
from interestlm.evaluate.protocol import EvalTask, TrainData
from interestlm.evaluate.ranking import evaluate_task

_CONFIG_FILE = "config.json"
_STATE_FILE = "model.safetensors"
_META_FILE = "meta.json"
_POOL_BATCHES = 64


@dataclass(frozen=True, kw_only=True)
class SASRecConfig:
    """Hyper-parameters of :class:`SASRec`; defaults suit Amazon-sized data (use ``max_len=200`` for MovieLens).

    ``patience`` counts evaluations (every ``eval_every`` epochs) without a better validation
    NDCG@10; ``0`` disables early stopping. ``all_windows`` also trains on the earlier
    ``max_len``-item windows of sequences longer than ``max_len + 1`` so every transition is
    used once. ``group_by_length`` sorts windows by length inside random pools of 64 batches
    (batch order shuffled) so padded columns can be trimmed; on Amazon data, where most
    sequences are far shorter than ``max_len``, this cuts the encoder's work several times.
    ``device="auto"`` picks CUDA when available. ``num_threads`` sets torch's CPU
    threads while fitting and scoring (restored afterwards).
    """

    max_len: int = 50
    hidden: int = 64
    n_layers: int = 2
    n_heads: int = 1
    ffn_hidden: int | None = None
    dropout: float = 0.5
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 128
    epochs: int = 200
    patience: int = 10
    eval_every: int = 1
    loss: Literal["ce", "sampled"] = "ce"
    n_negatives: int = 256
    all_windows: bool = True
    group_by_length: bool = True
    seed: int = 0
    device: str = "auto"
    num_threads: int = 2
    score_batch_size: int = 1024
    verbose: bool = False
    progress: bool = False

    def __post_init__(self) -> None:
        positive = ("max_len", "hidden", "n_layers", "n_heads", "batch_size", "epochs", "eval_every", "n_negatives")
        for name in (*positive, "num_threads", "score_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"SASRecConfig.{name} must be >= 1, not {getattr(self, name)}")
        if self.hidden % self.n_heads:
            raise ValueError(f"SASRecConfig.hidden ({self.hidden}) must be divisible by n_heads ({self.n_heads})")
        if self.ffn_hidden is not None and self.ffn_hidden < 1:
            raise ValueError(f"SASRecConfig.ffn_hidden must be >= 1 or None, not {self.ffn_hidden}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"SASRecConfig.dropout must be in [0, 1), not {self.dropout}")
        if self.lr <= 0 or self.weight_decay < 0:
            raise ValueError("SASRecConfig.lr must be > 0 and weight_decay >= 0")
        if self.patience < 0:
            raise ValueError(f"SASRecConfig.patience must be >= 0, not {self.patience}")
        if self.loss not in ("ce", "sampled"):
            raise ValueError(f"SASRecConfig.loss must be 'ce' or 'sampled', not {self.loss!r}")
        if self.device != "auto":
            torch.device(self.device)  # raises on a malformed device string

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-ready dict of every field."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SASRecConfig:
        """Inverse of :meth:`to_json`; unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown SASRecConfig fields: {', '.join(unknown)}")
        return cls(**data)


class _Block(nn.Module):
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
        b, length, hidden = x.shape
        q, k, v = self.qkv(self.attn_norm(x)).view(b, length, 3, self.n_heads, -1).permute(2, 0, 3, 1, 4)
        attn = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0)
        x = x + self.drop(self.out(attn.transpose(1, 2).reshape(b, length, hidden)))
        out: torch.Tensor = x + self.drop(self.ffn(self.ffn_norm(x)))
        return out


class _SASRecNet(nn.Module):
    """The SASRec encoder; ``item_emb`` row 0 is padding, row ``i + 1`` is catalogue item ``i``."""

    def __init__(self, n_items: int, cfg: SASRecConfig) -> None:
        super().__init__()
        self.max_len = cfg.max_len
        self.scale = math.sqrt(cfg.hidden)
        self.item_emb = nn.Embedding(n_items + 1, cfg.hidden, padding_idx=0)
        self.pos_emb = nn.Embedding(cfg.max_len, cfg.hidden)
        self.emb_drop = nn.Dropout(cfg.dropout)
        ffn = cfg.ffn_hidden or cfg.hidden
        self.blocks = nn.ModuleList(_Block(cfg.hidden, cfg.n_heads, ffn, cfg.dropout) for _ in range(cfg.n_layers))
        self.final_norm = nn.LayerNorm(cfg.hidden)
        self._init_weights()

    def _init_weights(self) -> None:
        for name, p in self.named_parameters():
            if p.dim() > 1:
                nn.init.xavier_normal_(p)
            elif name.endswith("bias"):
                nn.init.zeros_(p)
        with torch.no_grad():
            self.item_emb.weight[0].zero_()

    def item_weights(self) -> torch.Tensor:
        """Output embeddings of the catalogue items (the input table without the padding row)."""
        return self.item_emb.weight[1:]

    def forward(self, seqs: torch.Tensor) -> torch.Tensor:
        """Hidden states ``(batch, length, hidden)`` of left-padded ``seqs`` (``length <= max_len``)."""
        length = seqs.shape[1]
        real = seqs > 0
        positions = torch.arange(self.max_len - length, self.max_len, device=seqs.device)
        x = self.item_emb(seqs) * self.scale + self.pos_emb(positions)
        x = self.emb_drop(x) * real.unsqueeze(-1)
        causal = torch.ones(length, length, dtype=torch.bool, device=seqs.device).tril()
        eye = torch.eye(length, dtype=torch.bool, device=seqs.device)
        # Real queries see only real earlier keys; padded queries see only themselves (no NaN rows).
        mask = (causal & (real.unsqueeze(1) | eye)).unsqueeze(1)
        for block in self.blocks:
            x = block(x, mask)
        out: torch.Tensor = self.final_norm(x)
        return out


def _left_pad(histories: Sequence[npt.NDArray[np.integer]], max_len: int) -> npt.NDArray[np.int64]:
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
    keep = lengths >= 2
    if not keep.any():
        return np.zeros((0, width), dtype=np.int64)
    flat = np.concatenate([np.asarray(s, dtype=np.int64) for s in sequences]) + 1
    starts = np.cumsum(lengths) - lengths
    lengths, starts = lengths[keep], starts[keep]
    # Windows per sequence: ends at n, n - max_len, ... while at least one transition remains.
    n_windows = np.ceil((lengths - 1) / max_len).astype(np.int64) if all_windows else np.ones_like(lengths)
    seq_of = np.repeat(np.arange(len(lengths)), n_windows)
    step = np.arange(len(seq_of)) - np.repeat(np.cumsum(n_windows) - n_windows, n_windows)
    ends = starts[seq_of] + lengths[seq_of] - step * max_len  # exclusive end in ``flat``
    idx = ends[:, None] - width + np.arange(width)[None, :]
    valid = idx >= starts[seq_of][:, None]
    return np.where(valid, flat[np.clip(idx, 0, None)], 0)


@contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class SASRec:
    """ID-only SASRec trained with full-softmax (or sampled-softmax) cross-entropy.

    Follows the ``Model`` protocol: ``__init__`` stores the config, :meth:`fit` learns and sets
    the attributes ending in ``_``, :meth:`score` returns ``(len(users), n_items)`` float32 scores.
    ``SASRec(config)`` or ``SASRec(max_len=200, ...)`` (keyword overrides of the defaults).
    """

    def __init__(self, config: SASRecConfig | None = None, **overrides: Any) -> None:
        base = config if config is not None else SASRecConfig()
        self.config = replace(base, **overrides) if overrides else base

    # ----------------------------------------------------------------------------- fitting
    def _device(self) -> torch.device:
        if self.config.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.config.device)

    def fit(self, train: TrainData, *, valid: EvalTask | None = None) -> Self:
        """Train on every user's training sequence; early-stop on ``valid`` NDCG@10 when given."""
        cfg = self.config
        device = self._device()
        with _torch_threads(cfg.num_threads), torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(cfg.seed)
            self._fit(train, valid, device)
        return self

    def _fit(self, train: TrainData, valid: EvalTask | None, device: torch.device) -> None:
        cfg = self.config
        self.n_items_ = train.n_items
        self.device_ = device
        windows = torch.from_numpy(training_windows(train.sequences(), cfg.max_len, all_windows=cfg.all_windows))
        if len(windows) == 0:
            raise ValueError("SASRec.fit: no user has two or more training items, so there is nothing to learn")
        lengths = (windows[:, :-1] > 0).sum(dim=1)
        windows = windows.to(device)
        self.net_ = _SASRecNet(self.n_items_, cfg).to(device)
        optimizer = torch.optim.AdamW(self.net_.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        gen = torch.Generator(device="cpu").manual_seed(cfg.seed)
        amp = device.type == "cuda"
        amp_dtype = torch.bfloat16 if amp and torch.cuda.is_bf16_supported() else torch.float16
        scaler = torch.amp.GradScaler("cuda", enabled=amp and amp_dtype == torch.float16)

        self.history_: list[dict[str, float]] = []
        self.best_epoch_ = 0
        self.best_score_ = -math.inf
        best_state: dict[str, torch.Tensor] | None = None
        bad_evals = 0
        n_batches = math.ceil(len(windows) / cfg.batch_size)
        bar = tqdm(range(1, cfg.epochs + 1), desc="SASRec", disable=not cfg.progress)
        for epoch in bar:
            start = time.perf_counter()
            self.net_.train()
            order = self._epoch_order(lengths, gen).to(device)
            total = torch.zeros((), device=device)
            for b in range(n_batches):
                batch = windows[order[b * cfg.batch_size : (b + 1) * cfg.batch_size]]
                # Left padding: columns that are padding in every row carry nothing; drop them.
                first = int((batch[:, :-1] > 0).any(dim=0).int().argmax())
                inputs, labels = batch[:, first:-1], batch[:, first + 1 :]
                with torch.autocast(device.type, dtype=amp_dtype, enabled=amp):
                    loss = self._loss(inputs, labels, gen)
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
            bar.set_postfix(loss=f"{record['loss']:.4f}", ndcg=f"{record.get('valid_ndcg@10', math.nan):.4f}")
            if cfg.patience and bad_evals >= cfg.patience:
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

    def _loss(self, inputs: torch.Tensor, labels: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        hidden = self.net_(inputs)
        mask = inputs > 0  # left padding: a real input always has a real next item
        states = hidden[mask]  # logits only at real positions
        targets = labels[mask] - 1
        weights = self.net_.item_weights()
        if self.config.loss == "ce":
            return F.cross_entropy((states @ weights.T).float(), targets)
        negatives = torch.randint(0, self.n_items_, (self.config.n_negatives,), generator=gen).to(inputs.device)
        pos = (states * weights[targets]).sum(-1, keepdim=True)
        neg = states @ weights[negatives].T
        neg = neg.masked_fill(negatives.unsqueeze(0) == targets.unsqueeze(1), -torch.inf)
        logits = torch.cat([pos, neg], dim=1).float()
        return F.cross_entropy(logits, torch.zeros(len(targets), dtype=torch.long, device=inputs.device))

    # ----------------------------------------------------------------------------- scoring
    def _check_fitted(self) -> None:
        if not hasattr(self, "net_"):
            raise RuntimeError("SASRec is not fitted: call fit() or load() first")

    def score(self, users: IntArray, histories: list[IntArray]) -> FloatArray:
        """Scores of every catalogue item after each history (its last ``max_len`` items are used).

        ``users`` is only checked for length: SASRec has no user parameters. An empty history
        is scored from padding alone (the same scores for every such user).
        """
        self._check_fitted()
        if len(users) != len(histories):
            raise ValueError(f"SASRec.score: {len(users)} users but {len(histories)} histories")
        for j, h in enumerate(histories):
            if len(h) and (int(np.min(h)) < 0 or int(np.max(h)) >= self.n_items_):
                raise ValueError(f"SASRec.score: history {j} holds an item index outside [0, {self.n_items_})")
        cfg = self.config
        out = np.empty((len(histories), self.n_items_), dtype=np.float32)
        was_training = self.net_.training
        self.net_.eval()
        with _torch_threads(cfg.num_threads), torch.inference_mode():
            weights = self.net_.item_weights()
            for start in range(0, len(histories), cfg.score_batch_size):
                seqs = torch.from_numpy(_left_pad(histories[start : start + cfg.score_batch_size], cfg.max_len))
                last = self.net_(seqs.to(self.device_))[:, -1]
                out[start : start + len(seqs)] = (last @ weights.T).float().cpu().numpy()
        self.net_.train(was_training)
        return out

    # ----------------------------------------------------------------------------- persistence
    def save(self, path: str | Path) -> Path:
        """Write the fitted model to directory ``path``: config.json, meta.json, model.safetensors."""
        self._check_fitted()
        directory = Path(path)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / _CONFIG_FILE).write_text(json.dumps(self.config.to_json(), indent=2) + "\n")
        meta = {
            "n_items": self.n_items_,
            "best_epoch": self.best_epoch_,
            "best_score": self.best_score_,
            "history": self.history_,
        }
        (directory / _META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
        state = {k: v.detach().cpu().contiguous() for k, v in self.net_.state_dict().items()}
        save_file(state, str(directory / _STATE_FILE))
        return directory

    @classmethod
    def load(cls, path: str | Path, *, device: str | None = None) -> SASRec:
        """Read a model written by :meth:`save` (``device`` overrides the saved device setting)."""
        directory = Path(path)
        config = SASRecConfig.from_json(json.loads((directory / _CONFIG_FILE).read_text()))
        if device is not None:
            config = replace(config, device=device)
        meta = json.loads((directory / _META_FILE).read_text())
        model = cls(config)
        model.n_items_ = int(meta["n_items"])
        model.best_epoch_ = int(meta["best_epoch"])
        model.best_score_ = float(meta["best_score"])
        model.history_ = list(meta["history"])
        model.device_ = model._device()
        net = _SASRecNet(model.n_items_, config)
        net.load_state_dict(load_file(str(directory / _STATE_FILE)))
        model.net_ = net.to(model.device_).eval()
        return model
