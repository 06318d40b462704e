"""What the product contract fixes, for every test that checks it."""

from __future__ import annotations

#: The metric names the contract fixes, as exposed (counters with their ``_total``).
METRICS = (
    "crunch_requests_total",
    "crunch_request_duration_seconds",
    "crunch_inflight_requests",
    "crunch_pool_workers",
    "crunch_pool_busy_workers",
    "crunch_queue_depth",
    "crunch_queue_wait_seconds",
    "crunch_task_duration_seconds",
    "crunch_rejected_total",
    "crunch_worker_restarts_total",
    "crunch_event_loop_lag_seconds",
    "crunch_saturation",
)
