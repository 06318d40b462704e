"""Metrics: the names the contract fixes, bounded labels, gauges read from admission."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.admission import Admission
from app.metrics import Metrics
from tests.support import contract

if TYPE_CHECKING:
    from app.pool import Pool


@dataclass
class FakePool:
    size: int
    busy: int
    queued: int

    @property
    def saturation(self) -> float:
        return (self.busy + self.queued) / self.size


def value(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def types(metrics: Metrics) -> dict[str, str]:
    """Exposed name → type, as a Prometheus scraper reads them."""
    out = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        name = family.name + "_total" if family.type == "counter" else family.name
        out[name] = family.type
    return out


@pytest.mark.parametrize("name", contract.METRICS)
def test_render_exposes_every_contract_metric(name: str) -> None:
    assert f"# TYPE {name} " in Metrics().render().decode()


def test_exposition_parses_with_the_expected_types() -> None:
    assert types(Metrics(["spin"])) == {
        "crunch_requests_total": "counter",
        "crunch_request_duration_seconds": "histogram",
        "crunch_inflight_requests": "gauge",
        "crunch_pool_workers": "gauge",
        "crunch_pool_busy_workers": "gauge",
        "crunch_queue_depth": "gauge",
        "crunch_queue_wait_seconds": "histogram",
        "crunch_task_duration_seconds": "histogram",
        "crunch_rejected_total": "counter",
        "crunch_worker_restarts_total": "counter",
        "crunch_event_loop_lag_seconds": "histogram",
        "crunch_saturation": "gauge",
    }


def test_no_created_series_are_exposed() -> None:
    assert "_created" not in Metrics(["spin"]).render().decode()


def test_observe_request_increments_the_counter() -> None:
    metrics = Metrics()
    metrics.observe_request("/hello", "GET", 200, 0.01)
    metrics.observe_request("/hello", "GET", 200, 0.02)
    assert value(metrics, "crunch_requests_total", route="/hello", method="GET", status="200") == 2


def test_observe_request_keeps_statuses_apart() -> None:
    metrics = Metrics()
    metrics.observe_request("/hello", "GET", 200, 0.01)
    metrics.observe_request("/hello", "GET", 503, 0.01)
    assert value(metrics, "crunch_requests_total", route="/hello", method="GET", status="503") == 1


def test_observe_request_records_the_duration_by_route() -> None:
    metrics = Metrics()
    metrics.observe_request("/hello", "GET", 200, 0.25)
    metrics.observe_request("/hello", "POST", 200, 0.5)
    assert value(metrics, "crunch_request_duration_seconds_count", route="/hello") == 2
    assert value(metrics, "crunch_request_duration_seconds_sum", route="/hello") == 0.75


def test_task_finished_records_queue_wait_and_run_time() -> None:
    metrics = Metrics(["spin"])
    metrics.task_finished("spin", 0.1, 0.2)
    assert value(metrics, "crunch_queue_wait_seconds_count") == 1
    assert value(metrics, "crunch_task_duration_seconds_sum", task="spin") == 0.2


def test_task_finished_accepts_a_task_not_known_at_start() -> None:
    metrics = Metrics()
    metrics.task_finished("late", 0.0, 0.5)
    assert value(metrics, "crunch_task_duration_seconds_count", task="late") == 1


def test_known_tasks_are_exposed_before_their_first_run() -> None:
    metrics = Metrics(["spin", "noop"])
    assert value(metrics, "crunch_task_duration_seconds_count", task="noop") == 0


@pytest.mark.parametrize("reason", ["queue_full", "queue_timeout", "draining", "spawn_busy"])
def test_rejection_reasons_start_at_zero(reason: str) -> None:
    assert value(Metrics(), "crunch_rejected_total", reason=reason) == 0


@pytest.mark.parametrize("reason", ["crash", "timeout", "recycle"])
def test_worker_restarted_counts_its_reason(reason: str) -> None:
    metrics = Metrics()
    metrics.worker_restarted(reason)
    assert value(metrics, "crunch_worker_restarts_total", reason=reason) == 1


def test_without_a_pool_the_pool_gauges_are_zero() -> None:
    metrics = Metrics()
    for name in ("crunch_pool_workers", "crunch_pool_busy_workers", "crunch_saturation"):
        assert value(metrics, name) == 0


def test_pool_gauges_are_read_from_the_attached_pool() -> None:
    metrics = Metrics()
    metrics.attach(Admission(cast("Pool", FakePool(size=4, busy=3, queued=5)), metrics))
    assert (
        value(metrics, "crunch_pool_workers"),
        value(metrics, "crunch_pool_busy_workers"),
        value(metrics, "crunch_queue_depth"),
    ) == (4, 3, 5)


def test_saturation_is_busy_plus_queued_over_workers() -> None:
    metrics = Metrics()
    metrics.attach(Admission(cast("Pool", FakePool(size=4, busy=4, queued=2)), metrics))
    assert value(metrics, "crunch_saturation") == 1.5


def test_inflight_gauge_reads_the_count_admission_keeps() -> None:
    metrics = Metrics()
    admission = Admission(cast("Pool", FakePool(size=1, busy=0, queued=0)), metrics)
    metrics.attach(admission)
    admission.inflight = 3
    assert value(metrics, "crunch_inflight_requests") == 3


def test_two_metrics_objects_do_not_share_samples() -> None:
    first, second = Metrics(), Metrics()
    first.observe_request("/", "GET", 200, 0.0)
    assert value(second, "crunch_requests_total", route="/", method="GET", status="200") is None


def test_loop_histogram_buckets_are_cumulative_and_inclusive() -> None:
    from prometheus_client import CollectorRegistry

    from app.metrics import LoopHistogram

    hist = LoopHistogram("t_seconds", "test", (0.1, 1.0), label="k")
    registry = CollectorRegistry()
    registry.register(hist)
    for v in (0.05, 0.1, 0.5, 2.0):
        hist.observe(hist.child("a"), v)
    get = registry.get_sample_value
    assert get("t_seconds_bucket", {"k": "a", "le": "0.1"}) == 2  # le is inclusive
    assert get("t_seconds_bucket", {"k": "a", "le": "1.0"}) == 3
    assert get("t_seconds_bucket", {"k": "a", "le": "+Inf"}) == 4
    assert get("t_seconds_count", {"k": "a"}) == 4
    assert get("t_seconds_sum", {"k": "a"}) == 2.65
