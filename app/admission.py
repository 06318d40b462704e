"""Admission: decide at once whether a task may enter the pool, and count refusals.

Refusing fast (503 + Retry-After) when the queue is full keeps latency bounded and
tells clients and balancers when to come back; during a drain every new task is
refused so in-flight work can finish.
"""

from __future__ import annotations

from typing import Any

from app.errors import BatchTooLarge, Draining, Overloaded, QueueTimeout
from app.metrics import Metrics
from app.pool import Pool, TaskResult

DRAIN_RETRY_AFTER_S = 1.0


class Admission:
    def __init__(self, pool: Pool, metrics: Metrics) -> None:
        self.pool = pool
        self.metrics = metrics
        self.draining = False

    def begin_drain(self) -> None:
        self.draining = True

    def check(self, tasks: int = 1) -> None:
        """Refuse now if ``tasks`` new tasks cannot all start or queue."""
        if self.draining:
            self.metrics.rejected.labels("draining").inc()
            raise Draining(
                "this pod is shutting down; retry on another", retry_after=DRAIN_RETRY_AFTER_S
            )
        pool = self.pool
        if tasks > pool.size + pool.queue_limit:
            # Not even an idle pod could take it: a Retry-After would promise in vain.
            raise BatchTooLarge(
                f"{tasks} tasks can never fit: {pool.size} workers + {pool.queue_limit} "
                "queue places"
            )
        room = max(0, pool.size - pool.busy) + pool.queue_limit - pool.queued
        if tasks > room:
            self.metrics.rejected.labels("queue_full").inc()
            raise Overloaded(
                f"{tasks} task(s) do not fit: {pool.busy} of {pool.size} workers busy, "
                f"{pool.queued} of {pool.queue_limit} queue places taken",
                retry_after=pool.retry_after(),
            )

    async def run(self, task: str, params: dict[str, Any]) -> TaskResult:
        if self.draining:
            self.check()
        try:
            return await self.pool.submit(task, params)
        except Overloaded:
            self.metrics.rejected.labels("queue_full").inc()
            raise
        except QueueTimeout:
            self.metrics.rejected.labels("queue_timeout").inc()
            raise
