"""Event-loop lag: how late a periodic timer fires is how long requests could not be served."""

from __future__ import annotations

import asyncio

from prometheus_client import Histogram


async def monitor_lag(histogram: Histogram, interval: float = 0.1) -> None:
    loop = asyncio.get_running_loop()
    while True:
        start = loop.time()
        await asyncio.sleep(interval)
        histogram.observe(max(0.0, loop.time() - start - interval))
