"""Open-loop HTTP load through the Ingress on 127.0.0.1: requests start on a fixed
schedule whether or not earlier ones have answered (so a slow cluster builds a
queue instead of slowing the client down), bounded in rate, count and time."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

MAX_RATE = 200.0  # requests per second
MAX_DURATION = 900.0  # seconds


@dataclass(frozen=True)
class Result:
    start: float  # seconds since the load started
    latency: float  # seconds
    status: int | None  # None: no HTTP answer (connection error or client timeout)
    error: str = ""
    retry_after: str | None = None
    body: str = ""

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def honest_503(self) -> bool:
        return self.status == 503 and self.retry_after is not None


@dataclass
class OpenLoopLoad:
    base_url: str
    path: str
    rate: float  # requests per second
    duration: float  # seconds; stop() may end it earlier
    timeout: float = 60.0
    results: list[Result] = field(default_factory=list)
    inflight: int = 0
    started_at: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        assert self.base_url.startswith(("http://127.", "http://localhost")), self.base_url
        assert 0 < self.rate <= MAX_RATE, self.rate
        assert 0 < self.duration <= MAX_DURATION, self.duration

    def start(self) -> OpenLoopLoad:
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self.started_at = time.monotonic()
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop sending; wait until every request sent has its answer (or timeout)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.timeout + 30)
            assert not self._thread.is_alive(), "load generator did not finish"

    def elapsed(self) -> float:
        return time.monotonic() - self.started_at

    async def _main(self) -> None:
        limits = httpx.Limits(max_connections=400, max_keepalive_connections=100)
        async with httpx.AsyncClient(
            base_url=self.base_url, timeout=self.timeout, limits=limits
        ) as client:
            tasks: set[asyncio.Task[None]] = set()
            total = int(self.rate * self.duration)
            t0 = time.monotonic()
            for i in range(total):
                if self._stop.is_set():
                    break
                delay = t0 + i / self.rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                task = asyncio.create_task(self._one(client, time.monotonic() - t0))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            if tasks:
                await asyncio.gather(*tasks)

    async def _one(self, client: httpx.AsyncClient, start: float) -> None:
        self.inflight += 1
        t = time.monotonic()
        try:
            r = await client.get(self.path)
            res = Result(
                start=start,
                latency=time.monotonic() - t,
                status=r.status_code,
                retry_after=r.headers.get("retry-after"),
                body=r.text[:300] if r.status_code != 200 else "",
            )
        except httpx.HTTPError as exc:
            res = Result(
                start=start,
                latency=time.monotonic() - t,
                status=None,
                error=f"{type(exc).__name__}: {exc}"[:300],
            )
        finally:
            self.inflight -= 1
        self.results.append(res)

    def summary(self) -> dict[str, Any]:
        by_status = Counter(
            str(r.status) if r.status is not None else "no-answer" for r in self.results
        )
        lat = sorted(r.latency for r in self.results if r.ok)
        return {
            "sent": len(self.results),
            "by_status": dict(by_status),
            "honest_503": sum(r.honest_503 for r in self.results),
            "p50_s": round(lat[len(lat) // 2], 3) if lat else None,
            "p99_s": round(lat[int(len(lat) * 0.99)], 3) if lat else None,
            "max_s": round(lat[-1], 3) if lat else None,
        }

    def failures(self, allow_honest_503: bool) -> list[Result]:
        return [r for r in self.results if not (r.ok or (allow_honest_503 and r.honest_503))]
