"""Running crunch under uvicorn, with a graceful drain on SIGTERM.

uvicorn alone stops accepting connections at once on SIGTERM. crunch first drains:
readiness turns 503 (so Kubernetes and balancers stop sending), new work is
refused with 503 + Retry-After, in-flight requests finish (up to the drain
timeout), and only then does uvicorn shut down. The process exits 0.

A second SIGTERM or SIGINT stops at once: every queued or running task fails with
503 ``draining`` (its worker is killed), running programs are killed (their streams
end with the status line), the cut requests get their JSON answers, and the process
exits 0 (within about a second; uvicorn is forced out after ``FORCE_AFTER_S``).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from types import FrameType

import uvicorn

from app.backpressure import Gate, HeldCollector
from app.config import Settings
from app.logs import configure
from app.main import create_app
from app.protocol import protocol_class
from app.state import AppState

log = logging.getLogger("crunch")

# After a second signal: how long the cut requests get to write their answers.
FORCE_AFTER_S = 2.0


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, state: AppState) -> None:
        super().__init__(config)
        self.state = state
        self._loop: asyncio.AbstractEventLoop | None = None
        self._drain_task: asyncio.Future[None] | None = None
        self._stopping = False

    async def startup(self, sockets: list[object] | None = None) -> None:  # type: ignore[override]
        self._loop = asyncio.get_running_loop()
        await super().startup(sockets=sockets)  # type: ignore[arg-type]

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # Not recorded in _captured_signals: uvicorn would re-raise it at exit and the
        # process would end "killed by SIGTERM" instead of exiting 0 after a clean drain.
        if self._loop is None or not self.started:
            self.should_exit = True
            return
        admission = self.state.admission
        if admission.draining:
            self._loop.call_soon_threadsafe(self._stop_now, sig)
            return
        admission.begin_drain()
        self._loop.call_soon_threadsafe(self._begin_drain, sig)

    def _stop_now(self, sig: int) -> None:
        """The second signal: cut what is in flight, with JSON answers, and exit."""
        if self._stopping:
            return
        self._stopping = True
        state = self.state
        log.warning(
            "stopping now",
            extra={"signal": signal.Signals(sig).name, "inflight": state.admission.inflight},
        )
        if self._drain_task is not None:
            self._drain_task.cancel()
        state.admission.abort()
        state.spawner.kill_all()
        # uvicorn's shutdown lets the cut requests write their answers, then closes
        # their connections; past FORCE_AFTER_S it stops waiting for anything.
        self.should_exit = True
        assert self._loop is not None
        self._loop.call_later(FORCE_AFTER_S, self._force)

    def _force(self) -> None:
        self.force_exit = True

    def _begin_drain(self, sig: int) -> None:
        log.info("draining", extra={"signal": signal.Signals(sig).name})
        self._drain_task = asyncio.ensure_future(self._drain())

    async def _drain(self) -> None:
        state = self.state
        admission = state.admission
        if not await admission.drained(state.settings.drain_timeout):
            log.warning(
                "drain timeout: stopping with work in flight",
                extra={"inflight": admission.inflight, "busy": admission.pool.busy},
            )
        else:
            log.info("drained")
        self.should_exit = True


def serve(settings: Settings) -> int:
    configure(settings.log_format, settings.log_level)
    app = create_app(settings)
    try:
        import uvloop  # noqa: F401

        loop = "uvloop"
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        loop = "asyncio"
    state: AppState = app.state.crunch
    gate = Gate(state.admission, settings.reject_rate, settings.hold_timeout)
    state.metrics.registry.register(HeldCollector(gate))
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop=loop,
        http=protocol_class(gate, settings.header_timeout, settings.body_timeout),
        lifespan="on",
        access_log=False,
        log_config=None,
        server_header=False,
        timeout_graceful_shutdown=max(1, int(settings.drain_timeout)),
        timeout_keep_alive=5,
    )
    server = DrainingServer(config, state)
    try:
        server.run()
    finally:
        gate.close()
    return 0 if server.started else 3
