"""An open-loop HTTP/1.1 load generator that does not hide queueing.

Requests are *scheduled* at a constant arrival rate (request ``i`` is due at
``t0 + i / rate``) and each latency is measured from that intended send time, not
from the moment a connection happened to be free. A slow server therefore shows
up as latency, instead of silently lowering the offered rate (the "coordinated
omission" that closed-loop tools suffer from). Latencies go into HDR histograms
(microseconds, 3 significant digits), one overall and one per status code.

The client is deliberately small: keep-alive connections (at most
``max_connections``, no pipelining) over asyncio protocols, responses parsed by
``httptools`` (the C parser uvicorn uses), bodies discarded. One process can offer
well over 5,000 requests/s; :func:`self_test` proves it against a trivial server
at the rate you intend to use, so a result can say the generator was not the
bottleneck.

Only loopback targets are accepted (``127.0.0.0/8``, ``localhost``), every run is
bounded in count (``max_requests``) and time (``duration`` + ``timeout``).

Library use::

    from bench.loadgen import open_loop

    result = await open_loop("http://127.0.0.1:8080/work/spin?n=1000", rate=40, duration=10)
    print(result.summary())            # JSON-ready dict: counts, percentiles, goodput
    result.percentile_ms(99, status=200)

Command line (prints the summary as JSON)::

    python -m bench.loadgen http://127.0.0.1:8080/healthz --rate 500 --duration 5
    python -m bench.loadgen --self-test --rate 5000 --duration 3
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import ipaddress
import json
import math
import os
import socket
import subprocess
import sys
import time
from array import array
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import urlsplit

import httptools
from hdrh.histogram import HdrHistogram

__all__ = [
    "Result",
    "Target",
    "closed_loop",
    "new_histogram",
    "open_loop",
    "request",
    "self_test",
    "trivial_server",
]

#: Histogram range: 1 µs .. 10 min, 3 significant digits (HdrHistogram's usual choice).
LOWEST_US = 1
HIGHEST_US = 600_000_000
DIGITS = 3

#: The clock of every timestamp here. Not ``loop.time()``: uvloop's ticks in whole
#: milliseconds and is cached per loop iteration, far too coarse for latencies.
clock = time.perf_counter

#: With ``precise=True``, how long before a due time the scheduler stops sleeping.
SPIN_S = 0.002

#: Distinct error messages kept per run (counts are always exact).
MAX_ERROR_KINDS = 20


def new_histogram() -> HdrHistogram:
    """An empty latency histogram in microseconds."""
    return HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS)


def _record(hist: HdrHistogram, seconds: float) -> None:
    hist.record_value(min(HIGHEST_US, max(LOWEST_US, round(seconds * 1e6))))


def digest(hist: HdrHistogram) -> dict[str, Any]:
    """A histogram as JSON: its count, percentiles and mean in ms, and itself, encoded."""
    if hist.get_total_count() == 0:
        return {"count": 0}
    return {
        "count": hist.get_total_count(),
        "p50": hist.get_value_at_percentile(50) / 1000.0,
        "p90": hist.get_value_at_percentile(90) / 1000.0,
        "p99": hist.get_value_at_percentile(99) / 1000.0,
        "p999": hist.get_value_at_percentile(99.9) / 1000.0,
        "max": hist.get_max_value() / 1000.0,
        "mean": hist.get_mean_value() / 1000.0,
        "hdr": encode(hist),
    }


# --------------------------------------------------------------------------- target


@dataclass(frozen=True)
class Target:
    """A parsed loopback URL and the request bytes sent to it (built once)."""

    host: str
    port: int
    path: str
    method: str
    payload: bytes

    @classmethod
    def parse(
        cls,
        url: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Target:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"only http:// URLs are supported, got {url!r}")
        host = parts.hostname
        if host != "localhost":
            try:
                loopback = ipaddress.ip_address(host).is_loopback
            except ValueError:
                loopback = False
            if not loopback:
                raise ValueError(f"load may only go to loopback addresses, got {host!r}")
        port = parts.port or 80
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        lines = [f"{method.upper()} {path} HTTP/1.1", f"Host: {host}:{port}"]
        extra = dict(headers or {})
        if body is not None:
            extra.setdefault("Content-Type", "application/json")
            lines.append(f"Content-Length: {len(body)}")
        lines += [f"{name}: {value}" for name, value in extra.items()]
        payload = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")
        return cls(host, port, path, method.upper(), payload)


# --------------------------------------------------------------------------- connection


@dataclass
class Response:
    status: int
    retry_after: bool
    keep_alive: bool
    body: bytes


class _Conn(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection; one request in flight at a time."""

    def __init__(self, keep_body: bool) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._keep_body = keep_body
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[Response] | None = None
        self._retry_after = False
        self._body: list[bytes] = []

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement the interface without subclassing it.
        self.transport = cast("asyncio.Transport", transport)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ConnectionError(f"bad response: {exc}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(ConnectionResetError("connection closed before the response"))

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._retry_after = False
        self._body = []

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"retry-after":
            self._retry_after = True

    def on_body(self, body: bytes) -> None:
        if self._keep_body:
            self._body.append(body)

    def on_message_complete(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(
                Response(
                    self._parser.get_status_code(),
                    self._retry_after,
                    self._parser.should_keep_alive(),
                    b"".join(self._body),
                )
            )

    # client side
    def _fail(self, exc: Exception) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def send(self, payload: bytes) -> asyncio.Future[Response]:
        assert self.transport is not None
        assert self._waiter is None
        waiter: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        if self.closed:
            waiter.set_exception(ConnectionResetError("connection already closed"))
            return waiter
        self._waiter = waiter
        self.transport.write(payload)
        return waiter

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class _Pool:
    """At most ``limit`` connections; callers beyond that wait in FIFO order."""

    def __init__(self, target: Target, limit: int, keep_body: bool) -> None:
        self._target = target
        self._limit = limit
        self._keep_body = keep_body
        self._idle: list[_Conn] = []
        self._total = 0
        # A waiter gets either a connection or ``None``: "a slot is yours, connect".
        self._waiters: collections.deque[asyncio.Future[_Conn | None]] = collections.deque()
        self.opened = 0

    async def acquire(self) -> _Conn:
        while self._idle and not self._waiters:
            conn = self._idle.pop()
            if not conn.closed:
                return conn
            self._total -= 1
        if self._total < self._limit and not self._waiters:
            self._total += 1
            return await self._connect()
        fut: asyncio.Future[_Conn | None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            got = await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                handed = fut.result()
                if handed is None:
                    self._total -= 1
                    self._wake_slot()
                else:
                    self.release(handed)
            raise
        if got is None:
            return await self._connect()
        return got

    async def _connect(self) -> _Conn:
        """Open a connection for a slot already counted in ``_total``."""
        loop = asyncio.get_running_loop()
        try:
            _, conn = await loop.create_connection(
                lambda: _Conn(self._keep_body), self._target.host, self._target.port
            )
        except BaseException:
            self._total -= 1
            self._wake_slot()
            raise
        sock = conn.transport.get_extra_info("socket") if conn.transport else None
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.opened += 1
        return conn

    def release(self, conn: _Conn) -> None:
        if conn.closed:
            self.discard(conn)
            return
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        self._idle.append(conn)

    def discard(self, conn: _Conn) -> None:
        conn.close()
        self._total -= 1
        self._wake_slot()

    def _wake_slot(self) -> None:
        while self._waiters and self._total < self._limit:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._total += 1
                waiter.set_result(None)
                return

    def close(self) -> None:
        for conn in self._idle:
            conn.close()
        self._idle.clear()


# --------------------------------------------------------------------------- result


@dataclass
class Result:
    """What one run saw. Times are seconds; histograms hold microseconds."""

    url: str
    method: str
    mode: str  # "open" (constant arrival rate) or "closed" (fixed concurrency)
    rate: float | None  # offered requests/s (open loop)
    duration: float  # planned sending time
    connections: int  # connection limit (open) or concurrency (closed)
    planned: int = 0
    sent: int = 0  # requests written to a connection
    responses: int = 0
    timeouts: int = 0
    errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)
    statuses: dict[int, int] = field(default_factory=dict)
    rejected_without_retry_after: int = 0  # 503 answers lacking Retry-After
    elapsed: float = 0.0  # first scheduled send .. last answer or timeout
    connections_opened: int = 0
    # Every answer, and every timeout at the timeout value (a lower bound), so the
    # percentiles of a server that stops answering do not look better than they are.
    latency: HdrHistogram = field(default_factory=new_histogram)
    by_status: dict[int, HdrHistogram] = field(default_factory=dict)
    send_lag: HdrHistogram = field(default_factory=new_histogram)  # intended → written
    service: HdrHistogram = field(default_factory=new_histogram)  # written → answered
    ok_times: array[float] = field(default_factory=lambda: array("d"))  # 2xx done, from t0

    # -- recording
    def _response(self, resp: Response, latency: float, done_at: float) -> None:
        self.responses += 1
        self.statuses[resp.status] = self.statuses.get(resp.status, 0) + 1
        _record(self.latency, latency)
        hist = self.by_status.get(resp.status)
        if hist is None:
            hist = self.by_status[resp.status] = new_histogram()
        _record(hist, latency)
        if 200 <= resp.status < 300:
            self.ok_times.append(done_at)
        elif resp.status == 503 and not resp.retry_after:
            self.rejected_without_retry_after += 1

    def _error(self, exc: BaseException) -> None:
        self.errors += 1
        kind = f"{type(exc).__name__}: {exc}"[:200]
        if kind in self.error_kinds or len(self.error_kinds) < MAX_ERROR_KINDS:
            self.error_kinds[kind] = self.error_kinds.get(kind, 0) + 1

    # -- reading
    def histogram(self, status: int | None = None) -> HdrHistogram:
        """Latencies of all answers, or of one status code (empty if none)."""
        if status is None:
            return self.latency
        return self.by_status.get(status) or new_histogram()

    def percentile_ms(self, q: float, status: int | None = None) -> float:
        """Latency percentile ``q`` (0..100) in milliseconds; NaN when nothing was recorded."""
        hist = self.histogram(status)
        if hist.get_total_count() == 0:
            return math.nan
        return float(hist.get_value_at_percentile(q)) / 1000.0

    @property
    def ok(self) -> int:
        return sum(n for code, n in self.statuses.items() if 200 <= code < 300)

    def goodput(self, start: float = 0.0, end: float | None = None) -> float:
        """2xx answers per second completed in ``[start, end)`` seconds after the first send.

        The default window is the sending period. Skip a warm-up with ``start``.
        """
        stop = self.duration if end is None else end
        if stop <= start:
            return 0.0
        done = sum(1 for t in self.ok_times if start <= t < stop)
        return done / (stop - start)

    def throughput(self) -> float:
        """Answers (any status) per second over the whole run."""
        return self.responses / self.elapsed if self.elapsed > 0 else 0.0

    def summary(self, warmup: float = 0.0) -> dict[str, Any]:
        """A JSON-ready digest: counts, percentiles (ms), rates, encoded histograms."""
        return {
            "url": self.url,
            "method": self.method,
            "mode": self.mode,
            "rate": self.rate,
            "duration": self.duration,
            "connections": self.connections,
            "planned": self.planned,
            "sent": self.sent,
            "responses": self.responses,
            "ok": self.ok,
            "timeouts": self.timeouts,
            "errors": self.errors,
            "error_kinds": dict(self.error_kinds),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "rejected_without_retry_after": self.rejected_without_retry_after,
            "elapsed": self.elapsed,
            "connections_opened": self.connections_opened,
            "goodput": self.goodput(warmup),
            "throughput": self.throughput(),
            "latency_ms": digest(self.latency),
            "latency_ms_by_status": {str(k): digest(h) for k, h in sorted(self.by_status.items())},
            "send_lag_ms": digest(self.send_lag),
            "service_ms": digest(self.service),
        }


def encode(hist: HdrHistogram) -> str:
    """The histogram in HdrHistogram's portable compressed base64 form."""
    raw = hist.encode()
    return raw.decode("ascii") if isinstance(raw, bytes) else str(raw)


def decode(text: str) -> HdrHistogram:
    """Inverse of :func:`encode`."""
    return HdrHistogram.decode(text.encode("ascii"))


def cdf(hist: HdrHistogram, ticks_per_half: int = 5) -> list[tuple[float, float]]:
    """(latency ms, percentile) points for plotting, dense in the tail."""
    if hist.get_total_count() == 0:
        return []
    return [
        (item.value_iterated_to / 1000.0, float(item.percentile))
        for item in hist.get_percentile_iterator(ticks_per_half)
    ]


# --------------------------------------------------------------------------- runs


async def _one(
    pool: _Pool,
    target: Target,
    result: Result,
    intended: float,
    t0: float,
    timeout: float,
) -> None:
    conn: _Conn | None = None
    try:
        async with asyncio.timeout(intended + timeout - clock()):
            conn = await pool.acquire()
            written = clock()
            _record(result.send_lag, written - intended)
            result.sent += 1
            resp = await conn.send(target.payload)
    except TimeoutError:
        result.timeouts += 1
        _record(result.latency, timeout)  # a lower bound: it took at least this long
        if conn is not None:
            pool.discard(conn)
        return
    except (OSError, ConnectionError) as exc:
        result._error(exc)
        if conn is not None:
            pool.discard(conn)
        return
    done = clock()
    _record(result.service, done - written)
    result._response(resp, done - intended, done - t0)
    if resp.keep_alive:
        pool.release(conn)
    else:
        pool.discard(conn)


async def open_loop(
    url: str,
    rate: float,
    duration: float,
    *,
    method: str = "GET",
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    max_requests: int | None = None,
    timeout: float = 10.0,
    max_connections: int = 256,
    start_delay: float = 0.02,
    precise: bool = False,
) -> Result:
    """Offer ``rate`` requests/s for ``duration`` s; wait for every answer (or its timeout).

    Each request is due at ``t0 + i / rate``; its latency runs from that due time to
    the last byte of the answer, so time spent waiting for a free connection (or a
    late generator) counts. ``timeout`` is measured from the due time as well. At
    most ``max_connections`` are open; ``max_requests`` caps the count.

    Event-loop timers tick in milliseconds, so sends are normally up to ~1 ms late
    (see ``Result.send_lag``; it counts as latency). ``precise=True`` spins through
    the loop for the last ``SPIN_S`` before each send instead of sleeping: sub-ms send
    times for low-rate probes, at the cost of a busy generator (keep rates low).
    """
    if rate <= 0 or duration <= 0:
        raise ValueError("rate and duration must be positive")
    target = Target.parse(url, method, body, headers)
    planned = int(rate * duration)
    if max_requests is not None:
        planned = min(planned, max_requests)
    result = Result(url, target.method, "open", rate, duration, max_connections, planned=planned)
    pool = _Pool(target, max_connections, keep_body=False)
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[None]] = set()
    t0 = clock() + start_delay
    interval = 1.0 / rate
    i = 0
    try:
        while i < planned:
            now = clock()
            while i < planned and t0 + i * interval <= now:
                task = loop.create_task(_one(pool, target, result, t0 + i * interval, t0, timeout))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                i += 1
            if i < planned:
                wait = t0 + i * interval - clock()
                if precise and wait < SPIN_S:
                    await asyncio.sleep(0)  # spin through the loop: sub-ms send times
                else:
                    await asyncio.sleep(max(0.0, wait - (SPIN_S if precise else 0.0)))
        if tasks:
            await asyncio.wait(set(tasks))
    finally:
        for task in tasks:
            task.cancel()
        pool.close()
    result.elapsed = clock() - t0
    result.connections_opened = pool.opened
    return result


async def closed_loop(
    url: str,
    concurrency: int,
    duration: float,
    *,
    method: str = "GET",
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    max_requests: int = 10_000_000,
    timeout: float = 10.0,
) -> Result:
    """``concurrency`` clients each send the next request as soon as the last answers.

    This measures the most a server can answer (requests/s), like ``wrk``; its
    latencies hide queueing, so use :func:`open_loop` for latency claims.
    """
    target = Target.parse(url, method, body, headers)
    result = Result(url, target.method, "closed", None, duration, concurrency)
    pool = _Pool(target, concurrency, keep_body=False)
    t0 = clock()
    deadline = t0 + duration
    budget = [max_requests]

    async def client() -> None:
        while budget[0] > 0 and clock() < deadline:
            budget[0] -= 1
            await _one(pool, target, result, clock(), t0, timeout)

    try:
        await asyncio.gather(*(client() for _ in range(concurrency)))
    finally:
        pool.close()
    result.planned = result.sent
    result.elapsed = clock() - t0
    result.connections_opened = pool.opened
    return result


async def request(
    url: str,
    method: str = "GET",
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> tuple[int, bytes]:
    """One request on a fresh connection: ``(status, body)``. For probes and batches."""
    target = Target.parse(url, method, body, headers)
    pool = _Pool(target, 1, keep_body=True)
    async with asyncio.timeout(timeout):
        conn = await pool.acquire()
        try:
            resp = await conn.send(target.payload)
        finally:
            conn.close()
    return resp.status, resp.body


# --------------------------------------------------------------------------- self-test


TRIVIAL_SERVER = r"""
import asyncio, sys
RESP = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"
class P(asyncio.Protocol):
    def connection_made(self, t): self.t = t; self.buf = b""
    def data_received(self, d):
        self.buf += d
        n = self.buf.count(b"\r\n\r\n")
        if n:
            self.buf = self.buf[self.buf.rfind(b"\r\n\r\n") + 4:]
            self.t.write(RESP * n)
async def main():
    loop = asyncio.get_running_loop()
    srv = await loop.create_server(P, "127.0.0.1", 0)
    print(srv.sockets[0].getsockname()[1], flush=True)
    await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes stdin
try:
    import uvloop; uvloop.run(main())
except ImportError:
    asyncio.run(main())
"""


@contextlib.contextmanager
def trivial_server() -> Iterator[str]:
    """A minimal HTTP server in a child process (fixed 200 "ok"); yields its URL.

    It answers in a few microseconds, so whatever latency a run against it shows is
    the generator's own. The child exits when the ``with`` block ends.
    """
    proc = subprocess.Popen(
        [sys.executable, "-c", TRIVIAL_SERVER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        yield f"http://127.0.0.1:{port}/"
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


@dataclass
class SelfTest:
    """The generator against :func:`trivial_server` at one rate (or concurrency)."""

    result: Result
    ok: bool
    reason: str

    def summary(self) -> dict[str, Any]:
        return {**self.result.summary(), "passed": self.ok, "reason": self.reason}


def judge(result: Result, max_p99_ms: float = 5.0) -> tuple[bool, str]:
    """Was the generator keeping up? Everything sent, answered, and p99 under ``max_p99_ms``."""
    problems = []
    if result.timeouts or result.errors:
        problems.append(f"{result.timeouts} timeouts, {result.errors} errors")
    if result.mode == "open" and result.sent < result.planned:
        problems.append(f"sent {result.sent} of {result.planned}")
    p99 = result.percentile_ms(99)
    if not p99 <= max_p99_ms:
        problems.append(f"p99 {p99:.2f} ms > {max_p99_ms} ms")
    return (not problems, "; ".join(problems) or f"p99 {p99:.2f} ms, all answered")


async def self_test(
    rate: float | None = None,
    duration: float = 2.0,
    *,
    concurrency: int | None = None,
    max_p99_ms: float = 5.0,
) -> SelfTest:
    """Run the generator against a trivial server: open loop at ``rate``, or closed loop.

    ``ok`` is true when every request was sent on time and answered with p99 below
    ``max_p99_ms`` (open loop), i.e. the generator itself was not the bottleneck.
    """
    with trivial_server() as url:
        if concurrency is not None:
            result = await closed_loop(url, concurrency, duration)
            return SelfTest(result, result.errors == 0 and result.timeouts == 0, "closed loop")
        if rate is None:
            raise ValueError("give rate (open loop) or concurrency (closed loop)")
        await asyncio.sleep(0.05)
        result = await open_loop(url, rate, duration)
    ok, reason = judge(result, max_p99_ms)
    return SelfTest(result, ok, reason)


# --------------------------------------------------------------------------- CLI


def _run(coro: Any) -> Any:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a runtime dependency on Linux
        return asyncio.run(coro)
    return uvloop.run(coro)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen", description=__doc__)
    parser.add_argument("url", nargs="?", help="http://127.0.0.1:PORT/path")
    parser.add_argument("--rate", type=float, help="requests/s (open loop)")
    parser.add_argument("--concurrency", type=int, help="clients (closed loop)")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--method", default="GET")
    parser.add_argument("--body", help="request body (JSON text)")
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--max-connections", type=int, default=256)
    parser.add_argument("--max-requests", type=int)
    parser.add_argument("--self-test", action="store_true", help="against a trivial server")
    parser.add_argument("--hdr", action="store_true", help="keep encoded histograms in output")
    parser.add_argument(
        "--precise", action="store_true", help="sub-ms send times (open loop, low rates)"
    )
    args = parser.parse_args(argv)
    body = args.body.encode() if args.body else None

    if args.self_test:
        test: SelfTest = _run(self_test(args.rate, args.duration, concurrency=args.concurrency))
        out = test.summary()
    elif not args.url or (args.rate is None) == (args.concurrency is None):
        parser.error("give a URL and exactly one of --rate or --concurrency")
    elif args.rate is not None:
        res: Result = _run(
            open_loop(
                args.url,
                args.rate,
                args.duration,
                method=args.method,
                body=body,
                timeout=args.timeout,
                max_connections=args.max_connections,
                max_requests=args.max_requests,
                precise=args.precise,
            )
        )
        out = res.summary()
    else:
        res = _run(
            closed_loop(
                args.url,
                args.concurrency,
                args.duration,
                method=args.method,
                body=body,
                timeout=args.timeout,
            )
        )
        out = res.summary()
    if not args.hdr:
        _strip_hdr(out)
    json.dump(out, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


def _strip_hdr(obj: Any) -> None:
    if isinstance(obj, dict):
        obj.pop("hdr", None)
        for value in obj.values():
            _strip_hdr(value)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
