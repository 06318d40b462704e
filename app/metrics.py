"""Prometheus metrics, recorded in the server process (one process per pod).

Counters and histograms are updated as things happen, with label children looked up
once and cached. Gauges (requests in flight, busy workers, queue depth, saturation)
are read from admission and its pool when Prometheus scrapes, so they cost nothing
per task. Labels are bounded: routes are templates, tasks come from the registry,
reasons from fixed sets.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

if TYPE_CHECKING:
    from app.admission import Admission

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]

# The *_created series double the exposition for nothing the dashboards use.
disable_created_metrics()  # type: ignore[no-untyped-call]

LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip
LAG_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


class _PoolCollector(Collector):
    def __init__(self, admission: Callable[[], Admission | None]) -> None:
        self._admission = admission

    def collect(self) -> Iterator[Metric]:
        admission = self._admission()
        pool = admission.pool if admission else None
        inflight = admission.inflight if admission else 0
        size = pool.size if pool else 0
        busy = pool.busy if pool else 0
        queued = pool.queued if pool else 0
        saturation = pool.saturation if pool else 0.0
        yield GaugeMetricFamily(
            "crunch_inflight_requests", "HTTP requests being served.", value=inflight
        )
        yield GaugeMetricFamily("crunch_pool_workers", "Worker processes in the pool.", value=size)
        yield GaugeMetricFamily("crunch_pool_busy_workers", "Workers running a task.", value=busy)
        yield GaugeMetricFamily(
            "crunch_queue_depth", "Tasks waiting for a free worker.", value=queued
        )
        yield GaugeMetricFamily(
            "crunch_saturation",
            "(busy workers + queued tasks) / workers: the autoscaling signal.",
            value=saturation,
        )


class _Series:
    """One histogram series: bucket counts and a sum, updated without a lock."""

    __slots__ = ("counts", "sum")

    def __init__(self, size: int) -> None:
        self.counts = [0] * size
        self.sum = 0.0


class LoopHistogram(Collector):
    """A histogram for values observed on the event loop thread only.

    prometheus_client's Histogram takes a lock and walks its buckets in Python on every
    observation; three of those per request were a measurable share of a small task's
    cost. Here an observation is one bisect and two additions, and the scrape (also on
    the event loop) adds the buckets up.
    """

    def __init__(self, name: str, doc: str, buckets: Iterable[float], label: str = "") -> None:
        self.name, self.doc, self.label = name, doc, label
        self.bounds = sorted(buckets)
        self.series: dict[str, _Series] = {}

    def child(self, value: str = "") -> _Series:
        series = self.series.get(value)
        if series is None:
            series = self.series[value] = _Series(len(self.bounds) + 1)
        return series

    def observe(self, series: _Series, value: float) -> None:
        series.counts[bisect_left(self.bounds, value)] += 1
        series.sum += value

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(
            self.name, self.doc, labels=[self.label] if self.label else None
        )
        for value, series in list(self.series.items()):
            buckets, total = [], 0
            for bound, count in zip([*self.bounds, float("inf")], series.counts, strict=True):
                total += count
                buckets.append((floatToGoString(bound), total))  # type: ignore[no-untyped-call]
            family.add_metric([value] if self.label else [], buckets, series.sum)
        yield family


class LoopCounter(Collector):
    """A labelled counter incremented on the event loop thread only (no lock)."""

    def __init__(self, name: str, doc: str, labels: tuple[str, ...]) -> None:
        self.name, self.doc, self.labels = name, doc, labels
        self.values: dict[tuple[str, ...], int] = {}

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(self.name, self.doc, labels=list(self.labels))
        for key, value in list(self.values.items()):
            family.add_metric(list(key), value)
        yield family


class Metrics:
    """Every crunch metric, in a registry of its own (so tests can run several apps)."""

    def __init__(self, task_names: Iterable[str] = ()) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        # Updated for every request or task: lock-free, event-loop-only collectors.
        self.requests = LoopCounter(
            "crunch_requests", "HTTP requests answered.", ("route", "method", "status")
        )
        self.request_duration = LoopHistogram(
            "crunch_request_duration_seconds",
            "Time to answer an HTTP request.",
            LATENCY_BUCKETS,
            label="route",
        )
        self.queue_wait = LoopHistogram(
            "crunch_queue_wait_seconds", "Time a task waited for a free worker.", LATENCY_BUCKETS
        )
        self.task_duration = LoopHistogram(
            "crunch_task_duration_seconds",
            "Time a task ran on its worker.",
            LATENCY_BUCKETS,
            label="task",
        )
        for collector in (
            self.requests,
            self.request_duration,
            self.queue_wait,
            self.task_duration,
        ):
            r.register(collector)
        self.rejected = Counter(
            "crunch_rejected", "Requests refused with 503 before running.", ["reason"], registry=r
        )
        self.restarts = Counter(
            "crunch_worker_restarts",
            "Worker processes replaced, by why.",
            ["reason"],
            registry=r,
        )
        self.loop_lag = Histogram(
            "crunch_event_loop_lag_seconds",
            "How late the event loop ran a timer: time it could not answer requests.",
            buckets=LAG_BUCKETS,
            registry=r,
        )
        self._admission: Admission | None = None
        r.register(_PoolCollector(lambda: self._admission))
        self._queue_series = self.queue_wait.child()
        for name in task_names:
            self.task_duration.child(name)
        for reason in ("queue_full", "queue_timeout", "draining", "spawn_busy"):
            self.rejected.labels(reason)
        for reason in ("crash", "timeout", "recycle"):
            self.restarts.labels(reason)

    def attach(self, admission: Admission) -> None:
        """Read the gauges (in-flight requests, the pool's state) from ``admission``."""
        self._admission = admission

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        counts = self.requests.values
        key = (route, method, str(status))
        counts[key] = counts.get(key, 0) + 1
        self.request_duration.observe(self.request_duration.child(route), seconds)

    # PoolObserver
    def task_finished(self, task: str, queue_s: float, run_s: float) -> None:
        self.queue_wait.observe(self._queue_series, queue_s)
        self.task_duration.observe(self.task_duration.child(task), run_s)

    def worker_restarted(self, reason: str) -> None:
        self.restarts.labels(reason).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
