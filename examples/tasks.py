"""An example task module: run crunch with ``CRUNCH_TASK_MODULES=examples.tasks``.

A task is a plain, module-level function. ``@task`` declares its parameters (typed,
bounded: the server rejects anything else with 422 before a worker sees it) and,
optionally, a cost estimate in any unit that grows with the work. The pool learns
seconds per unit from real runs and uses it to let cheap tasks overtake dear ones.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from app.tasks import Binary, Param, task


def _rounds(params: Mapping[str, Any]) -> float:
    return float(params["rounds"])


@task(
    Param("data", str, max_length=256, doc="text to hash"),
    Param("rounds", int, default=1000, minimum=1, maximum=1_000_000),
    cost=_rounds,
)
def sha256_rounds(data: str, rounds: int) -> str:
    """Hash data with SHA-256, rounds times over (a key-stretching loop)."""
    digest = data.encode()
    for _ in range(rounds):
        digest = hashlib.sha256(digest).digest()
    return digest.hex()


@task(Param("n", int, minimum=0, maximum=5000), cost=lambda p: float(p["n"]))
def fib(n: int) -> str:
    """The n-th Fibonacci number, as a decimal string (it outgrows JSON numbers)."""
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return str(a)


@task(body=("application/octet-stream", "text/plain"), answers="application/octet-stream")
def reverse(body: memoryview) -> Binary:
    """The body's bytes in reverse order (bytes in, bytes out)."""
    return Binary(bytes(body)[::-1], "application/octet-stream")


@task(body=("application/octet-stream", "text/plain"))
def checksum(body: memoryview) -> str:
    """The SHA-256 of the body, hex (bytes in, JSON out)."""
    return hashlib.sha256(body).hexdigest()
