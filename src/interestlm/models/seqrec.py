"""A text- and concept-aware SASRec: item vectors come from content, so unseen items can be recommended.

Each item's vector (input embedding and output weight, tied) is the sum of up to three parts:

* **text**: the frozen language-model vector of the item's text (the same template and encoder as
  the interest profiles), through a learned adaptor: parametric whitening and a mixture of
  linear experts with a softmax gate, as in UniSRec (Hou et al. 2022);
* **concepts**: a weighted bag of learned concept embeddings over the item's concepts from
  :func:`~interestlm.concepts.extract_concepts` (categories / genres, brand, tags, attribute
  ids and, optionally, TF-IDF keyphrases of the text);
* **image** (optional, ``image=True``): the frozen vector of the item's picture through its own
  adaptor (parametric whitening and a two-layer MLP), added only for items that have a picture
  (an all-zero row means none). In training, an item with both text and a picture loses one of
  the two with probability ``modality_dropout`` per batch, so either alone still makes a vector;
* **id** (optional): an item ID embedding. During training each item's ID vector is dropped with
  probability ``id_dropout`` (per batch) so the model cannot lean on IDs alone; items without
  training interactions never get one (their ID row would be untrained noise).

Scores are the dot product of the sequence state with the item vector, or (``similarity="cos"``)
their cosine over a temperature, as UniSRec and VQ-Rec score; items without training interactions
get one score offset chosen on the validation rows (:mod:`~interestlm.models.calibrate`).
With ``freshness`` on, a learned bias by item age (from ``Catalog.released`` to the time the
ranking is asked for, in log-spaced buckets) is added to every score: new releases are what
people watch, and a brand-new item's age is the one thing about it that is known for sure.

The sequence model, training (full-softmax cross-entropy over the whole catalogue, or sampled
softmax), early stopping and persistence are the shared :mod:`interestlm.models.transformer`.
The frozen text vectors and the concept bags are buffers of the net, so a saved model (safetensors
+ JSON) scores without the encoder.

Why one file over 400 lines: the content tower, training loop, calibration hooks and scorer share private state.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

from interestlm.concepts import ConceptConfig, extract_concepts
from interestlm.core.protocol import EvalTask, TrainData
from interestlm.core.tables import Catalog, Interactions
from interestlm.core.types import FloatArray, IntArray
from interestlm.encode import make_encoder
from interestlm.encode.image import make_image_encoder
from interestlm.models.calibrate import (
    LiftBlock,
    Objective,
    best_lift,
    recent_new_share,
    window_counts,
)
from interestlm.models.seqrec_config import SeqRecConfig, TransformerConfig
from interestlm.models.transformer import (
    CausalEncoder,
    SequenceNet,
    SequentialModel,
    init_transformer_weights,
    window_values,
)
from interestlm.text import item_texts, review_snippets

#: Item-age buckets of the freshness bias: 0 = unknown (adds nothing), 1 = not released yet, then
#: ``2 + floor(log2(1 + days / 7))`` (a week, three, seven, ...), the last one open-ended (~39 years).
AGE_BUCKETS = 14
_DAY = 86400.0
#: The live log keeps at most this many events (the newest); older ones are dropped in halves.
LIVE_LOG_LIMIT = 2_000_000
#: The age bias is stored divided by this: Adam moves a parameter by about ``lr`` a step, too
#: slow for a dozen scalars that each shift a whole column of logits (planted data: +-0.5 after
#: 750 steps at lr 5e-3, too little to lift new releases over the rest).
_AGE_SCALE = 10.0


def _age_bucket_names() -> tuple[str, ...]:
    """What each bucket of :func:`age_buckets` holds: dated bucket ``2 + k`` starts at ``7 (2^k - 1)`` days."""
    starts = [7 * (2**k - 1) for k in range(AGE_BUCKETS - 2)]
    dated = [f"{a}-{b - 1} days" for a, b in itertools.pairwise(starts)] + [f">= {starts[-1]} days"]
    return ("unknown", "not released", *dated)


#: A readable name per age bucket ("unknown", "not released", "0-6 days", ...).
AGE_BUCKET_NAMES = _age_bucket_names()


def age_buckets(now: torch.Tensor, released: torch.Tensor) -> torch.Tensor:
    """Age bucket (see ``AGE_BUCKETS``) of each item after each state: ``(len(now), m)``.

    ``now``: days since the epoch per state (whole days count: the time of day is dropped);
    ``released``: days per item, ``(m,)`` or ``(1 or len(now), m)``; NaN (either) is "unknown".
    """
    age = now.floor().unsqueeze(1) - released
    known = ~torch.isnan(age)
    age = torch.nan_to_num(age, nan=0.0)
    steps = torch.log2(1.0 + age.clamp_min(0.0) / 7.0).floor().clamp_max(AGE_BUCKETS - 3)
    bucket = torch.where(age < 0, torch.ones_like(steps), steps + 2)
    return torch.where(known, bucket, torch.zeros_like(bucket)).long()


class _Lookup(torch.autograd.Function):
    """``table[index]`` whose backward is one ``bincount``: the index is a whole (states x
    catalogue) matrix into a table of a few entries, where indexing's scatter-add is slow."""

    @staticmethod
    def forward(ctx: Any, table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(index)
        ctx.size = table.shape[0]
        return table[index]

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (index,) = ctx.saved_tensors
        summed = torch.bincount(index.reshape(-1), weights=grad.reshape(-1).float(), minlength=ctx.size)
        return summed.to(grad.dtype), None


@dataclass(frozen=True, kw_only=True, eq=False)
class ItemContent:
    """What the item tower reads: frozen text vectors, a (row-normalised) item x concept matrix and
    optionally frozen picture vectors (unit rows; an all-zero row is an item without a picture)."""

    text_vectors: FloatArray | None
    concepts: sp.csr_matrix | None
    n_concepts: int = 0
    image_vectors: FloatArray | None = None


def concept_bags(matrix: sp.spmatrix | npt.NDArray[np.floating]) -> sp.csr_matrix:
    """Item x concept weights as row-normalised bags (a weighted mean of concept embeddings)."""
    m = sp.csr_matrix(matrix, dtype=np.float32)
    # A weighted mean, so an item with many concepts is not a longer vector than one with few.
    sums = np.asarray(m.sum(axis=1)).ravel()
    return sp.csr_matrix(sp.diags(1.0 / np.where(sums > 0, sums, 1.0)) @ m, dtype=np.float32)


def catalog_image_vectors(
    catalog: Catalog,
    encoder: str = "efficientnet-lite0",
    *,
    cache_dir: str | Path | None = None,
    progress: bool = False,
) -> FloatArray | None:
    """Picture vectors of every catalog item, ``(n_items, dim)`` (zero rows: no picture, or one
    that could not be read); None when no item has a picture path."""
    paths = [(i, p) for i, p in enumerate(catalog.images) if p]
    if not paths:
        return None
    image_encoder = make_image_encoder(encoder, cache_dir=cache_dir)
    found = image_encoder.encode_images([p for _, p in paths], progress=progress)
    out = np.zeros((len(catalog), image_encoder.dim), dtype=np.float32)
    out[np.asarray([i for i, _ in paths], dtype=np.int64)] = found.vectors
    return out


def item_content(catalog: Catalog, train: Interactions, config: SeqRecConfig) -> ItemContent:
    """Text vectors and concept bags of every catalog item, as the interest profiles build them
    (with ``config.image`` also the vectors of the catalog's pictures, when it has any).

    Review snippets come from ``train`` only, so nothing from the held-out period leaks into text.
    (:class:`~interestlm.recommender.Recommender` passes its own vectors and concepts instead.)
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
        matrix = concept_bags(found.matrix)
    images: FloatArray | None = None
    if config.image:
        images = catalog_image_vectors(
            catalog, config.image_encoder or "efficientnet-lite0", cache_dir=config.cache_dir, progress=config.progress
        )
    return ItemContent(text_vectors=vectors, concepts=matrix, n_concepts=n_concepts, image_vectors=images)


class _ItemTower(nn.Module):
    """Item vectors from text (whitening + mixture of experts), pictures (whitening + MLP), concept
    bags and dropped-out IDs."""

    warm: torch.Tensor
    text: torch.Tensor
    image: torch.Tensor
    bag_concepts: torch.Tensor
    bag_offsets: torch.Tensor
    bag_weights: torch.Tensor
    concept_trained: torch.Tensor

    def __init__(
        self,
        n_items: int,
        cfg: SeqRecConfig,
        *,
        text_dim: int,
        n_concepts: int,
        concept_nnz: int,
        image_dim: int = 0,
    ) -> None:
        super().__init__()
        self.hidden = cfg.hidden
        self.n_experts = cfg.n_experts
        self.id_dropout = cfg.id_dropout
        self.modality_dropout = cfg.modality_dropout
        self.has_text = text_dim > 0
        self.has_image = image_dim > 0
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
        if self.has_image:
            self.register_buffer("image", torch.zeros(n_items, image_dim))
            self.image_drop = nn.Dropout(cfg.adaptor_dropout)
            self.image_white_bias = nn.Parameter(torch.zeros(image_dim))
            # Two layers, not the text path's linear experts: picture features (a CNN's pooled
            # activations) are further from the sequence space than a sentence encoder's.
            self.image_mlp = nn.Sequential(
                nn.Linear(image_dim, cfg.hidden), nn.GELU(), nn.Linear(cfg.hidden, cfg.hidden)
            )
        if self.has_concepts:
            self.register_buffer("bag_concepts", torch.zeros(concept_nnz, dtype=torch.long))
            self.register_buffer("bag_offsets", torch.zeros(n_items, dtype=torch.long))
            self.register_buffer("bag_weights", torch.zeros(concept_nnz))
            # 1 for concepts some warm item carries: only those embeddings ever get a gradient.
            self.register_buffer("concept_trained", torch.ones(n_concepts))
            self.concept_emb = nn.Embedding(n_concepts, cfg.hidden)
        if self.has_id:
            self.id_emb = nn.Embedding(n_items, cfg.hidden)

    def set_content(self, content: ItemContent, warm: np.ndarray) -> None:
        """Copy the frozen content and the warm-item mask into the buffers."""
        with torch.no_grad():
            self.warm.copy_(torch.from_numpy(warm))
            if self.has_text and content.text_vectors is not None:
                self.text.copy_(torch.from_numpy(content.text_vectors))
            if self.has_image and content.image_vectors is not None:
                self.image.copy_(torch.from_numpy(np.ascontiguousarray(content.image_vectors, dtype=np.float32)))
            if self.has_concepts and content.concepts is not None:
                m = content.concepts
                self.bag_concepts.copy_(torch.from_numpy(m.indices.astype(np.int64)))
                self.bag_offsets.copy_(torch.from_numpy(m.indptr[:-1].astype(np.int64)))
                self.bag_weights.copy_(torch.from_numpy(m.data.astype(np.float32)))
                carried = np.asarray(m[np.flatnonzero(warm)].getnnz(axis=0)).ravel() > 0
                self.concept_trained.copy_(torch.from_numpy(carried.astype(np.float32)))

    def content(
        self,
        text: torch.Tensor | None,
        bag: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None,
        n_items: int,
        image: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Text adaptor + image adaptor + concept bag of ``n_items`` items (no ID part):
        ``(n_items, hidden)``.

        ``bag`` is ``(concepts, offsets, weights)`` in ``F.embedding_bag`` form; ``image`` rows
        that are all zero are items without a picture (they get no image part). In training,
        modality dropout removes the text or the picture of some items that have both.
        """
        out = torch.zeros(n_items, self.hidden, device=self.warm.device)
        use_text = self.has_text and text is not None
        pictured: torch.Tensor | None = None
        if self.has_image and image is not None:
            pictured = image.abs().sum(dim=-1) > 0
        keep_text: torch.Tensor | None = None
        if pictured is not None and self.training and self.modality_dropout > 0:
            # Only items with both modalities lose one: an item's only content is never dropped.
            both = pictured & use_text
            dropped = both & (torch.rand(n_items, device=out.device) < self.modality_dropout)
            text_goes = torch.rand(n_items, device=out.device) < 0.5
            keep_text = ~(dropped & text_goes)
            pictured = pictured & ~(dropped & ~text_goes)
        if use_text:
            assert text is not None
            x = self.text_drop(text)
            experts = self.experts(x - self.white_bias).view(n_items, self.n_experts, self.hidden)
            gates = torch.softmax(self.gate(x), dim=-1).unsqueeze(-1)
            mixed = (gates * experts).sum(dim=1)
            out = out + (mixed if keep_text is None else mixed * keep_text.unsqueeze(-1).to(mixed.dtype))
        if pictured is not None and image is not None:
            # Only the rows with a picture go through the MLP: on MovieLens that is under a third.
            rows = pictured.nonzero().squeeze(-1)
            projected = self.image_mlp(self.image_drop(image[rows]) - self.image_white_bias)
            out = out.index_add(0, rows, projected.to(out.dtype))
        if self.has_concepts and bag is not None:
            # A concept no training item carries keeps its random initial embedding; in a new
            # item's bag it would add noise, so the bag is the mean over trained concepts only.
            concepts, offsets, weights = bag
            trained = self.concept_trained.unsqueeze(1)
            total = F.embedding_bag(concepts, trained, offsets, mode="sum", per_sample_weights=weights)
            summed = F.embedding_bag(
                concepts, self.concept_emb.weight * trained, offsets, mode="sum", per_sample_weights=weights
            )
            out = out + summed / total.clamp_min(1e-12)
        return out

    def forward(self) -> torch.Tensor:
        """Vectors of every item, ``(n_items, hidden)``."""
        n_items = self.warm.shape[0]
        out = self.content(
            self.text if self.has_text else None,
            (self.bag_concepts, self.bag_offsets, self.bag_weights) if self.has_concepts else None,
            n_items,
            self.image if self.has_image else None,
        )
        if self.has_id:
            keep = self.warm
            if self.training and self.id_dropout > 0:
                keep = keep & (torch.rand(n_items, device=keep.device) >= self.id_dropout)
            out = out + self.id_emb.weight * keep.unsqueeze(-1).to(self.id_emb.weight.dtype)
        return out


def _lookup(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``table[index]`` through :class:`_Lookup`."""
    out: torch.Tensor = _Lookup.apply(table, index)  # type: ignore[no-untyped-call]
    return out


class _SeqRecNet(SequenceNet):
    """Content item tower + the shared causal encoder (+ a rating head when configured)."""

    released: torch.Tensor

    def __init__(
        self, n_items: int, cfg: SeqRecConfig, *, text_dim: int, n_concepts: int, concept_nnz: int, image_dim: int = 0
    ) -> None:
        super().__init__()
        self.scale = math.sqrt(cfg.hidden)
        self.cosine = cfg.similarity == "cos"
        self.temperature = cfg.temperature
        self.tower = _ItemTower(
            n_items, cfg, text_dim=text_dim, n_concepts=n_concepts, concept_nnz=concept_nnz, image_dim=image_dim
        )
        self.encoder = CausalEncoder(cfg)
        self.rating_head: nn.Module | None = None
        if cfg.rating_weight > 0:
            self.rating_head = nn.Sequential(nn.Linear(3 * cfg.hidden, cfg.hidden), nn.GELU(), nn.Linear(cfg.hidden, 1))
        self.has_freshness = cfg.freshness
        if cfg.freshness:
            # Days since the epoch each item became available (NaN: unknown), and the learned
            # score bias of each age bucket (starts at 0: no opinion on age).
            self.register_buffer("released", torch.full((n_items,), torch.nan))
            self.age_bias = nn.Parameter(torch.zeros(AGE_BUCKETS))
        init_transformer_weights(self)

    def freshness(self, now: torch.Tensor, items: torch.Tensor | None = None) -> torch.Tensor:
        """The age bias of ``items`` (``(1 or len(now), m)`` indices; None: every item) after
        states at times ``now`` (days since the epoch): ``(len(now), m)``."""
        if items is not None:
            return self.age_bias_of(now, self.released[items])
        # A batch's states fall on far fewer days than there are states: bucket the catalogue
        # once per day (10x faster on ml-100k batches), then copy rows.
        days, rows = torch.unique(now.floor(), return_inverse=True)
        return self.age_bias_of(days, self.released)[rows]

    def age_bias_of(self, now: torch.Tensor, released: torch.Tensor) -> torch.Tensor:
        """The age bias after states at times ``now`` of items released at ``released`` (days).

        An unknown age adds nothing: learned, that bucket became a private bias of the few items
        without a date (+3.3 for ml-100k's one undated item), which every item added later without
        a date would inherit.
        """
        return _lookup(self.age_table(), age_buckets(now, released))

    def age_table(self) -> torch.Tensor:
        """The score bias of each age bucket as scored: the unknown bucket fixed at 0, the rest scaled."""
        return torch.cat([self.age_bias.new_zeros(1), self.age_bias[1:] * _AGE_SCALE])

    def rating(self, states: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Standardised rating of each item (rows of ``items``) after each state (rows of ``states``)."""
        if self.rating_head is None:
            raise RuntimeError("this SeqRec has no rating head (rating_weight = 0)")
        out: torch.Tensor = self.rating_head(torch.cat([states, items, states * items], dim=-1)).squeeze(-1)
        return out

    def finish(self, vectors: torch.Tensor) -> torch.Tensor:
        """Item vectors as scored: unit length under cosine similarity, unchanged under dot product."""
        return F.normalize(vectors, dim=-1) if self.cosine else vectors

    def item_weights(self) -> torch.Tensor:
        """Content-based vectors of every catalogue item."""
        return self.finish(self.tower())

    def forward(self, seqs: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """Hidden states; under cosine similarity unit length over the temperature, so that a
        state's dot product with a (unit) item vector is the cosine logit."""
        out = super().forward(seqs, weights)
        return F.normalize(out, dim=-1) / self.temperature if self.cosine else out

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

    def __init__(self, config: SeqRecConfig | None = None, *, content: ItemContent | None = None, **overrides: Any):
        super().__init__(config, **overrides)
        #: Item content computed elsewhere (the recommender's vectors and concepts); None: from the catalog.
        self.content = content

    def _build_net(self, train: TrainData) -> _SeqRecNet:
        content = (
            self.content if self.content is not None else item_content(train.catalog, train.interactions, self.config)
        )
        _check_content(content, train.n_items, self.config)
        warm = np.bincount(train.interactions.item, minlength=train.n_items) > 0
        self.content_shape_ = _content_shape(content, self.config)
        net = _SeqRecNet(train.n_items, self.config, **self.content_shape_)
        net.tower.set_content(content, warm)
        if self.config.freshness:
            released = np.asarray(train.catalog.released, dtype=np.float64)
            if np.isnan(released).all():
                raise ValueError(
                    "SeqRec: freshness is on, but the catalog has no release times (Catalog.released is all unknown)"
                )
            with torch.no_grad():
                net.released.copy_(torch.from_numpy((released / _DAY).astype(np.float32)))
            self.now_ = float(train.interactions.timestamp.max()) if len(train.interactions) else math.nan
        return net

    # ------------------------------------------------------------------ new items' score offset
    #: Added to the scores of items without training interactions (see :mod:`~interestlm.models.calibrate`).
    new_item_offset_: float = 0.0
    #: Added, times the share of new items among a row's last ``new_item_window`` history items,
    #: to the same scores (``new_item_affinity``).
    new_item_affinity_: float = 0.0
    #: Weight on log(1 + recent interactions) of each new item, from the live log (``new_item_trend``).
    new_item_trend_: float = 0.0
    #: Interactions told of after training (:meth:`observe`), in time order: items and seconds.
    live_items_: npt.NDArray[np.int64] = np.zeros(0, dtype=np.int64)
    live_times_: npt.NDArray[np.float64] = np.zeros(0, dtype=np.float64)
    # The arrays the two views above read (room to append without copying).
    _live_items_buf: npt.NDArray[np.int64] = np.zeros(0, dtype=np.int64)
    _live_times_buf: npt.NDArray[np.float64] = np.zeros(0, dtype=np.float64)
    #: The time (seconds since the epoch) scores are for when none is given: the last training event.
    now_: float = math.nan

    def _fit(self, train: TrainData, valid: EvalTask | None, device: torch.device) -> None:
        # Early stopping sees the raw scores; a log told of before this fit is not "after training".
        self.new_item_offset_ = self.new_item_affinity_ = self.new_item_trend_ = 0.0
        self.live_items_, self.live_times_ = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
        self._live_items_buf, self._live_times_buf = self.live_items_, self.live_times_
        super()._fit(train, valid, device)
        if valid is not None and len(valid) and self.config.calibrate_new_items:
            self.calibrate_new_items(valid)

    def released_times(self) -> npt.NDArray[np.float64]:
        """The fitted items' release times (seconds since the epoch; NaN unknown or no ``freshness``)."""
        self._check_fitted()
        net = self.net_
        assert isinstance(net, _SeqRecNet)
        if not net.has_freshness:
            return np.full(self.n_items_, np.nan)
        return net.released.cpu().numpy().astype(np.float64) * _DAY

    def new_items(self) -> npt.NDArray[np.bool_]:
        """Which fitted catalogue items had no training interactions (their vectors are content only)."""
        self._check_fitted()
        net = self.net_
        assert isinstance(net, _SeqRecNet)
        out: npt.NDArray[np.bool_] = ~net.tower.warm.cpu().numpy()
        return out

    def calibrate_new_items(
        self,
        valid: EvalTask,
        *,
        objective: Objective | None = None,
        affinity: bool | None = None,
        trend: bool | None = None,
        block: int = 2048,
        n_trend_weights: int = 12,
    ) -> float:
        """Set and return ``new_item_offset_`` (with ``affinity`` also the slope
        ``new_item_affinity_``, with ``trend`` the weight ``new_item_trend_``), chosen on
        ``valid`` for ``objective``; each defaults to the config's (``new_item_objective``,
        ``new_item_affinity``, ``new_item_trend``). The trend weight needs request times in
        ``valid`` and events in the live log (:meth:`observe`); without them it stays 0.

        ``fit`` calls it when ``calibrate_new_items`` is on; call it again to re-calibrate the
        same weights another way (e.g. after :meth:`observe`).
        """
        cfg = self.config
        objective = objective or cfg.new_item_objective
        affinity = cfg.new_item_affinity if affinity is None else affinity
        trend = cfg.new_item_trend if trend is None else trend
        new = self.new_items()
        self.new_item_offset_ = self.new_item_affinity_ = self.new_item_trend_ = 0.0
        if not new.any():
            return 0.0
        trend = trend and valid.times is not None and len(self.live_times_) > 0
        times = valid.times if valid.times is not None else np.full(len(valid), np.nan)
        blocks = []
        for start in range(0, len(valid), block):
            rows = slice(start, start + block)
            exclude = valid.exclude[rows]
            blocks.append(
                LiftBlock(
                    # Every lift is 0 here, so these are the scores the lifts are to be added to.
                    scores=self.score_at(valid.users[rows], valid.histories[rows], times[rows]),
                    targets=valid.targets[rows],
                    seen=[exclude.indices[exclude.indptr[j] : exclude.indptr[j + 1]] for j in range(exclude.shape[0])],
                    shares=recent_new_share(valid.histories[rows], new, cfg.new_item_window),
                    trending=(np.log1p(self.live_counts(times[rows])) * new).astype(np.float32) if trend else None,
                )
            )
        self.new_item_offset_, self.new_item_affinity_, self.new_item_trend_ = best_lift(
            blocks,
            new,
            objective=objective,
            tolerance=cfg.new_item_tolerance,
            min_new_targets=cfg.min_new_targets,
            min_offset=cfg.new_item_min_offset,
            affinity=affinity,
            n_trend_weights=n_trend_weights,
        )
        return self.new_item_offset_

    def observe(self, items: npt.NDArray[np.integer], times: npt.NDArray[np.floating]) -> None:
        """Tell the model of interactions that happened after training (item indices of the
        fitted catalogue, seconds since the epoch): the live log ``new_item_trend`` counts. The
        log is serving state: it is not saved with the model."""
        self._check_fitted()
        items = np.asarray(items, dtype=np.int64)
        times = np.asarray(times, dtype=np.float64)
        if items.shape != times.shape:
            raise ValueError(f"SeqRec.observe: {len(items)} items but {len(times)} times")
        if len(items) and (items.min() < 0 or items.max() >= self.n_items_):
            raise ValueError(f"SeqRec.observe: item indices must lie in [0, {self.n_items_})")
        if np.isnan(times).any():
            raise ValueError("SeqRec.observe: every event needs a time (NaN found)")
        if not len(items):
            return
        n, need = len(self.live_times_), len(self.live_times_) + len(items)
        if (n and float(times.min()) < float(self.live_times_[-1])) or np.any(np.diff(times) < 0):
            # Rare: a late event. Merge by time (stable); the merged arrays become the buffer.
            merged_items = np.concatenate([self.live_items_, items])
            merged_times = np.concatenate([self.live_times_, times])
            order = np.argsort(merged_times, kind="stable")
            self._live_items_buf, self._live_times_buf = merged_items[order], merged_times[order]
        else:
            # The common case, events in time order: append into a buffer that doubles when full,
            # so a stream of n events costs O(n) copying, not O(n^2).
            if need > len(self._live_times_buf):
                capacity = max(need, 2 * len(self._live_times_buf), 1024)
                grown_items = np.empty(capacity, dtype=np.int64)
                grown_times = np.empty(capacity, dtype=np.float64)
                grown_items[:n], grown_times[:n] = self.live_items_, self.live_times_
                self._live_items_buf, self._live_times_buf = grown_items, grown_times
            self._live_items_buf[n:need], self._live_times_buf[n:need] = items, times
        self.live_items_, self.live_times_ = self._live_items_buf[:need], self._live_times_buf[:need]
        self._trim_live_log()

    def _trim_live_log(self) -> None:
        """Keep at most :data:`LIVE_LOG_LIMIT` events, the newest: the log is a bounded window."""
        extra = len(self.live_times_) - LIVE_LOG_LIMIT
        if extra > 0:
            keep = LIVE_LOG_LIMIT // 2  # trim in large steps so trimming stays rare
            self._live_items_buf = self.live_items_[-keep:].copy()
            self._live_times_buf = self.live_times_[-keep:].copy()
            self.live_items_, self.live_times_ = self._live_items_buf, self._live_times_buf

    def live_counts(self, times: npt.NDArray[np.float64]) -> FloatArray:
        """Each fitted item's interactions in the live log during the ``new_item_trend_days``
        before each of ``times`` (the request itself excluded; NaN: up to the log's last event),
        ``(len(times), n_items)``."""
        self._check_fitted()
        window = self.config.new_item_trend_days * _DAY
        return window_counts(self.live_items_, self.live_times_, self.n_items_, times, window)

    def new_item_lift(self, histories: list[IntArray], new: npt.NDArray[np.bool_] | None = None) -> FloatArray:
        """What each history's row adds to every new item's score: ``new_item_offset_ +
        new_item_affinity_ * share`` (``new``: which scored items are new; default the fitted ones)."""
        new = self.new_items() if new is None else new
        lift = np.full(len(histories), np.float32(self.new_item_offset_), dtype=np.float32)
        if self.new_item_affinity_:
            lift += np.float32(self.new_item_affinity_) * recent_new_share(histories, new, self.config.new_item_window)
        return lift

    def score(self, users: IntArray, histories: list[IntArray]) -> FloatArray:
        """Scores of every catalogue item after each history, new items lifted by :meth:`new_item_lift`
        (with ``freshness``: items aged as of ``now_``, the last training event)."""
        return self.score_at(users, histories, np.full(len(histories), np.nan))

    def score_at(self, users: IntArray, histories: list[IntArray], times: npt.NDArray[np.float64]) -> FloatArray:
        """:meth:`score` with items aged as of ``times`` (seconds since the epoch; NaN: ``now_``)."""
        if len(times) != len(histories):
            raise ValueError(f"SeqRec.score_at: {len(histories)} histories but {len(times)} times")
        out = super().score(users, histories)
        if self.config.freshness:
            out += self.freshness_scores(times)
        if self.new_item_offset_ or self.new_item_affinity_ or self.new_item_trend_:
            new = self.new_items()
            out[:, new] += self.new_item_lift(histories, new)[:, None]
            if self.new_item_trend_:
                out[:, new] += np.float32(self.new_item_trend_) * np.log1p(self.live_counts(times)[:, new])
        return out

    def freshness_scores(
        self, times: npt.NDArray[np.float64], released: npt.NDArray[np.float64] | None = None
    ) -> FloatArray:
        """The learned age bias of every item at each of ``times`` (seconds; NaN: ``now_``):
        ``(len(times), n_items)``, zeros without ``freshness``. ``released`` (seconds, NaN
        unknown; default: the fitted catalogue's) scores other items, e.g. ones added since."""
        self._check_fitted()
        net = self.net_
        assert isinstance(net, _SeqRecNet)
        n = self.n_items_ if released is None else len(released)
        if not net.has_freshness:
            return np.zeros((len(times), n), dtype=np.float32)
        now = np.where(np.isnan(times), self.now_, np.asarray(times, dtype=np.float64)) / _DAY
        with self._inference():
            days = (
                net.released
                if released is None
                else torch.from_numpy((np.asarray(released, dtype=np.float64) / _DAY).astype(np.float32))
            )
            bias = net.age_bias_of(torch.from_numpy(now.astype(np.float32)).to(self.device_), days.to(self.device_))
            return np.asarray(bias.float().cpu().numpy(), dtype=np.float32)

    def _negative_items(self, train: TrainData) -> torch.Tensor | None:
        if self.config.unseen_negatives:
            return None
        return torch.from_numpy(np.bincount(train.interactions.item, minlength=train.n_items) > 0)

    def _empty_net(self, meta: dict[str, Any]) -> _SeqRecNet:
        self.content_shape_ = {k: int(meta[k]) for k in ("text_dim", "n_concepts", "concept_nnz")}
        # Models saved before pictures were read have no image_dim: no image path.
        self.content_shape_["image_dim"] = int(meta.get("image_dim", 0))
        if "rating_mean" in meta:
            self.rating_stats_ = (float(meta["rating_mean"]), float(meta["rating_std"]))
        self.new_item_offset_ = float(meta.get("new_item_offset", 0.0))
        self.new_item_affinity_ = float(meta.get("new_item_affinity", 0.0))
        self.new_item_trend_ = float(meta.get("new_item_trend", 0.0))
        self.now_ = float(meta.get("now", math.nan))
        return _SeqRecNet(int(meta["n_items"]), self.config, **self.content_shape_)

    def _net_meta(self) -> dict[str, Any]:
        meta: dict[str, Any] = {
            **self.content_shape_,
            "new_item_offset": self.new_item_offset_,
            "new_item_affinity": self.new_item_affinity_,
            "new_item_trend": self.new_item_trend_,
        }
        if not math.isnan(self.now_):
            meta["now"] = self.now_
        if self.rating_stats_ is not None:
            meta["rating_mean"], meta["rating_std"] = self.rating_stats_
        return meta

    # ------------------------------------------------------------------ the rating head
    rating_stats_: tuple[float, float] | None = None

    def _aux_windows(self, train: TrainData) -> dict[str, npt.NDArray[np.float32]]:
        """Per window position: standardised ratings (NaN where unrated) for the rating head, and
        event times in days for the freshness bias."""
        out: dict[str, npt.NDArray[np.float32]] = {}
        inter = train.interactions
        if self.config.freshness:
            days = (inter.timestamp.astype(np.float64) / _DAY).astype(np.float32)
            out["time"] = window_values(inter.per_user(days), self.config.max_len)
        if self.config.rating_weight > 0:
            out["rating"] = self._rating_windows(train)
        return out

    def _rating_windows(self, train: TrainData) -> npt.NDArray[np.float32]:
        inter = train.interactions
        known = ~np.isnan(inter.rating)
        if not known.any():
            raise ValueError("SeqRec: rating_weight > 0 needs ratings in the training rows, and there are none")
        mean, std = float(inter.rating[known].mean()), float(inter.rating[known].std())
        self.rating_stats_ = (mean, std if std > 1e-6 else 1.0)
        ratings = (inter.rating.astype(np.float32) - mean) / np.float32(self.rating_stats_[1])
        return window_values(inter.per_user(ratings), self.config.max_len)

    def _loss(
        self,
        inputs: torch.Tensor,
        labels: torch.Tensor,
        gen: torch.Generator,
        aux: dict[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Next-item (+ contrastive) loss, plus ``rating_weight`` x the rating head's squared error where rated.

        With ``freshness`` the next-item scores carry the age bias as of each choice's own time
        (the next item's event).
        """
        aux = aux or {}
        net = self.net_
        assert isinstance(net, _SeqRecNet)
        weights, states, targets, mask, contrast = self._states(inputs, labels)
        bias = None
        if "time" in aux:
            # Each choice is made at its own time: items are aged as of the next item's event.
            now = aux["time"][:, 1:][mask]

            def bias(items: torch.Tensor | None) -> torch.Tensor:
                return net.freshness(now, items)

        loss = self._next_item_loss(weights, states, targets, inputs.device, gen, bias) + contrast
        if "rating" not in aux:
            return loss
        ratings = aux["rating"][:, 1:][mask]
        rated = ~torch.isnan(ratings)
        if not bool(rated.any()):
            return loss
        predicted = net.rating(states[rated], weights[targets[rated]]).float()
        return loss + self.config.rating_weight * F.mse_loss(predicted, ratings[rated])

    def predict_ratings(self, histories: list[IntArray], items: IntArray) -> FloatArray:
        """The rating head's prediction for ``items[j]`` right after ``histories[j]``, in rating units."""
        self._check_fitted()
        net = self.net_
        assert isinstance(net, _SeqRecNet)
        if net.rating_head is None or self.rating_stats_ is None:
            raise RuntimeError("this SeqRec has no rating head: fit it with rating_weight > 0")
        targets = np.asarray(items, dtype=np.int64)
        if len(targets) != len(histories):
            raise ValueError(f"predict_ratings: {len(histories)} histories but {len(targets)} items")
        self._check_histories(histories, where="predict_ratings")
        if len(targets) and (targets.min() < 0 or targets.max() >= self.n_items_):
            raise ValueError(f"predict_ratings: items must lie in [0, {self.n_items_})")
        mean, std = self.rating_stats_
        out = np.empty(len(histories), dtype=np.float32)
        with self._inference():
            weights = net.item_weights()
            for start, last in self._last_states(histories, weights):
                rows = torch.from_numpy(targets[start : start + len(last)]).to(self.device_)
                out[start : start + len(last)] = net.rating(last, weights[rows]).float().cpu().numpy() * std + mean
        return out

    def content_vectors(
        self,
        text_vectors: FloatArray | None,
        concepts: sp.spmatrix | None,
        image_vectors: FloatArray | None = None,
    ) -> FloatArray:
        """Vectors of items the model never saw (added after fitting) from their content alone.

        ``text_vectors`` are frozen encoder vectors (``(n, text_dim)``), ``concepts`` the items'
        concept rows in the fitted concept space (row-normalised here), ``image_vectors`` their
        picture vectors (``(n, image_dim)``; zero rows or None: no picture); a part the model was
        trained without is ignored. A model with an image path also takes items with a picture and
        no text or concepts (None: that part is left out, as modality dropout trained it to be).
        Such items get no ID part, as unseen items never do.
        """
        self._check_fitted()
        net = self.net_
        assert isinstance(net, _SeqRecNet)
        tower = net.tower
        sizes = [len(text_vectors)] if text_vectors is not None else []
        sizes += [concepts.shape[0]] if concepts is not None else []
        sizes += [len(image_vectors)] if image_vectors is not None else []
        if not sizes or len(set(sizes)) != 1:
            raise ValueError(
                "content_vectors needs text_vectors, concepts and/or image_vectors with the same number of rows"
            )
        n = sizes[0]
        image: torch.Tensor | None = None
        if tower.has_image:
            dim = tower.image.shape[1]
            if image_vectors is not None and (image_vectors.ndim != 2 or image_vectors.shape[1] != dim):
                raise ValueError(f"content_vectors: the model reads {dim}-d image vectors")
            pictures = np.zeros((n, dim), np.float32) if image_vectors is None else image_vectors
            image = torch.from_numpy(np.ascontiguousarray(pictures, dtype=np.float32)).to(self.device_)
        # Only a model that reads pictures can make a vector without one of its other parts.
        optional = tower.has_image and image_vectors is not None
        text: torch.Tensor | None = None
        if tower.has_text and not (optional and text_vectors is None):
            if text_vectors is None or text_vectors.shape[1] != tower.text.shape[1]:
                raise ValueError(f"content_vectors: the model reads {tower.text.shape[1]}-d text vectors")
            text = torch.from_numpy(np.ascontiguousarray(text_vectors, dtype=np.float32)).to(self.device_)
        bag: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        if tower.has_concepts and not (optional and concepts is None):
            n_concepts = tower.concept_emb.num_embeddings
            if concepts is None or concepts.shape[1] != n_concepts:
                raise ValueError(f"content_vectors: the model reads rows over {n_concepts} concepts")
            m = concept_bags(concepts)
            bag = (
                torch.from_numpy(m.indices.astype(np.int64)).to(self.device_),
                torch.from_numpy(m.indptr[:-1].astype(np.int64)).to(self.device_),
                torch.from_numpy(m.data.astype(np.float32)).to(self.device_),
            )
        with self._inference():
            out: FloatArray = net.finish(tower.content(text, bag, n, image)).float().cpu().numpy()
        return out

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
                    ("image", net.tower.has_image),
                    ("id", net.tower.has_id),
                )
                if on
            ],
            "encoder": self.config.encoder if net.tower.has_text else None,
            "image_encoder": self.config.image_encoder if net.tower.has_image else None,
            "items_with_image": int((net.tower.image.abs().sum(dim=1) > 0).sum()) if net.tower.has_image else 0,
            "rating_head": net.rating_head is not None,
            "new_item_offset": self.new_item_offset_,
            "new_item_affinity": self.new_item_affinity_,
            "new_item_trend": self.new_item_trend_,
            # The learned bias per age bucket, in the order of AGE_BUCKET_NAMES.
            "age_bias": [round(float(b), 4) for b in net.age_table().detach().cpu()] if net.has_freshness else None,
        }


def _check_content(content: ItemContent, n_items: int, config: SeqRecConfig) -> None:
    if config.text and (content.text_vectors is None or len(content.text_vectors) != n_items):
        raise ValueError(f"SeqRec: config.text is on, so the content needs text vectors for all {n_items} items")
    if config.concepts and (content.concepts is None or content.concepts.shape[0] != n_items):
        raise ValueError(f"SeqRec: config.concepts is on, so the content needs concept rows for all {n_items} items")
    images = content.image_vectors
    if config.image and images is not None and (images.ndim != 2 or len(images) != n_items):
        raise ValueError(f"SeqRec: the content's image vectors need one row per item ({n_items}), not {images.shape}")
    if not (config.text or config.concepts or config.item_id) and images is None:
        raise ValueError("SeqRec: only config.image is on, and the content has no pictures: nothing makes item vectors")


class SeqRecScorer:
    """A fitted :class:`SeqRec` as a ranking signal: item vectors computed once, new items appended.

    ``score(histories)`` is ``intent @ vectors.T`` over the fitted items plus any added since
    (their vectors from content alone, see :meth:`SeqRec.content_vectors`), plus the model's
    :meth:`~SeqRec.new_item_lift` on the items without training interactions, added ones included.
    """

    def __init__(
        self,
        model: SeqRec,
        vectors: FloatArray | None = None,
        new: npt.NDArray[np.bool_] | None = None,
        released: npt.NDArray[np.float64] | None = None,
    ) -> None:
        self.model = model
        self.vectors = model.item_vectors() if vectors is None else vectors
        #: Which scored items have no training interactions: the ones the new-item lift applies to.
        self.new = model.new_items() if new is None else new
        #: Each scored item's release time (seconds; NaN unknown): what the model's age bias reads.
        self.released = model.released_times() if released is None else released

    @property
    def n_items(self) -> int:
        """Items scored: the fitted catalogue plus those added since."""
        return int(self.vectors.shape[0])

    def with_items(
        self,
        text_vectors: FloatArray | None,
        concepts: sp.spmatrix | None,
        image_vectors: FloatArray | None = None,
    ) -> SeqRecScorer:
        """The scorer with items appended (their content: text vectors, concept rows and,
        optionally, picture vectors; None or zero rows: no picture)."""
        extra = self.model.content_vectors(text_vectors, concepts, image_vectors)
        return SeqRecScorer(
            self.model,
            np.vstack([self.vectors, extra]).astype(np.float32),
            np.concatenate([self.new, np.ones(len(extra), dtype=bool)]),
            np.concatenate([self.released, np.full(len(extra), np.nan)]),
        )

    def intent(self, histories: list[npt.NDArray[np.integer]]) -> FloatArray:
        """The model's short-term intent vector after each history."""
        return self.model.intent([np.asarray(h, dtype=np.int64) for h in histories], item_vectors=self.vectors)

    def score(self, histories: list[npt.NDArray[np.integer]]) -> FloatArray:
        """Next-item scores of every item after each history, ``(len(histories), n_items)``
        (with the model's age bias as of its ``now_``; added items' release times are unknown)."""
        out: FloatArray = self.intent(histories) @ self.vectors.T
        lift = self.model.new_item_lift([np.asarray(h, dtype=np.int64) for h in histories], self.new)
        out[:, self.new] += lift[:, None]
        if self.model.new_item_trend_:
            # As of the live log's last event; items added since have no count there.
            counts = self.model.live_counts(np.full(1, np.nan))[0] * self.new[: self.model.n_items_]
            out[:, : self.model.n_items_] += np.float32(self.model.new_item_trend_) * np.log1p(counts)
        if self.model.config.freshness:
            out += self.model.freshness_scores(np.full(len(histories), np.nan), self.released)
        return out


def _content_shape(content: ItemContent, config: SeqRecConfig) -> dict[str, int]:
    # ``image`` reads pictures when the content has them; without any there is no image path.
    images = content.image_vectors if config.image else None
    return {
        "text_dim": 0 if content.text_vectors is None else int(content.text_vectors.shape[1]),
        "n_concepts": content.n_concepts if content.concepts is not None else 0,
        "concept_nnz": 0 if content.concepts is None else int(content.concepts.nnz),
        "image_dim": 0 if images is None else int(images.shape[1]),
    }


__all__ = [
    "AGE_BUCKETS",
    "AGE_BUCKET_NAMES",
    "ItemContent",
    "SeqRec",
    "SeqRecConfig",
    "SeqRecScorer",
    "age_buckets",
    "catalog_image_vectors",
    "concept_bags",
    "item_content",
]
