"""A text- and concept-aware SASRec: item vectors come from content, so unseen items can be recommended.

Each item's vector (input embedding and output weight, tied) is the sum of up to three parts:

* **text**: the frozen language-model vector of the item's text (the same template and encoder as
  the interest profiles), through a learned adaptor: parametric whitening and a mixture of
  linear experts with a softmax gate, as in UniSRec (Hou et al. 2022);
* **concepts**: a weighted bag of learned concept embeddings over the item's concepts from
  :func:`~interestlm.concepts.extract_concepts` (categories / genres, brand, tags, attribute
  ids and, optionally, TF-IDF keyphrases of the text);
* **id** (optional): an item ID embedding. During training each item's ID vector is dropped with
  probability ``id_dropout`` (per batch) so the model cannot lean on IDs alone; items without
  training interactions never get one (their ID row would be untrained noise).

The sequence model, training (full-softmax cross-entropy over the whole catalogue, or sampled
softmax), early stopping and persistence are the shared :mod:`interestlm.learn.transformer`.
The frozen text vectors and the concept bags are buffers of the net, so a saved model (safetensors
+ JSON) scores without the encoder.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

from interestlm.concepts import ConceptConfig, extract_concepts
from interestlm.data.tables import Catalog, FloatArray, Interactions
from interestlm.encode import make_encoder
from interestlm.evaluate.protocol import TrainData
from interestlm.learn.config import SeqRecConfig, TransformerConfig
from interestlm.learn.transformer import (
    CausalEncoder,
    SequenceNet,
    SequentialModel,
    init_transformer_weights,
)
from interestlm.text import item_texts, review_snippets


@dataclass(frozen=True, kw_only=True, eq=False)
class ItemContent:
    """What the item tower reads: frozen text vectors and a (row-normalised) item x concept matrix."""

    text_vectors: FloatArray | None
    concepts: sp.csr_matrix | None
    n_concepts: int = 0


def item_content(catalog: Catalog, train: Interactions, config: SeqRecConfig) -> ItemContent:
    """Text vectors and concept bags of every catalog item, as the interest profiles build them.

    Review snippets come from ``train`` only, so nothing from the held-out period leaks into text.
    """
    texts: list[str] | None = None
    if config.text or (config.concepts and config.keyphrases):
        reviews = review_snippets(train, len(catalog)) if config.reviews_in_text else None
        texts = item_texts(catalog, reviews=reviews)
    vectors: FloatArray | None = None
    if config.text and texts is not None:
        cache = Path(config.cache_dir) if config.cache_dir else None
        encoder = make_encoder(config.encoder, cache_dir=cache, threads=config.encoder_threads)
        vectors = np.ascontiguousarray(encoder.encode(texts, progress=config.progress), dtype=np.float32)
    matrix: sp.csr_matrix | None = None
    n_concepts = 0
    if config.concepts:
        concept_config = ConceptConfig(
            max_keyphrases=ConceptConfig().max_keyphrases if config.keyphrases else 0,
            category_kind=config.category_kind,
        )
        # No encoder: merging near-duplicate names matters for reading, not for learned embeddings.
        found = extract_concepts(catalog, texts=texts, config=concept_config)
        n_concepts = found.n_concepts
        matrix = sp.csr_matrix(found.matrix, dtype=np.float32)
        # A weighted mean, so an item with many concepts is not a longer vector than one with few.
        sums = np.asarray(matrix.sum(axis=1)).ravel()
        matrix = sp.csr_matrix(sp.diags(1.0 / np.where(sums > 0, sums, 1.0)) @ matrix, dtype=np.float32)
    return ItemContent(text_vectors=vectors, concepts=matrix, n_concepts=n_concepts)


class _ItemTower(nn.Module):
    """Item vectors from text (whitening + mixture of experts), concept bags and dropped-out IDs."""

    warm: torch.Tensor
    text: torch.Tensor
    bag_concepts: torch.Tensor
    bag_offsets: torch.Tensor
    bag_weights: torch.Tensor

    def __init__(
        self,
        n_items: int,
        cfg: SeqRecConfig,
        *,
        text_dim: int,
        n_concepts: int,
        concept_nnz: int,
    ) -> None:
        super().__init__()
        self.hidden = cfg.hidden
        self.n_experts = cfg.n_experts
        self.id_dropout = cfg.id_dropout
        self.has_text = text_dim > 0
        self.has_concepts = n_concepts > 0
        self.has_id = cfg.item_id
        # Buffers (filled by ``set_content`` or from a saved state): saved with the weights.
        self.register_buffer("warm", torch.zeros(n_items, dtype=torch.bool))
        if self.has_text:
            self.register_buffer("text", torch.zeros(n_items, text_dim))
            self.text_drop = nn.Dropout(cfg.adaptor_dropout)
            self.white_bias = nn.Parameter(torch.zeros(text_dim))
            self.experts = nn.Linear(text_dim, cfg.hidden * cfg.n_experts, bias=False)
            self.gate = nn.Linear(text_dim, cfg.n_experts, bias=False)
        if self.has_concepts:
            self.register_buffer("bag_concepts", torch.zeros(concept_nnz, dtype=torch.long))
            self.register_buffer("bag_offsets", torch.zeros(n_items, dtype=torch.long))
            self.register_buffer("bag_weights", torch.zeros(concept_nnz))
            self.concept_emb = nn.Embedding(n_concepts, cfg.hidden)
        if self.has_id:
            self.id_emb = nn.Embedding(n_items, cfg.hidden)

    def set_content(self, content: ItemContent, warm: np.ndarray) -> None:
        """Copy the frozen content and the warm-item mask into the buffers."""
        with torch.no_grad():
            self.warm.copy_(torch.from_numpy(warm))
            if self.has_text and content.text_vectors is not None:
                self.text.copy_(torch.from_numpy(content.text_vectors))
            if self.has_concepts and content.concepts is not None:
                m = content.concepts
                self.bag_concepts.copy_(torch.from_numpy(m.indices.astype(np.int64)))
                self.bag_offsets.copy_(torch.from_numpy(m.indptr[:-1].astype(np.int64)))
                self.bag_weights.copy_(torch.from_numpy(m.data.astype(np.float32)))

    def forward(self) -> torch.Tensor:
        """Vectors of every item, ``(n_items, hidden)``."""
        n_items = self.warm.shape[0]
        out = torch.zeros(n_items, self.hidden, device=self.warm.device)
        if self.has_text:
            x = self.text_drop(self.text)
            experts = self.experts(x - self.white_bias).view(n_items, self.n_experts, self.hidden)
            gates = torch.softmax(self.gate(x), dim=-1).unsqueeze(-1)
            out = out + (gates * experts).sum(dim=1)
        if self.has_concepts:
            bags = F.embedding_bag(
                self.bag_concepts,
                self.concept_emb.weight,
                self.bag_offsets,
                mode="sum",
                per_sample_weights=self.bag_weights,
            )
            out = out + bags
        if self.has_id:
            keep = self.warm
            if self.training and self.id_dropout > 0:
                keep = keep & (torch.rand(n_items, device=keep.device) >= self.id_dropout)
            out = out + self.id_emb.weight * keep.unsqueeze(-1).to(self.id_emb.weight.dtype)
        return out


class _SeqRecNet(SequenceNet):
    """Content item tower + the shared causal encoder."""

    def __init__(self, n_items: int, cfg: SeqRecConfig, *, text_dim: int, n_concepts: int, concept_nnz: int) -> None:
        super().__init__()
        self.scale = math.sqrt(cfg.hidden)
        self.tower = _ItemTower(n_items, cfg, text_dim=text_dim, n_concepts=n_concepts, concept_nnz=concept_nnz)
        self.encoder = CausalEncoder(cfg)
        init_transformer_weights(self)

    def item_weights(self) -> torch.Tensor:
        """Content-based vectors of every catalogue item."""
        out: torch.Tensor = self.tower()
        return out

    def embed(self, seqs: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """Rows of ``weights`` (index 0 = padding = zeros), scaled by sqrt(hidden) as in SASRec."""
        padded = torch.cat([weights.new_zeros(1, weights.shape[1]), weights])
        return F.embedding(seqs, padded) * self.scale


class SeqRec(SequentialModel[SeqRecConfig]):
    """Text- and concept-aware SASRec (see the module doc); follows the evaluation ``Model`` protocol.

    ``SeqRec(config)`` or ``SeqRec(text=False, ...)`` (keyword overrides of the defaults).
    ``fit`` encodes item text and extracts concepts from ``train.catalog`` (the whole catalog, so
    items without training interactions get content vectors too).
    """

    config_type: ClassVar[type[TransformerConfig]] = SeqRecConfig

    def _build_net(self, train: TrainData) -> _SeqRecNet:
        content = item_content(train.catalog, train.interactions, self.config)
        warm = np.bincount(train.interactions.item, minlength=train.n_items) > 0
        self.content_shape_ = _content_shape(content)
        net = _SeqRecNet(train.n_items, self.config, **self.content_shape_)
        net.tower.set_content(content, warm)
        return net

    def _negative_items(self, train: TrainData) -> torch.Tensor | None:
        if self.config.unseen_negatives:
            return None
        return torch.from_numpy(np.bincount(train.interactions.item, minlength=train.n_items) > 0)

    def _empty_net(self, meta: dict[str, Any]) -> _SeqRecNet:
        self.content_shape_ = {k: int(meta[k]) for k in ("text_dim", "n_concepts", "concept_nnz")}
        return _SeqRecNet(int(meta["n_items"]), self.config, **self.content_shape_)

    def _net_meta(self) -> dict[str, Any]:
        return dict(self.content_shape_)

    def report(self) -> dict[str, Any]:
        """What the item tower was built from (for the results JSON)."""
        self._check_fitted()
        net = self.net_
        assert isinstance(net, _SeqRecNet)
        return {
            **self.content_shape_,
            "warm_items": int(net.tower.warm.sum()),
            "parts": [
                p
                for p, on in (
                    ("text", net.tower.has_text),
                    ("concepts", net.tower.has_concepts),
                    ("id", net.tower.has_id),
                )
                if on
            ],
            "encoder": self.config.encoder if net.tower.has_text else None,
        }


def _content_shape(content: ItemContent) -> dict[str, int]:
    return {
        "text_dim": 0 if content.text_vectors is None else int(content.text_vectors.shape[1]),
        "n_concepts": content.n_concepts if content.concepts is not None else 0,
        "concept_nnz": 0 if content.concepts is None else int(content.concepts.nnz),
    }


__all__ = ["ItemContent", "SeqRec", "SeqRecConfig", "item_content"]
