"""Prometheus metrics in the text exposition format (version 0.0.4), written by hand.

Only route *templates* (``/v1/users/{user_id}/profile``) become label values, never raw paths,
so no user or item id reaches the metrics and label cardinality stays bounded.
"""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Callable, Sequence

#: Upper bounds (seconds) of the request latency histogram.
LATENCY_BUCKETS: tuple[float, ...] = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

#: Upper bounds (seconds) of the replica propagation histogram (a notified row: milliseconds; a
#: polled one: up to the follow interval).
FOLLOW_BUCKETS: tuple[float, ...] = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Labels = tuple[tuple[str, str], ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Labels, extra: tuple[tuple[str, str], ...] = ()) -> str:
    pairs = (*labels, *extra)
    if not pairs:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in pairs) + "}"


def _number(x: float) -> str:
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    return repr(float(x))


class Counter:
    """A monotonically increasing count per label set."""

    def __init__(self, name: str, help_text: str, label_names: Sequence[str] = ()) -> None:
        self.name, self.help, self.label_names = name, help_text, tuple(label_names)
        self._values: dict[Labels, float] = {}
        self._lock = threading.Lock()

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        """Add ``amount`` (>= 0) to the series of ``labels``."""
        if amount < 0:
            raise ValueError("a counter only goes up")
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, **labels: str) -> float:
        """The current count of one series (0 if never incremented)."""
        return self._values.get(self._key(labels), 0.0)

    def _key(self, labels: dict[str, str]) -> Labels:
        if set(labels) != set(self.label_names):
            raise ValueError(f"{self.name} takes labels {self.label_names}, got {tuple(labels)}")
        return tuple((n, str(labels[n])) for n in self.label_names)

    def render(self) -> list[str]:
        """Exposition lines."""
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} counter"]
        with self._lock:
            items = sorted(self._values.items())
        lines += [f"{self.name}{_labels(k)} {_number(v)}" for k, v in items]
        return lines


class Histogram:
    """Cumulative-bucket histogram per label set (``_bucket``, ``_sum``, ``_count`` series)."""

    def __init__(
        self, name: str, help_text: str, label_names: Sequence[str] = (), buckets: Sequence[float] = LATENCY_BUCKETS
    ) -> None:
        if list(buckets) != sorted(buckets) or not buckets:
            raise ValueError("histogram buckets must be a non-empty increasing sequence")
        self.name, self.help, self.label_names = name, help_text, tuple(label_names)
        self.buckets = tuple(float(b) for b in buckets)
        self._series: dict[Labels, tuple[list[int], list[float]]] = {}
        self._lock = threading.Lock()

    def observe(self, value: float, **labels: str) -> None:
        """Record one observation."""
        key = tuple((n, str(labels[n])) for n in self.label_names)
        slot = bisect.bisect_left(self.buckets, value)
        with self._lock:
            counts, total = self._series.setdefault(key, ([0] * (len(self.buckets) + 1), [0.0]))
            counts[slot] += 1
            total[0] += value

    def count(self, **labels: str) -> int:
        """Observations of one series."""
        key = tuple((n, str(labels[n])) for n in self.label_names)
        series = self._series.get(key)
        return sum(series[0]) if series else 0

    def render(self) -> list[str]:
        """Exposition lines."""
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        with self._lock:
            items = sorted((k, (list(c), t[0])) for k, (c, t) in self._series.items())
        for key, (counts, total) in items:
            running = 0
            for bound, n in zip((*self.buckets, math.inf), counts, strict=True):
                running += n
                lines.append(f"{self.name}_bucket{_labels(key, (('le', _number(bound)),))} {running}")
            lines.append(f"{self.name}_sum{_labels(key)} {_number(total)}")
            lines.append(f"{self.name}_count{_labels(key)} {running}")
        return lines


class Gauge:
    """A value read at scrape time from a callback."""

    def __init__(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        self.name, self.help, self._read = name, help_text, read

    def render(self) -> list[str]:
        """Exposition lines."""
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} gauge", f"{self.name} {_number(self._read())}"]


class Metrics:
    """The service's metrics."""

    def __init__(self) -> None:
        self.requests = Counter(
            "interestlm_http_requests_total", "HTTP requests by method, route and status", ("method", "route", "status")
        )
        self.latency = Histogram(
            "interestlm_http_request_duration_seconds", "HTTP request latency by method and route", ("method", "route")
        )
        self.events = Counter("interestlm_events_accepted_total", "feedback events accepted (durable)", ("kind",))
        self.items = Counter("interestlm_items_upserted_total", "items added or updated through the API")
        self.edits = Counter("interestlm_profile_edits_total", "profile edits accepted")
        self.replayed = Counter("interestlm_log_replayed_total", "log rows replayed at start-up")
        self.follow_delay = Histogram(
            "interestlm_follow_delay_seconds",
            "from another replica's append of a log row to its application here (shared PostgreSQL log)",
            buckets=FOLLOW_BUCKETS,
        )
        self.gauges: list[Gauge] = []

    def gauge(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        """Register a gauge read at scrape time."""
        self.gauges.append(Gauge(name, help_text, read))

    def render(self) -> str:
        """The whole exposition text."""
        lines: list[str] = []
        metrics = (self.requests, self.latency, self.events, self.items, self.edits, self.replayed, self.follow_delay)
        for metric in metrics:
            lines += metric.render()
        for gauge in self.gauges:
            lines += gauge.render()
        return "\n".join(lines) + "\n"
