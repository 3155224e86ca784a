"""BSARec (Shin et al., "An Attentive Inductive Bias for Sequential Recommendation beyond the
Self-Attention", AAAI 2024), written from the paper and the authors' code as an in-run baseline.

Each block mixes a frequency filter with causal self-attention, then a point-wise feed-forward
layer (post-LayerNorm, as in the authors' code)::

    h = alpha * FrequencyLayer(x) + (1 - alpha) * Attention(x)
    out = LayerNorm(dropout(FFN(h)) + h)

The frequency layer splits the sequence, along positions, into its lowest ``c // 2 + 1`` Fourier
components and the rest, and rescales the rest by a learned ``beta ** 2`` per hidden unit. Item
embeddings plus learned positions go through LayerNorm and dropout; an item's score is the last
hidden state's dot product with its (tied) embedding, trained with full-softmax cross-entropy.

Causality. The filter mixes every position of the window, padding included: the state at
position ``t`` depends on the items after ``t``. The authors keep this and never train on those
states: each training example is one prefix of a user's sequence, left-padded to ``max_len``, and
the loss is read at its last position only; scoring, too, reads only the last position. This
module does the same (:func:`~interestlm.models.transformer.prefix_windows`, :meth:`BSARec._states`),
so no training target is ever visible to the state that predicts it. Attention alone is causal.
Because the filter's cut-off is an index into the spectrum of a ``max_len``-long window, every
sequence is left-padded to the full ``max_len`` before encoding (the training loop's trimming of
all-padding columns is undone), so an item's state does not depend on the batch it is in.

The training loop, loss, early stopping, scoring and persistence are
:class:`~interestlm.models.transformer.SequentialModel`'s, shared with SASRec.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from torch import nn

from interestlm.core.protocol import TrainData
from interestlm.models.transformer import (
    BatchStates,
    SequenceNet,
    SequentialModel,
    TransformerConfig,
    prefix_windows,
)

#: LayerNorm epsilon of the authors' code (their BERT-style LayerNorm).
_LN_EPS = 1e-12
#: Standard deviation of the authors' normal initialisation of every weight matrix and embedding.
_INIT_STD = 0.02


@dataclass(frozen=True, kw_only=True)
class BSARecConfig(TransformerConfig):
    """Hyper-parameters of :class:`BSARec`; defaults are the authors' Beauty settings.

    ``alpha`` weighs the frequency filter against attention; ``c`` sets the low band to the
    ``c // 2 + 1`` lowest frequencies of a ``max_len``-long window. ``ffn_hidden=None`` means
    ``4 * hidden`` (the authors' feed-forward width; SASRec reads None as ``hidden``).
    ``all_windows`` is unused: every transition is one training example.
    """

    alpha: float = 0.7
    c: int = 5
    lr: float = 5e-4
    batch_size: int = 256
    # Every window is padded to max_len anyway, so grouping by length saves nothing; plain
    # shuffling is what the authors do.
    group_by_length: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"BSARecConfig.alpha must be in [0, 1], not {self.alpha}")
        if self.c < 1:
            raise ValueError(f"BSARecConfig.c must be >= 1, not {self.c}")


class FrequencyLayer(nn.Module):
    """The "beyond self-attention" filter: low band kept, high band scaled by ``sqrt_beta ** 2``."""

    def __init__(self, hidden: int, c: int, dropout: float) -> None:
        super().__init__()
        self.cut = c // 2 + 1
        self.sqrt_beta = nn.Parameter(torch.randn(1, 1, hidden))
        self.drop = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(hidden, eps=_LN_EPS)

    def bands(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(low, high)`` of ``x`` ``(batch, length, hidden)`` along positions; ``low + high == x``."""
        length = x.shape[1]
        # FFTs in float32: half precision is unsupported for lengths that are not powers of two.
        spectrum = torch.fft.rfft(x.float(), dim=1, norm="ortho")
        # irfft zero-fills the dropped high frequencies up to ``length // 2 + 1`` bins.
        low = torch.fft.irfft(spectrum[:, : self.cut], n=length, dim=1, norm="ortho").to(x.dtype)
        return low, x - low

    def filtered(self, x: torch.Tensor) -> torch.Tensor:
        """``low + beta * high``: the filter before dropout, residual and LayerNorm."""
        low, high = self.bands(x)
        out: torch.Tensor = low + self.sqrt_beta**2 * high
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``LayerNorm(dropout(filtered(x)) + x)``."""
        out: torch.Tensor = self.norm(self.drop(self.filtered(x)) + x)
        return out


class _Attention(nn.Module):
    """Multi-head causal self-attention, dropout, dense, residual and LayerNorm (post-LN)."""

    def __init__(self, hidden: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.dropout = dropout
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.out = nn.Linear(hidden, hidden)
        self.drop = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(hidden, eps=_LN_EPS)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Attention over ``x`` under boolean ``mask`` (True = may attend), then residual + LayerNorm."""
        b, length, hidden = x.shape
        q, k, v = self.qkv(x).view(b, length, 3, self.n_heads, -1).permute(2, 0, 3, 1, 4)
        attn = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0)
        out: torch.Tensor = self.norm(self.drop(self.out(attn.transpose(1, 2).reshape(b, length, hidden))) + x)
        return out


