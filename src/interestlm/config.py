"""Configuration files (TOML) for the command line and the library.

An evaluation config looks like::

    [evaluate]
    split = "loo"
    ks = [5, 10, 20]
    seed = 0

    [models.sasrec]
    epochs = 100
    hidden = 64

and a recommender config (also what ``interestlm fit`` saves as ``config.toml``)::

    [recommender]
    encoder = "minilm"
    diversity = 0.1

    [recommender.profiles]
    max_interests = 6
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interestlm.evaluate.runner import EvaluationConfig

if TYPE_CHECKING:
    from interestlm.recommender import RecommenderConfig

_EVALUATE_KEYS = {"split", "ks", "seed", "batch_size", "slices", "progress"}


def load_config(path: Path) -> dict[str, Any]:
    """Parse a TOML file, naming the file in the error when it is malformed."""
    try:
        with Path(path).open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: invalid TOML: {exc}") from exc


def evaluation_config(raw: dict[str, Any], **overrides: Any) -> EvaluationConfig:
    """Build an :class:`EvaluationConfig` from a parsed TOML mapping plus explicit overrides.

    Unknown keys in ``[evaluate]`` are an error (a typo must not silently change nothing).
    """
    section = dict(raw.get("evaluate", {}))
    unknown = set(section) - _EVALUATE_KEYS
    if unknown:
        raise ValueError(f"unknown [evaluate] keys: {sorted(unknown)}; known: {sorted(_EVALUATE_KEYS)}")
    models = raw.get("models", {})
    if not isinstance(models, dict) or not all(isinstance(v, dict) for v in models.values()):
        raise ValueError("[models.NAME] sections must be tables of model parameters")
    section.update({k: v for k, v in overrides.items() if v is not None})
    if "ks" in section:
        section["ks"] = tuple(int(k) for k in section["ks"])
    return EvaluationConfig(models=models, **section)


def _from_mapping(cls: type[Any], raw: Mapping[str, Any], where: str) -> Any:
    """Build dataclass ``cls`` from a mapping; nested dataclass fields from sub-tables."""
    known = {f.name: f for f in fields(cls)}
    unknown = set(raw) - set(known)
    if unknown:
        raise ValueError(f"unknown keys in [{where}]: {sorted(unknown)}; known: {sorted(known)}")
    defaults = cls()
    kwargs: dict[str, Any] = {}
    for name, value in raw.items():
        current = getattr(defaults, name)
        if is_dataclass(current) and not isinstance(current, type):
            if not isinstance(value, Mapping):
                raise ValueError(f"[{where}.{name}] must be a table")
            kwargs[name] = _from_mapping(type(current), value, f"{where}.{name}")
        elif isinstance(current, tuple) and isinstance(value, list):
            kwargs[name] = tuple(tuple(v) if isinstance(v, list) else v for v in value)
        else:
            kwargs[name] = value
    return cls(**kwargs)


def recommender_config(raw: Mapping[str, Any]) -> RecommenderConfig:
    """A :class:`RecommenderConfig` from the ``[recommender]`` table of a parsed TOML file.

    Stage settings are sub-tables: ``[recommender.concepts]``, ``[recommender.graph]``,
    ``[recommender.profiles]``. Unknown keys are an error naming the table.
    """
    from interestlm.recommender import RecommenderConfig

    section = raw.get("recommender", {})
    if not isinstance(section, Mapping):
        raise ValueError("[recommender] must be a table")
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
