"""Fixtures that start the real thing: a crunch server process on a free port."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tools.cluster import ClusterError, find_haproxy
from tools.procs import NotReady, spawn, stop_group, wait_ready
from tools.procs import free_port as free_port  # tests import it from here

ROOT = Path(__file__).resolve().parent.parent
TEST_TASKS = "tests.support.tasks"


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def client(self, timeout: float = 30.0) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=timeout)

    def async_client(self, timeout: float = 30.0) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, timeout=timeout)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM, then wait for the exit code (kill after ``timeout``: no hang)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise


def start_server(tmp_path: Path, **settings: str | int | float) -> Server:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRUNCH_")}
    env.update(
        {
            "CRUNCH_HOST": "127.0.0.1",
            "CRUNCH_PORT": str(port),
            "CRUNCH_WORKERS": "2",
            "CRUNCH_LOG_FORMAT": "json",
            "CRUNCH_TASK_MODULES": TEST_TASKS,
            "CRUNCH_POD_NAME": "test-pod",
        }
    )
    env.update({f"CRUNCH_{k.upper()}": str(v) for k, v in settings.items()})
    log = tmp_path / f"server-{port}.log"
    proc = spawn([sys.executable, "-m", "app", "serve"], cwd=ROOT, env=env, log=log)
    server = Server(proc, f"http://127.0.0.1:{port}", log)
    try:
        wait_ready(server.url + "/readyz", exited=proc.poll, timeout=30)
    except NotReady as exc:
        stop_group(proc, grace=5)
        raise RuntimeError(f"{exc}:\n{server.output()}") from None
    return server


@pytest.fixture
def haproxy_bin() -> str:
    """The haproxy binary; the test is skipped (with the reason) where it is absent."""
    try:
        return find_haproxy()
    except ClusterError as exc:
        pytest.skip(str(exc))


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start servers with the given settings; every one is stopped after the test."""
    servers: list[Server] = []

    def start(**settings: str | int | float) -> Server:
        server = start_server(tmp_path, **settings)
        servers.append(server)
        return server

    yield start
    for server in servers:
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.terminate()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.proc.pid, signal.SIGKILL)


@pytest.fixture
def server(serve: Callable[..., Server]) -> Server:
    """A server with two workers and the defaults."""
    return serve()
