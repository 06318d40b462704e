"""Admission: the one owner of a pod's lifecycle and of every refusal.

A pod is starting, then ready, then draining (after the first SIGTERM), then closed.
The HTTP requests in flight are counted here (by the request middleware), so a drain
knows when it is done. Every request that would start work asks here first: refusing
fast (503 + Retry-After) when the pool has no room keeps latency bounded and tells
clients and balancers when to come back; during a drain every new task is refused so
in-flight work can finish. Each refusal is counted here, by reason, and nowhere else.
"""

from __future__ import annotations

import asyncio
import enum
from typing import TYPE_CHECKING, Any

from app.errors import BatchTooLarge, Draining, Overloaded, QueueTimeout
from app.metrics import Metrics
from app.pool import Pool, TaskResult
from app.pool.pool import overloaded
from app.pool.pool import room as pool_room

if TYPE_CHECKING:
    from app.spawn import Lease, Spawner


class Phase(enum.Enum):
    STARTING = "starting"
    READY = "ready"
    DRAINING = "draining"
    CLOSED = "closed"


class Admission:
    def __init__(self, pool: Pool, metrics: Metrics) -> None:
        self.pool = pool
        self.metrics = metrics
        self.phase = Phase.STARTING
        # HTTP requests being served (crunch_inflight_requests). The request middleware
        # adds and subtracts one per request: a plain int, as it costs nothing per request.
        self.inflight = 0

    # -- the lifecycle -------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self.phase is Phase.READY

    @property
    def draining(self) -> bool:
        """Refusing every new task: draining or closed."""
        return self.phase in (Phase.DRAINING, Phase.CLOSED)

    def open(self) -> None:
        """The pool has started: admit work (unless a drain began meanwhile)."""
        if self.phase is Phase.STARTING:
            self.phase = Phase.READY

    def begin_drain(self) -> None:
        if self.phase is not Phase.CLOSED:
            self.phase = Phase.DRAINING

    def close(self) -> None:
        self.phase = Phase.CLOSED

    def abort(self) -> None:
        """Stop now: fail every queued and running task as ``draining``."""
        self.close()
        self.pool.abort(Draining("the server was stopped before the task finished"))

    @property
    def idle(self) -> bool:
        """No request in flight and no task running or queued: a drain is done."""
        pool = self.pool
        return not (self.inflight or pool.busy or pool.queued)

    async def drained(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for what is in flight to finish."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while loop.time() < end and not self.idle:
            await asyncio.sleep(0.02)
        return not (self.inflight or self.pool.busy)

    # -- admitting -----------------------------------------------------------------

    def room(self) -> int:
        """New tasks that could start or queue now (the backpressure gate reads it)."""
        return pool_room(self.pool)

    def check(self, tasks: int = 1) -> None:
        """Refuse now if ``tasks`` new tasks cannot all start or queue."""
        if self.draining:
            self._count("draining")
            raise Draining("this pod is shutting down; retry on another")
        pool = self.pool
        if tasks > pool.size + pool.queue_limit:
            # Not even an idle pod could take it: a Retry-After would promise in vain.
            raise BatchTooLarge(
                f"{tasks} tasks can never fit: {pool.size} workers + {pool.queue_limit} "
                "queue places"
            )
        if tasks > self.room():
            self._count("queue_full")
            raise overloaded(pool, tasks)

    async def run(self, task: str, params: dict[str, Any]) -> TaskResult:
        if self.draining:
            self.check()
        try:
            return await self.pool.submit(task, params)
        except Overloaded:
            self._count("queue_full")
            raise
        except QueueTimeout:
            self._count("queue_timeout")
            raise

    def reserve(self, spawner: Spawner) -> Lease:
        """A place for one program, or the refusal (draining, or all places taken)."""
        if self.draining:
            self.check()
        try:
            return spawner.reserve()
        except Overloaded:
            self._count("spawn_busy")
            raise

    def _count(self, reason: str) -> None:
        self.metrics.rejected.labels(reason).inc()
