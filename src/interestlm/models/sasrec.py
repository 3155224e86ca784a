"""ID-only SASRec (Kang & McAuley 2018) trained with full-softmax cross-entropy.

The network is the original self-attentive sequential recommender: item ID embeddings plus
learned positional embeddings, ``n_layers`` causal pre-LayerNorm transformer blocks and a final
LayerNorm; an item's score is the dot product of the last hidden state with its (tied) embedding.

Training follows "SASRec+CE" (Klenitskiy & Vasilev 2023; Petrov & Macdonald's gSASRec): at every
non-padded position the next item is predicted with a softmax over the whole catalogue, which is
far stronger than the original one-negative BCE. ``loss="sampled"`` swaps in a softmax over the
positive and ``n_negatives`` uniform negatives shared by the batch, for catalogues too large for
the full softmax.

The transformer, the training loop, scoring and persistence are shared with the text-aware
model and live in :mod:`interestlm.models.transformer`; this module only adds the ID table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from interestlm.core.protocol import TrainData
from interestlm.models.transformer import (
    CausalEncoder,
    SequenceNet,
    SequentialModel,
    TransformerConfig,
    init_transformer_weights,
    training_windows,
)


@dataclass(frozen=True, kw_only=True)
class SASRecConfig(TransformerConfig):
    """Hyper-parameters of :class:`SASRec` (all of :class:`~interestlm.models.transformer.TransformerConfig`)."""


class _SASRecNet(SequenceNet):
    """The SASRec encoder; ``item_emb`` row 0 is padding, row ``i + 1`` is catalogue item ``i``."""

    def __init__(self, n_items: int, cfg: TransformerConfig) -> None:
        super().__init__()
        self.scale = math.sqrt(cfg.hidden)
        # Built before the encoder: the order of parameter creation fixes the seeded initialisation.
        self.item_emb = nn.Embedding(n_items + 1, cfg.hidden, padding_idx=0)
        self.encoder = CausalEncoder(cfg)
        init_transformer_weights(self)
        with torch.no_grad():
            self.item_emb.weight[0].zero_()

    def item_weights(self) -> torch.Tensor:
        """Output embeddings of the catalogue items (the input table without the padding row)."""
        return self.item_emb.weight[1:]

    def embed(self, seqs: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """ID embeddings of ``seqs`` scaled by sqrt(hidden), as in the original."""
        out: torch.Tensor = self.item_emb(seqs) * self.scale
        return out


class SASRec(SequentialModel[SASRecConfig]):
    """ID-only SASRec trained with full-softmax (or sampled-softmax) cross-entropy.

    ``SASRec(config)`` or ``SASRec(max_len=200, ...)`` (keyword overrides of the defaults).
    """

    config_type: ClassVar[type[TransformerConfig]] = SASRecConfig

    def _build_net(self, train: TrainData) -> _SASRecNet:
        return _SASRecNet(train.n_items, self.config)

    def _empty_net(self, meta: dict[str, Any]) -> _SASRecNet:
        return _SASRecNet(int(meta["n_items"]), self.config)


__all__ = ["SASRec", "SASRecConfig", "training_windows"]
