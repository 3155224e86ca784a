"""Configuration files (TOML) for the command line and the library.

An evaluation config looks like::

    [evaluate]
    split = "loo"
    ks = [5, 10, 20]
    seed = 0

    [models.sasrec]
    epochs = 100
    hidden = 64
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from interestlm.evaluate.runner import EvaluationConfig

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
