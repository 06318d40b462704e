"""Helpers for the balancer tests: free ports, stub instances, a real HAProxy process."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any
from pathlib import Path

import pytest

HAPROXY = shutil.which("haproxy") or (
    "/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def haproxy_bin() -> str:
    if HAPROXY is None:
        pytest.skip("haproxy is not installed (make haproxy-install, or apt-get install haproxy)")
    return HAPROXY


class StubInstance:
    """A stand-in crunch instance whose busyness the test controls.

    ``/readyz`` answers 200 (or 503 when ``ready`` is False). Any other path is recorded
    in ``received`` and answered only once ``release()`` opened the gate, so a request in
    flight keeps the instance "busy" for exactly as long as the test wants.
    ``status`` is what those requests get (503 plays an instance shedding load).
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.port = 0
        self.ready = True
        self.status = 200
        self.received: list[str] = []
        self.gate = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    def release(self) -> None:
        self.gate.set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._on_connection, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        self.gate.set()
        if self._server is not None:
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._server.wait_closed()

    async def _on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                length = 0
                for line in lines[1:]:
                    key, _, value = line.partition(":")
                    if key.strip().lower() == "content-length":
                        length = int(value)
                if length:
                    await reader.readexactly(length)
                if path == "/readyz":
                    status = 200 if self.ready else 503
                    body = b"ready" if self.ready else b"draining"
                else:
                    self.received.append(path)
                    await self.gate.wait()
                    status = self.status
                    body = json.dumps({"pod": self.name}).encode()
                reason = {200: "OK", 503: "Service Unavailable"}[status]
                writer.write(
                    f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


@contextlib.asynccontextmanager
async def stub_instances(*names: str) -> AsyncIterator[list[StubInstance]]:
    stubs = [StubInstance(name) for name in names]
    try:
        for stub in stubs:
            await stub.start()
        yield stubs
    finally:
        for stub in stubs:
            await stub.close()


@contextlib.contextmanager
def running_haproxy(binary: str, config: str, tmp_path: Path, port: int) -> Iterator[None]:
    """HAProxy in the foreground on ``config``; returns once ``port`` accepts connections."""
    path = tmp_path / "haproxy.cfg"
    path.write_text(config)
    log = (tmp_path / "haproxy.log").open("w")
    proc = subprocess.Popen([binary, "-db", "-f", str(path)], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                log.flush()
                raise AssertionError(f"haproxy exited: {(tmp_path / 'haproxy.log').read_text()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            assert time.monotonic() < deadline, "haproxy did not listen within 20 s"
            time.sleep(0.02)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


async def wait_until(predicate: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    """Poll ``predicate()`` (bounded); fail with ``what`` if it never holds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        await asyncio.sleep(0.02)
