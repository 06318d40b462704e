"""Backpressure before parsing: while the pool has no room, hold requests unread.

A refusal (503 + Retry-After) is cheap, but not free: the event loop still reads,
parses, routes and answers every request. Clients that ignore Retry-After and retry at
once turn that into a loop: the faster crunch refuses, the faster they come back, and
the loop spends a whole CPU refusing while the workers (which share the CPUs) starve.
The more clients retry, the less work gets done.

So refusals get a budget (``reject_rate`` per second, a token bucket). While the pool
has no room and the budget is spent, a request that arrives on a connection is not
parsed: the connection stops being read (``pause_reading``), its bytes wait, and the
kernel's buffers push back on the client. A held connection is read again, oldest
first, as soon as the pool has room for it, or after ``hold_timeout`` seconds, when it
is parsed and refused as usual. Holding costs the loop nothing per retry. While any
request is held, new ones queue behind it (first come, first served), so in a lasting
flood the budget is not spent at all: the loop refuses about one request per held
connection per ``hold_timeout``, however fast the clients retry. The budget itself is
for short bursts and for ordinary overload (clients that do wait), which it leaves as
it was: every refusal at once.

Probes and scrapes (``/healthz``, ``/readyz``, ``/metrics``) are never held, nor is any
request during a drain (it is refused at once so clients go elsewhere), nor the rest of
a request whose head was already read.
"""

from __future__ import annotations

import asyncio
import collections
import time
from typing import TYPE_CHECKING, Any, Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

if TYPE_CHECKING:
    from collections.abc import Iterator

    from prometheus_client.metrics_core import Metric


#: Requests that are answered at once whatever the pool's state: liveness, readiness and
#: metrics must tell the truth about a saturated pod, not wait behind its clients.
NEVER_HELD = (
    b"GET /healthz",
    b"GET /readyz",
    b"GET /metrics",
    b"HEAD /healthz",
    b"HEAD /readyz",
)

#: How often held connections are checked against the pool's room while any are held.
TICK_S = 0.005


class Room(Protocol):
    """What the gate needs to know of admission (``app.admission.Admission``)."""

    def room(self) -> int: ...

    @property
    def draining(self) -> bool: ...


class Held(Protocol):
    """A connection the gate holds."""

    def release(self) -> None: ...


class Gate:
    """Decides which requests are read now, holds the others, and lets them go in order."""

    def __init__(
        self, room: Room, reject_rate: float, hold_timeout: float, tick: float = TICK_S
    ) -> None:
        self._room = room
        self.reject_rate = reject_rate
        self.hold_timeout = hold_timeout
        self._tick = tick
        # A bucket of refusals: ``reject_rate`` per second, at most one second's worth.
        self._tokens = reject_rate
        self._refilled = time.monotonic()
        self._held: collections.OrderedDict[Held, float] = collections.OrderedDict()
        self._timer: asyncio.TimerHandle | None = None
        self.held_total = 0

    @property
    def enabled(self) -> bool:
        return self.reject_rate > 0

    @property
    def holding(self) -> int:
        return len(self._held)

    def should_hold(self, head: bytes) -> bool:
        """Hold the request that starts with ``head``? (Takes a refusal token if not.)"""
        if not self.enabled or head.startswith(NEVER_HELD):
            return False
        room = self._room
        if room.draining:
            return False
        free = room.room()
        if free > len(self._held):
            return False  # a place for it, and for everyone held before it
        if self._held:
            return True  # those held first go first
        now = time.monotonic()
        self._tokens = min(
            self.reject_rate, self._tokens + (now - self._refilled) * self.reject_rate
        )
        self._refilled = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return False  # within the budget: read it; it is refused at once
        return True

    def hold(self, conn: Held) -> None:
        self._held[conn] = time.monotonic() + self.hold_timeout
        self.held_total += 1
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._tick, self._check)

    def forget(self, conn: Held) -> None:
        self._held.pop(conn, None)

    def _check(self) -> None:
        self._timer = None
        if not self._held:
            return
        room = self._room
        free = len(self._held) if room.draining else room.room()
        now = time.monotonic()
        released: list[Held] = []
        for conn, until in self._held.items():
            if free > 0:
                free -= 1
            elif until > now:
                break  # held in order of arrival: the rest expire later
            released.append(conn)
        for conn in released:
            del self._held[conn]
        for conn in released:
            conn.release()
        if self._held:
            self._timer = asyncio.get_running_loop().call_later(self._tick, self._check)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        held, self._held = list(self._held), collections.OrderedDict()
        for conn in held:
            conn.release()


class HeldCollector(Collector):
    """``crunch_held_requests`` (held now) and ``crunch_held_total`` (held so far)."""

    def __init__(self, gate: Gate) -> None:
        self._gate = gate

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "crunch_held_requests",
            "Requests held unread while the pool is full and refusals are over budget.",
            value=self._gate.holding,
        )
        yield CounterMetricFamily(
            "crunch_held",
            "Requests held unread before being read (then served or refused).",
            value=self._gate.held_total,
        )


class GatedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a gate in front of the parser."""

    gate: Gate

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._held_data: list[bytes] | None = None

    def data_received(self, data: bytes) -> None:
        if self._held_data is not None:
            self._held_data.append(data)  # arrived before the pause took effect
            return
        between_requests = self.cycle is None or self.cycle.response_complete
        if between_requests and not self.pipeline and self.gate.should_hold(data):
            self._unset_keepalive_if_required()  # a held client is not idle
            self._held_data = [data]
            self.transport.pause_reading()
            self.gate.hold(self)
            return
        super().data_received(data)

    def release(self) -> None:
        data, self._held_data = self._held_data, None
        if data is None or self.transport.is_closing():
            return
        self.transport.resume_reading()
        super().data_received(b"".join(data))

    def connection_lost(self, exc: Exception | None) -> None:
        if self._held_data is not None:
            self._held_data = None
            self.gate.forget(self)
        super().connection_lost(exc)


def protocol_class(gate: Gate) -> type[GatedHttpProtocol]:
    """A protocol class bound to ``gate``, for ``uvicorn.Config(http=...)``."""
    return type("GatedHttpProtocol", (GatedHttpProtocol,), {"gate": gate})
