"""Prometheus exposition written by hand: format, cumulative buckets, escaping."""

import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interestlm.serve.metrics import LATENCY_BUCKETS, Counter, Histogram, Metrics

LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_]+="(?:[^"\\]|\\.)*",?)*\})? (\S+)$')


def parse(text: str) -> dict[str, float]:
    """Sample lines -> value; every line must be a comment or a valid sample."""
    out = {}
    for line in text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            continue
        m = LINE.match(line)
        assert m, f"not exposition format: {line!r}"
        out[m.group(1) + (m.group(2) or "")] = float(m.group(3).replace("+Inf", "inf"))
    return out


def test_counter_renders_labelled_series_and_only_goes_up() -> None:
    c = Counter("x_total", "help text", ("route",))
    c.inc(route="/a")
    c.inc(2, route='/b"q\\')
    samples = parse("\n".join(c.render()))
    assert samples == {'x_total{route="/a"}': 1.0, 'x_total{route="/b\\"q\\\\"}': 2.0}
    assert c.value(route="/a") == 1.0
    with pytest.raises(ValueError, match="only goes up"):
        c.inc(-1, route="/a")
    with pytest.raises(ValueError, match="takes labels"):
        c.inc(user="u1")


@settings(max_examples=50, deadline=None)
@given(values=st.lists(st.floats(0, 20, allow_nan=False), max_size=60))
def test_histogram_buckets_are_cumulative_counts_of_values_at_most_le(values: list[float]) -> None:
    h = Histogram("lat_seconds", "latency", ("route",))
    for v in values:
        h.observe(v, route="/r")
    if not values:
        assert h.render() == ["# HELP lat_seconds latency", "# TYPE lat_seconds histogram"]
        return
    samples = parse("\n".join(h.render()))
    arr = np.asarray(values)
    for bound in (*LATENCY_BUCKETS, math.inf):
        le = "+Inf" if math.isinf(bound) else str(int(bound)) if bound == int(bound) else repr(bound)
        key = f'lat_seconds_bucket{{route="/r",le="{le}"}}'
        assert samples[key] == float((arr <= bound).sum()), key
    assert samples['lat_seconds_count{route="/r"}'] == len(values)
    assert samples['lat_seconds_sum{route="/r"}'] == pytest.approx(arr.sum())


def test_the_service_metrics_render_as_one_valid_document() -> None:
    m = Metrics()
    m.requests.inc(method="GET", route="/healthz", status="200")
    m.latency.observe(0.003, method="GET", route="/healthz")
    m.events.inc(3, kind="like")
    m.gauge("interestlm_items", "items", lambda: 42.0)
    samples = parse(m.render())
    assert samples['interestlm_http_requests_total{method="GET",route="/healthz",status="200"}'] == 1
    assert samples['interestlm_events_accepted_total{kind="like"}'] == 3
    assert samples["interestlm_items"] == 42
    assert samples['interestlm_http_request_duration_seconds_bucket{method="GET",route="/healthz",le="0.0025"}'] == 0
    assert samples['interestlm_http_request_duration_seconds_bucket{method="GET",route="/healthz",le="0.005"}'] == 1
