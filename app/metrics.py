"""Prometheus metrics, recorded in the server process (one process per pod).

Counters and histograms are updated as things happen, with label children looked up
once and cached. Gauges that describe the pool (busy workers, queue depth,
saturation) are read from the pool when Prometheus scrapes, so they cost nothing
per task. Labels are bounded: routes are templates, tasks come from the registry,
reasons from fixed sets.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from app.pool import Pool

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]

# The *_created series double the exposition for nothing the dashboards use.
disable_created_metrics()  # type: ignore[no-untyped-call]

LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip
LAG_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


class _PoolCollector(Collector):
    def __init__(self, pool: Callable[[], Pool | None], inflight: Callable[[], int]) -> None:
        self._pool = pool
        self._inflight = inflight

    def collect(self) -> Iterator[Metric]:
        pool = self._pool()
        size = pool.size if pool else 0
        busy = pool.busy if pool else 0
        queued = pool.queued if pool else 0
        yield GaugeMetricFamily(
            "crunch_inflight_requests", "HTTP requests being served.", value=self._inflight()
        )
        yield GaugeMetricFamily("crunch_pool_workers", "Worker processes in the pool.", value=size)
        yield GaugeMetricFamily("crunch_pool_busy_workers", "Workers running a task.", value=busy)
        yield GaugeMetricFamily(
            "crunch_queue_depth", "Tasks waiting for a free worker.", value=queued
        )
        yield GaugeMetricFamily(
            "crunch_saturation",
            "(busy workers + queued tasks) / workers: the autoscaling signal.",
            value=(busy + queued) / size if size else 0.0,
        )


class Metrics:
    """Every crunch metric, in a registry of its own (so tests can run several apps)."""

    def __init__(self, task_names: Iterable[str] = ()) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "crunch_requests", "HTTP requests answered.", ["route", "method", "status"], registry=r
        )
        self.request_duration = Histogram(
            "crunch_request_duration_seconds",
            "Time to answer an HTTP request.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_wait = Histogram(
            "crunch_queue_wait_seconds",
            "Time a task waited for a free worker.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.task_duration = Histogram(
            "crunch_task_duration_seconds",
            "Time a task ran on its worker.",
            ["task"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
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
        self.inflight = 0
        self._pool: Pool | None = None
        r.register(_PoolCollector(lambda: self._pool, lambda: self.inflight))
        # Label children are looked up once: .labels() per request is measurable.
        self._task_children = {name: self.task_duration.labels(name) for name in task_names}
        self._request_children: dict[tuple[str, str, int], Counter] = {}
        self._duration_children: dict[str, Histogram] = {}
        for reason in ("queue_full", "queue_timeout", "draining", "spawn_busy"):
            self.rejected.labels(reason)
        for reason in ("crash", "timeout", "recycle"):
            self.restarts.labels(reason)

    def attach(self, pool: Pool) -> None:
        self._pool = pool

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        child = self._request_children.get(key)
        if child is None:
            child = self._request_children[key] = self.requests.labels(route, method, str(status))
        child.inc()
        hist = self._duration_children.get(route)
        if hist is None:
            hist = self._duration_children[route] = self.request_duration.labels(route)
        hist.observe(seconds)

    # PoolObserver
    def task_finished(self, task: str, queue_s: float, run_s: float) -> None:
        self.queue_wait.observe(queue_s)
        child = self._task_children.get(task)
        if child is None:
            child = self._task_children[task] = self.task_duration.labels(task)
        child.observe(run_s)

    def worker_restarted(self, reason: str) -> None:
        self.restarts.labels(reason).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