class BSABlock(nn.Module):
    """``alpha * filter + (1 - alpha) * attention``, then a GELU feed-forward layer (post-LN)."""

    def __init__(self, cfg: BSARecConfig) -> None:
        super().__init__()
        self.alpha = cfg.alpha
        ffn = cfg.ffn_hidden or 4 * cfg.hidden
        self.filter = FrequencyLayer(cfg.hidden, cfg.c, cfg.dropout)
        self.attention = _Attention(cfg.hidden, cfg.n_heads, cfg.dropout)
        self.ffn = nn.Sequential(
            nn.Linear(cfg.hidden, ffn), nn.GELU(), nn.Linear(ffn, cfg.hidden), nn.Dropout(cfg.dropout)
        )
        self.ffn_norm = nn.LayerNorm(cfg.hidden, eps=_LN_EPS)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The block's output for ``x`` ``(batch, length, hidden)`` under the attention ``mask``."""
        h = self.alpha * self.filter(x) + (1.0 - self.alpha) * self.attention(x, mask)
        out: torch.Tensor = self.ffn_norm(self.ffn(h) + h)
        return out


class BSAEncoder(nn.Module):
    """Learned right-aligned positions, input LayerNorm and dropout, then ``n_layers`` BSA blocks."""

    def __init__(self, cfg: BSARecConfig) -> None:
        super().__init__()
        self.pos_emb = nn.Embedding(cfg.max_len, cfg.hidden)
        self.in_norm = nn.LayerNorm(cfg.hidden, eps=_LN_EPS)
        self.emb_drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(BSABlock(cfg) for _ in range(cfg.n_layers))

    def forward(self, x: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """Hidden states of input embeddings ``x`` ``(batch, max_len, hidden)``; ``real`` marks non-padding."""
        length = x.shape[1]
        # Padding keeps its position embedding, as in the authors' code: the filter sees it.
        x = self.emb_drop(self.in_norm(x + self.pos_emb(torch.arange(length, device=x.device))))
        causal = torch.ones(length, length, dtype=torch.bool, device=x.device).tril()
        eye = torch.eye(length, dtype=torch.bool, device=x.device)
        # Real queries see only real earlier keys; padded queries see only themselves (no NaN rows).
        mask = (causal & (real.unsqueeze(1) | eye)).unsqueeze(1)
        for block in self.blocks:
            x = block(x, mask)
        return x


class _BSARecNet(SequenceNet):
    """The BSARec encoder; ``item_emb`` row 0 is padding, row ``i + 1`` is catalogue item ``i``."""

    def __init__(self, n_items: int, cfg: BSARecConfig) -> None:
        super().__init__()
        self.max_len = cfg.max_len
        # Built before the encoder: the order of parameter creation fixes the seeded initialisation.
        self.item_emb = nn.Embedding(n_items + 1, cfg.hidden, padding_idx=0)
        self.encoder = BSAEncoder(cfg)
        _init_weights(self)
        with torch.no_grad():
            self.item_emb.weight[0].zero_()

    def item_weights(self) -> torch.Tensor:
        """Output embeddings of the catalogue items (the input table without the padding row)."""
        return self.item_emb.weight[1:]

    def embed(self, seqs: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """ID embeddings of ``seqs`` (unscaled, as in the authors' code)."""
        out: torch.Tensor = self.item_emb(seqs)
        return out

    def forward(self, seqs: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """Hidden states ``(batch, max_len, hidden)`` of left-padded ``seqs`` (re-padded to ``max_len``)."""
        if seqs.shape[1] < self.max_len:
            seqs = F.pad(seqs, (self.max_len - seqs.shape[1], 0))
        out: torch.Tensor = self.encoder(self.embed(seqs, weights), seqs > 0)
        return out


def _init_weights(module: nn.Module) -> None:
    """Normal(0, 0.02) weights and embeddings, zero biases, unit LayerNorm gains (the authors'
    ``init_weights``); ``sqrt_beta`` keeps its standard-normal start."""
    for sub in module.modules():
        if isinstance(sub, nn.Linear | nn.Embedding):
            nn.init.normal_(sub.weight, std=_INIT_STD)
        if isinstance(sub, nn.Linear) and sub.bias is not None:
            nn.init.zeros_(sub.bias)


class BSARec(SequentialModel[BSARecConfig]):
    """BSARec trained on every prefix with full-softmax cross-entropy at its last position.

    ``BSARec(config)`` or ``BSARec(alpha=0.5, ...)`` (keyword overrides of the defaults).
    """

    config_type: ClassVar[type[TransformerConfig]] = BSARecConfig

    def _build_net(self, train: TrainData) -> _BSARecNet:
        return _BSARecNet(train.n_items, self.config)

    def _empty_net(self, meta: dict[str, Any]) -> _BSARecNet:
        return _BSARecNet(int(meta["n_items"]), self.config)

    def _training_windows(self, train: TrainData) -> npt.NDArray[np.int64]:
        """One window per transition: the filter is not causal, so each prefix gets its own pass."""
        return prefix_windows(train.sequences(), self.config.max_len)

    def _states(self, inputs: torch.Tensor, labels: torch.Tensor) -> BatchStates:
        """The last position's state and label only: earlier states have seen later items."""
        weights = self.net_.item_weights()
        last = self.net_(inputs, weights)[:, -1]
        mask = torch.zeros_like(inputs, dtype=torch.bool)
        mask[:, -1] = True
        contrast = self._contrastive(inputs, weights, last)
        return BatchStates(weights, last, labels[:, -1] - 1, mask, contrast)


__all__ = ["BSARec", "BSARecConfig", "FrequencyLayer"]
