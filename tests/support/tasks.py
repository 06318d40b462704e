"""Tasks that misbehave on purpose, loaded through CRUNCH_TASK_MODULES like a user's module."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Mapping
from typing import Any

from app.tasks import Binary, Param, Rejected, task


def _seconds(params: Mapping[str, Any]) -> float:
    return float(params["seconds"])


@task(Param("seconds", float, minimum=0, maximum=30), cost=_seconds)
def nap(seconds: float) -> float:
    """Sleep, then answer the monotonic clock (system-wide: comparable across processes)."""
    time.sleep(seconds)
    return time.monotonic()


@task(Param("how", str, max_length=10))
def crash(how: str) -> None:
    """Break the worker: exit, segfault or run out of memory."""
    if how == "exit":
        os._exit(13)
    if how == "segv":
        os.kill(os.getpid(), signal.SIGSEGV)
        time.sleep(5)
    if how == "memory":
        raise MemoryError
    raise ValueError(f"unknown way to crash: {how}")


@task()
def fail() -> None:
    """Raise an ordinary exception: the worker survives it."""
    raise RuntimeError("this task always fails")


@task()
def whoami() -> dict[str, int]:
    """The worker's pid and niceness."""
    return {"pid": os.getpid(), "nice": os.nice(0)}


@task(Param("seconds", float, minimum=0, maximum=30), timeout=0.5, cost_class="large")
def short_nap(seconds: float) -> float:
    """Sleep, under a deadline of its own (0.5 s) whatever the pod's default."""
    time.sleep(seconds)
    return seconds


@task(
    Param("times", int, default=1, minimum=1, maximum=4),
    body=("text/plain", "image/*"),
    answers="application/octet-stream",
)
def repeat(body: memoryview, times: int) -> Binary:
    """Answer the body it was given, times over, as bytes."""
    return Binary(bytes(body) * times, "application/octet-stream")


@task(Param("why", str, max_length=40))
def refuse(why: str) -> None:
    """Reject its input, as a task does with data it cannot use."""
    raise Rejected(why)
