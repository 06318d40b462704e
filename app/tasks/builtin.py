"""The built-in tasks. Pure functions: they run in worker processes, never on the event loop."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from app.tasks.registry import Param, task


def _spin_cost(params: Mapping[str, Any]) -> float:
    n = int(params["n"])
    return float(n * n)


@task(
    Param("n", int, minimum=0, maximum=lambda s: s.spin_limit, doc="loop runs n*n times"),
    cost=_spin_cost,
)
def spin(n: int) -> int:
    """The seed's work(n): a pure-Python loop of n*n iterations; answers the final counter."""
    i = 0
    limit = n * n
    while i < limit:
        i += 1
    return i


def _primes_cost(params: Mapping[str, Any]) -> float:
    return float(params["limit"])


@task(
    Param("limit", int, minimum=0, maximum=lambda s: s.primes_limit, doc="count primes below"),
    cost=_primes_cost,
)
def primes(limit: int) -> int:
    """Count the primes below limit (sieve of Eratosthenes)."""
    if limit < 3:
        return 0
    sieve = bytearray([1]) * limit
    sieve[0] = sieve[1] = 0
    for p in range(2, math.isqrt(limit - 1) + 1):
        if sieve[p]:
            sieve[p * p :: p] = bytes(len(range(p * p, limit, p)))
    return sum(sieve)


@task(cost=lambda params: 0.0)
def noop() -> None:
    """Return at once: measures what a round trip through the pool costs."""
    return
