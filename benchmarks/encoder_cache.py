"""The vector cache the benchmarks share, so a re-run or an ablation does not encode again."""

from __future__ import annotations

import os
from pathlib import Path

from interestlm.encode import CACHE_ENV

#: This checkout's cache folder (git-ignored), as ``benchmarks/config.toml`` names it.
CHECKOUT_CACHE = Path(__file__).resolve().parent.parent / "artifacts" / "encoder-cache"


def default_cache_dir() -> str:
    """``$INTERESTLM_CACHE`` when set, else this checkout's ``artifacts/encoder-cache``."""
    return os.environ.get(CACHE_ENV) or str(CHECKOUT_CACHE)
