"""Settings of the trainable sequential models, importable without torch.

:class:`TransformerConfig` (the ID-only SASRec and the shared training loop) and
:class:`SeqRecConfig` (the content-aware model) live here so that a
:class:`~interestlm.recommender.RecommenderConfig` can carry a ``seqrec`` table, and configs can
be read and checked, without loading torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal, Self

from interestlm.models.calibrate import OBJECTIVES, Objective


@dataclass(frozen=True, kw_only=True)
class TransformerConfig:
    """Hyper-parameters of the transformer and its training; defaults suit Amazon-sized data.

    Use ``max_len=200`` for MovieLens. ``patience`` counts evaluations (every ``eval_every``
    epochs) without a better validation NDCG@10; ``0`` disables early stopping. ``all_windows``
    also trains on the earlier ``max_len``-item windows of sequences longer than ``max_len + 1``
    so every transition is used once. ``group_by_length`` sorts windows by length inside random
    pools of 64 batches (batch order shuffled) so padded columns can be trimmed; on Amazon data,
    where most sequences are far shorter than ``max_len``, this cuts the encoder's work several
    times. ``device="auto"`` picks CUDA when available (then training uses mixed precision).
    ``num_threads`` sets torch's CPU threads while fitting and scoring (restored afterwards).
    ``contrastive_weight > 0`` adds a self-supervised term (DuoRec's unsupervised augmentation):
    each batch runs through the encoder twice, under two dropout masks, and an in-batch InfoNCE
    loss (cosine / ``contrastive_temperature``) pulls a sequence's two last states together and
    apart from the other sequences'; it costs one more encoder pass per batch.
    ``max_train_seconds`` (None: no limit) ends training after the first epoch that brings the
    training wall time past it, for runs on a time budget; ``stop_reason_`` records why it ended.
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
    max_train_seconds: float | None = None
    eval_every: int = 1
    loss: Literal["ce", "sampled"] = "ce"
    contrastive_weight: float = 0.0
    contrastive_temperature: float = 0.2
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
        name = type(self).__name__
        positive = ("max_len", "hidden", "n_layers", "n_heads", "batch_size", "epochs", "eval_every", "n_negatives")
        for field_name in (*positive, "num_threads", "score_batch_size"):
            if getattr(self, field_name) < 1:
                raise ValueError(f"{name}.{field_name} must be >= 1, not {getattr(self, field_name)}")
        if self.hidden % self.n_heads:
            raise ValueError(f"{name}.hidden ({self.hidden}) must be divisible by n_heads ({self.n_heads})")
        if self.ffn_hidden is not None and self.ffn_hidden < 1:
            raise ValueError(f"{name}.ffn_hidden must be >= 1 or None, not {self.ffn_hidden}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"{name}.dropout must be in [0, 1), not {self.dropout}")
        if self.lr <= 0 or self.weight_decay < 0:
            raise ValueError(f"{name}.lr must be > 0 and weight_decay >= 0")
        if not 0.0 <= self.contrastive_weight < float("inf"):
            raise ValueError(f"{name}.contrastive_weight must be a finite number >= 0, not {self.contrastive_weight}")
        if not 0.0 < self.contrastive_temperature < float("inf"):
            raise ValueError(
                f"{name}.contrastive_temperature must be a finite number > 0, not {self.contrastive_temperature}"
            )
        if self.max_train_seconds is not None and not self.max_train_seconds > 0:
            raise ValueError(f"{name}.max_train_seconds must be > 0 or None, not {self.max_train_seconds}")
        if self.patience < 0:
            raise ValueError(f"{name}.patience must be >= 0, not {self.patience}")
        if self.loss not in ("ce", "sampled"):
            raise ValueError(f"{name}.loss must be 'ce' or 'sampled', not {self.loss!r}")
        if self.device != "auto":
            import torch  # only here: the config module stays importable without torch

            torch.device(self.device)  # raises on a malformed device string

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-ready dict of every field."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        """Inverse of :meth:`to_json`; unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown {cls.__name__} fields: {', '.join(unknown)}")
        # JSON has no tuples: turn lists back into the tuples the dataclass fields hold.
        values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**values)


@dataclass(frozen=True, kw_only=True)
class SeqRecConfig(TransformerConfig):
    """:class:`SeqRec` settings: the transformer's (see ``TransformerConfig``) plus the item tower's.

    ``text``, ``concepts`` and ``item_id`` switch the three parts of an item vector (at least one
    must be on; ablations turn them off). ``keyphrases`` adds TF-IDF keyphrases of the item text
    to the structured concepts; ``category_kind="genre"`` suits MovieLens. ``encoder`` names the
    frozen text encoder (:func:`~interestlm.encode.make_encoder`), cached under ``cache_dir``
    when given. ``reviews_in_text`` appends training-period review snippets to item text.
    ``unseen_negatives=False`` leaves items without training interactions out of the training
    softmax: they are never a positive there, so as negatives they would only learn to be ranked
    low, while they stand for the new items the content tower exists to recommend.
    ``calibrate_new_items`` learns, after training, one offset added to the scores of those
    items, chosen on the validation rows for ``new_item_objective`` (``"bounded"``: the best
    NDCG@10 of new-item targets that costs the overall NDCG@10 at most ``new_item_tolerance``
    (relative); ``"balanced"``: the mean of NDCG@10 over new-item and warm targets;
    ``"overall"``: NDCG@10 of all rows; see :mod:`interestlm.models.calibrate`); it stays 0 unless
    at least ``min_new_targets`` validation targets are such items. ``new_item_min_offset``
    (None: unbounded) is the lowest offset allowed: ``0.0`` never sinks new items below their
    content score (on ml-100k's newest 20 % of items `bounded` chose offsets down to -1.6, which
    hid every new item). ``new_item_affinity`` calibrates a second number with it, a slope on
    the share of new items among the user's last ``new_item_window`` history items, so the
    offset on a row is ``offset + affinity * share``: users who have been choosing new items get
    them lifted, the rest do not (:func:`~interestlm.models.calibrate.best_offsets`).
    ``new_item_trend`` calibrates a third: a weight on ``log(1 + n)``, where ``n`` counts a new
    item's interactions in the ``new_item_trend_days`` before the request, read from the events
    the model was told of after training (:meth:`~interestlm.models.seqrec.SeqRec.observe`). A
    model that has never trained on an item can still see that people are choosing it.

    ``similarity="cos"`` scores an item by the cosine between the sequence state and the item
    vector divided by ``temperature`` (UniSRec's and VQ-Rec's choice, tau = 0.07) instead of
    their dot product: item vectors then have unit length, so an item's score no longer grows
    with how often training pushed its vector, which is the level a new item never reaches.

    ``freshness`` adds a learned score bias by item age: the time from an item's
    ``Catalog.released`` to the moment of the choice (in training, the next item's event time;
    when scoring, the request time: ``EvalTask.times``, else the last training event), in
    log-spaced buckets (:data:`~interestlm.models.seqrec.AGE_BUCKETS`). It needs release times
    in the catalogue and real timestamps (not sequence positions) in the interactions.

    ``image`` adds item pictures as a second content modality when the content has them (frozen
    ``image_encoder`` vectors of ``Catalog.images``, through their own whitening + MLP adaptor; an
    item without a picture gets no image part). ``modality_dropout`` is the probability, in
    training only, that an item with both text and a picture loses one of the two (either, at
    even odds) for a batch, so that each modality alone still makes a usable vector: most items
    have no picture, and a new item may come with a picture and little text.
    """

    text: bool = True
    concepts: bool = True
    item_id: bool = True
    unseen_negatives: bool = False
    calibrate_new_items: bool = True
    min_new_targets: int = 10
    new_item_objective: Objective = "bounded"
    new_item_tolerance: float = 0.01
    new_item_min_offset: float | None = None
    new_item_affinity: bool = False
    new_item_window: int = 10
    new_item_trend: bool = False
    new_item_trend_days: float = 30.0
    id_dropout: float = 0.5
    #: Weight of the rating head's loss (0: no head). The head predicts the rating of each next
    #: item from the sequence state and that item's vector, trained beside the next-item loss.
    rating_weight: float = 0.0
    n_experts: int = 4
    similarity: Literal["dot", "cos"] = "dot"
    freshness: bool = False
    temperature: float = 0.07
    adaptor_dropout: float = 0.2
    keyphrases: bool = True
    category_kind: str = "category"
    reviews_in_text: bool = True
    encoder: str = "minilm"
    encoder_threads: int | None = None
    cache_dir: str | None = None
    image: bool = False
    image_encoder: str = "efficientnet-lite0"
    modality_dropout: float = 0.15

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (self.text or self.concepts or self.item_id or self.image):
            raise ValueError("SeqRecConfig: at least one of text, concepts, item_id, image must be True")
        if not 0.0 <= self.modality_dropout < 1.0:
            raise ValueError(f"SeqRecConfig.modality_dropout must be in [0, 1), not {self.modality_dropout}")
        from interestlm.encode.image import IMAGE_ENCODERS  # numpy only: no torch, no onnxruntime

        if self.image_encoder not in IMAGE_ENCODERS:
            raise ValueError(f"SeqRecConfig.image_encoder must be one of {IMAGE_ENCODERS}, not {self.image_encoder!r}")
        if self.new_item_objective not in OBJECTIVES:
            raise ValueError(
                f"SeqRecConfig.new_item_objective must be one of {OBJECTIVES}, not {self.new_item_objective!r}"
            )
        if not 0.0 <= self.new_item_tolerance < 1.0:
            raise ValueError(f"SeqRecConfig.new_item_tolerance must be in [0, 1), not {self.new_item_tolerance}")
        if self.similarity not in ("dot", "cos"):
            raise ValueError(f"SeqRecConfig.similarity must be 'dot' or 'cos', not {self.similarity!r}")
        if not 0.0 < self.temperature < float("inf"):
            raise ValueError(f"SeqRecConfig.temperature must be a finite number > 0, not {self.temperature}")
        if self.new_item_min_offset is not None and not abs(self.new_item_min_offset) < float("inf"):
            raise ValueError(f"SeqRecConfig.new_item_min_offset must be finite or None, not {self.new_item_min_offset}")
        if not self.new_item_trend_days > 0:
            raise ValueError(f"SeqRecConfig.new_item_trend_days must be > 0, not {self.new_item_trend_days}")
        if self.new_item_window < 1:
            raise ValueError(f"SeqRecConfig.new_item_window must be >= 1, not {self.new_item_window}")
        if self.min_new_targets < 1:
            raise ValueError(f"SeqRecConfig.min_new_targets must be >= 1, not {self.min_new_targets}")
        if not 0.0 <= self.id_dropout < 1.0:
            raise ValueError(f"SeqRecConfig.id_dropout must be in [0, 1), not {self.id_dropout}")
        if not (self.rating_weight >= 0.0 and self.rating_weight < float("inf")):
            raise ValueError(f"SeqRecConfig.rating_weight must be a finite number >= 0, not {self.rating_weight}")
        if not 0.0 <= self.adaptor_dropout < 1.0:
            raise ValueError(f"SeqRecConfig.adaptor_dropout must be in [0, 1), not {self.adaptor_dropout}")
        if self.n_experts < 1:
            raise ValueError(f"SeqRecConfig.n_experts must be >= 1, not {self.n_experts}")
        if self.category_kind not in ("genre", "category"):
            raise ValueError(f"SeqRecConfig.category_kind must be 'genre' or 'category', not {self.category_kind!r}")
        if self.encoder_threads is not None and self.encoder_threads < 1:
            raise ValueError(f"SeqRecConfig.encoder_threads must be >= 1 or None, not {self.encoder_threads}")


__all__ = ["SeqRecConfig", "TransformerConfig"]
