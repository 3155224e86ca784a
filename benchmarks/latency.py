"""Latency summaries shared by the service benchmarks."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def percentiles(values: list[float], quantiles: Sequence[int] = (50, 99)) -> dict[str, float | int]:
    """n, the ``quantiles`` (``p<q>_ms``) and max of ``values`` (seconds), in milliseconds."""
    if not values:
        return {"n": 0}
    ms = np.asarray(values) * 1000
    out: dict[str, float | int] = {"n": len(values)}
    for q in quantiles:
        out[f"p{q}_ms"] = round(float(np.percentile(ms, q)), 2)
    out["max_ms"] = round(float(ms.max()), 2)
    return out
