"""The recommender's validated configuration, and TOML files for the command line and the library.

A recommender config (also what ``interestlm fit`` saves as ``config.toml``)::

    [recommender]
    encoder = "minilm"
    diversity = 0.1

    [recommender.profiles]
    max_interests = 6

Each stage keeps its own config dataclass beside its code (``ConceptConfig``, ``GraphConfig``,
``ProfileConfig``, ``SeqRecConfig``); :class:`RecommenderConfig` gathers them. An evaluation's
``[evaluate]`` / ``[models.NAME]`` tables are read by :func:`interestlm.evaluate.runner.evaluation_config`.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Literal

from interestlm.concepts import ConceptConfig, GraphConfig
from interestlm.core.errors import ConfigError
from interestlm.core.schema import SIGNALS
from interestlm.models.seqrec_config import SeqRecConfig
from interestlm.profiles import ProfileConfig
from interestlm.profiles.space import SpaceConfig

#: Collaborative models the ``collaborative`` signal may use ("auto": EASE up to 20k items).
COLLABORATIVE: tuple[str, ...] = ("auto", "ease", "itemknn", "none")


def load_config(path: Path) -> dict[str, Any]:
    """Parse a TOML file, naming the file in the error when it is malformed."""
    try:
        with Path(path).open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc


def _from_mapping(cls: type[Any], raw: Mapping[str, Any], where: str) -> Any:
    """Build dataclass ``cls`` from a mapping; nested dataclass fields from sub-tables."""
    known = {f.name: f for f in fields(cls)}
    unknown = set(raw) - set(known)
    if unknown:
        raise ConfigError(f"unknown keys in [{where}]: {sorted(unknown)}; known: {sorted(known)}")
    defaults = cls()
    kwargs: dict[str, Any] = {}
    for name, value in raw.items():
        current = getattr(defaults, name)
        if is_dataclass(current) and not isinstance(current, type):
            if not isinstance(value, Mapping):
                raise ConfigError(f"[{where}.{name}] must be a table")
            kwargs[name] = _from_mapping(type(current), value, f"{where}.{name}")
        elif isinstance(current, tuple) and isinstance(value, list):
            kwargs[name] = tuple(tuple(v) if isinstance(v, list) else v for v in value)
        else:
            kwargs[name] = value
    return cls(**kwargs)


#: What item pictures do in the recommender (``RecommenderConfig.image_content``).
IMAGE_CONTENT: tuple[str, ...] = ("signal", "only", "off")
#: Image encoder names (``interestlm.encode.image.make_image_encoder``).
IMAGE_ENCODERS: tuple[str, ...] = ("efficientnet-lite0", "pixels")


@dataclass(frozen=True, kw_only=True)
class RecommenderConfig:
    """Every stage's settings; ``config.toml`` of a saved recommender holds exactly this.

    Validated at construction: an unknown signal name or ``collaborative`` value, or an
    out-of-range number, raises :class:`~interestlm.core.errors.ConfigError` listing the valid
    choices (a typo must never silently drop a signal).
    """

    encoder: str = "minilm"
    encoder_threads: int | None = None
    cache_dir: str | None = None
    reviews_in_text: bool = True
    sentiment_from_reviews: bool = True
    concepts: ConceptConfig = field(default_factory=ConceptConfig)
    graph: GraphConfig = field(default_factory=GraphConfig)
    profiles: ProfileConfig = field(default_factory=ProfileConfig)
    #: The item space interests are clustered and scored in (profiles/space.py: behaviour-adapted
    #: by default), and the interest signal's recency half-life (actions) and soft-max temperature.
    space: SpaceConfig = field(default_factory=SpaceConfig)
    interest_half_life: float = 3.0
    interest_temperature: float = 0.1
    collaborative: str = "auto"
    #: Item pictures (``Catalog.images``), where the catalogue names them: ``"signal"`` (default)
    #: adds the ``visual`` signal beside the text vectors; ``"only"`` makes the pictures the item
    #: vectors (a catalogue with nothing worth reading; items without a picture get zero vectors);
    #: ``"off"`` ignores them. ``image_encoder`` is ``"efficientnet-lite0"`` or ``"pixels"`` (a
    #: stand-in for tests).
    image_content: str = "signal"
    image_encoder: str = "efficientnet-lite0"
    #: Learn the interest space (and so cluster interests) from each pictured item's text vector
    #: blended with its picture mapped into the text space (``image_content = "signal"`` only).
    #: Off by default: measured as an ablation in ``benchmarks/bench_multimodal.py``.
    images_in_space: bool = False
    #: Train the text- and concept-aware sequence model (``seqrec``) on the same item vectors and
    #: concepts, and use it as the ``sequential`` signal and the profile's learned short-term
    #: layer. Off by default: it trains a transformer (minutes on a CPU for a MovieLens-sized log).
    #: Its ``encoder``, ``cache_dir``, ``keyphrases``, ``category_kind`` and ``reviews_in_text``
    #: settings are unused here: the recommender's own text vectors and concepts are its content.
    sequential: bool = False
    seqrec: SeqRecConfig = field(default_factory=SeqRecConfig)
    signals: tuple[str, ...] = SIGNALS
    fusion_l2: float = 1e-3
    fusion_users: int = 3000
    fusion_candidates: int = 200
    #: Above this many items, a candidate stage (FAISS per interest and short-term vector, concept
    #: index, co-occurrence, popularity) picks ``n_candidates`` items per user and only those are
    #: scored; at or below it, every item is (``benchmarks/bench_candidates.py`` measures recall).
    candidates_above: int = 200_000
    n_candidates: int = 1000
    #: The candidate stage's vector index: ``"exact"`` (BLAS; twice as fast as FAISS's flat index
    #: for its queries), ``"flat"`` (FAISS, exact) or ``"hnsw"`` (FAISS, approximate, sublinear).
    candidate_index: str = "exact"
    diversity: float = 0.0
    #: The rating model behind ``Recommender.predict``, fitted when the training data hold
    #: explicit ratings: ``true`` / ``"stack"`` the stack ``evaluate --task rating`` reports as
    #: ``interest`` (``models/rating_stack.py``; on ml-latest-small ~250 CPU s, most of ``fit``),
    #: ``"fused"`` its content-aware member alone (~18 CPU s; less accurate), ``false`` none.
    rating_model: bool | Literal["stack", "fused"] = True
    batch_size: int = 256
    seed: int = 0
    progress: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.signals, str):
            raise ConfigError(f"recommender signals must be a list of names, not the string {self.signals!r}")
        unknown = [s for s in self.signals if s not in SIGNALS]
        if unknown:
            raise ConfigError(f"recommender signals {unknown} are unknown; valid: {', '.join(SIGNALS)}")
        if not self.signals:
            raise ConfigError(f"recommender signals must name at least one of: {', '.join(SIGNALS)}")
        if self.collaborative not in COLLABORATIVE:
            raise ConfigError(
                f"recommender collaborative={self.collaborative!r}: choose one of {', '.join(COLLABORATIVE)}"
            )
        if self.image_content not in IMAGE_CONTENT:
            raise ConfigError(
                f"recommender image_content={self.image_content!r}: choose one of {', '.join(IMAGE_CONTENT)}"
            )
        if self.image_encoder not in IMAGE_ENCODERS:
            raise ConfigError(
                f"recommender image_encoder={self.image_encoder!r}: choose one of {', '.join(IMAGE_ENCODERS)}"
            )
        if not isinstance(self.encoder, str) or not self.encoder.strip():
            raise ConfigError("recommender encoder must name an encoder (e.g. 'minilm')")
        if self.encoder_threads is not None and self.encoder_threads < 1:
            raise ConfigError(f"recommender encoder_threads must be >= 1, got {self.encoder_threads}")
        if self.candidates_above < 0:
            raise ConfigError(f"recommender candidates_above must be >= 0, got {self.candidates_above}")
        if self.candidate_index not in ("exact", "flat", "hnsw"):
            raise ConfigError(
                f"recommender candidate_index must be 'exact', 'flat' or 'hnsw', got {self.candidate_index!r}"
            )
        if not 0.0 <= self.diversity <= 1.0:
            raise ConfigError(f"recommender diversity must be in [0, 1], got {self.diversity}")
        if not (self.interest_half_life > 0 and self.interest_temperature > 0):
            raise ConfigError("recommender interest_half_life and interest_temperature must be > 0")
        if not (isinstance(self.rating_model, bool) or self.rating_model in ("stack", "fused")):
            raise ConfigError(
                f"recommender rating_model must be true, false, \"stack\" or \"fused\", got {self.rating_model!r}"
            )
        if not self.fusion_l2 >= 0.0:
            raise ConfigError(f"recommender fusion_l2 must be >= 0, got {self.fusion_l2}")
        for name in ("fusion_users", "fusion_candidates", "batch_size", "n_candidates"):
            if getattr(self, name) < 1:
                raise ConfigError(f"recommender {name} must be >= 1, got {getattr(self, name)}")


def recommender_config(raw: Mapping[str, Any]) -> RecommenderConfig:
    """A :class:`RecommenderConfig` from the ``[recommender]`` table of a parsed TOML file.

    Stage settings are sub-tables: ``[recommender.concepts]``, ``[recommender.graph]``,
    ``[recommender.profiles]``. Unknown keys are an error naming the table.
    """
    section = raw.get("recommender", {})
    if not isinstance(section, Mapping):
        raise ConfigError("[recommender] must be a table")
    config: RecommenderConfig = _from_mapping(RecommenderConfig, section, "recommender")
    return config


def config_to_dict(config: Any) -> dict[str, Any]:
    """A dataclass config as plain TOML-ready values (tuples -> lists, None dropped)."""
    out: dict[str, Any] = {}
    for f in fields(config):
        value = getattr(config, f.name)
        if value is None:
            continue
        if is_dataclass(value) and not isinstance(value, type):
            out[f.name] = config_to_dict(value)
        elif isinstance(value, tuple):
            out[f.name] = [list(v) if isinstance(v, tuple) else v for v in value]
        else:
            out[f.name] = value
    return out


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise ValueError(f"cannot write {type(value).__name__} to TOML")


def dumps_toml(data: Mapping[str, Any], prefix: str = "") -> str:
    """Nested mappings of scalars and lists as TOML text (enough for configs; read back by tomllib)."""
    scalars = [f"{k} = {_toml_value(v)}" for k, v in data.items() if not isinstance(v, Mapping)]
    lines = ([f"[{prefix}]"] if prefix and scalars else []) + scalars
    for key, value in data.items():
        if isinstance(value, Mapping):
            sub = dumps_toml(value, f"{prefix}.{key}" if prefix else key)
            lines.append(("\n" if lines else "") + sub)
    return "\n".join(lines) + ("\n" if lines and not lines[-1].endswith("\n") else "")
