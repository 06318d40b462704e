"""Benchmark-only tasks, loaded with ``CRUNCH_TASK_MODULES=bench.tasks``.

``hold`` keeps a worker busy for a random time shaped like ``/hello``'s spin, but
asleep: the balancer sees exactly the same busy worker, while the time it takes does
not depend on how much CPU other processes on a shared machine leave over.
"""

from __future__ import annotations

import random
import time

from app.tasks import Param, task
from app.tasks.results import Binary


@task(
    Param("lo", int, default=300, minimum=0, maximum=20_000, doc="smallest n"),
    Param("hi", int, default=1500, minimum=0, maximum=20_000, doc="largest n"),
    Param("ms", float, default=35.0, minimum=0, maximum=1000, doc="milliseconds for n = 1000"),
)
def hold(lo: int, hi: int, ms: float) -> float:
    """Occupy the worker (asleep) for (n/1000)^2 * ms milliseconds, n uniform in [lo, hi]."""
    n = random.uniform(min(lo, hi), max(lo, hi))
    seconds = (n / 1000) ** 2 * ms / 1000
    time.sleep(seconds)
    return seconds


@task(body="application/octet-stream", answers="application/octet-stream", cost_class="small")
def mirror(body: bytes) -> Binary:
    """Answer the bytes it was given (S8: a large payload in and out through the pool)."""
    return Binary(body, "application/octet-stream")


def mirror_bytes(body: bytes) -> bytes:
    """The same for ``ProcessPoolExecutor`` (plain bytes both ways: its best case)."""
    return body
