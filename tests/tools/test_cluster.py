"""`make cluster` for real: crunch instances behind HAProxy, started and stopped as a unit."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.balancer.haproxy import main as haproxy_config
from tools.cluster import main
from tools.procs import NotReady, port_free, wait_ready

pytestmark = [pytest.mark.haproxy, pytest.mark.usefixtures("haproxy_bin")]


def _free(port: int) -> bool:
    """Nothing listens on ``port`` (connections in TIME_WAIT do not count)."""
    return port_free("127.0.0.1", port)


def free_ports(count: int) -> list[int]:
    """``count`` consecutive free ports (the cluster numbers its instances from a base)."""
    for _ in range(200):
        base = random.randint(20_000, 60_000)
        ports = list(range(base, base + count))
        if all(_free(p) for p in ports):
            return ports
    raise AssertionError("no free consecutive ports")


class Running:
    def __init__(self, proc: subprocess.Popen[bytes], ports: list[int], log_dir: Path) -> None:
        self.proc = proc
        self.front, *self.instances = ports
        self.log_dir = log_dir

    def url(self, path: str, port: int | None = None) -> str:
        return f"http://127.0.0.1:{port or self.front}{path}"


@contextlib.contextmanager
def cluster(tmp_path: Path, *extra: str) -> Iterator[Running]:
    front, base, _ = free_ports(3)
    argv = [
        sys.executable,
        "-m",
        "tools.cluster",
        *("--port", str(front), "--base-port", str(base), "--stats-port", "0"),
        *("--workers", "1", "--log-dir", str(tmp_path), *extra),
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRUNCH_")}
    env.update(CRUNCH_LOG_FORMAT="text", CRUNCH_DRAIN_TIMEOUT="2")
    out = (tmp_path / "launcher.log").open("wb")
    proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
    running = Running(proc, [front, base, base + 1], tmp_path)
    try:
        try:
            wait_ready(running.url("/readyz"), exited=proc.poll, timeout=90, name="the cluster")
        except NotReady as exc:
            raise AssertionError(f"{exc}\n{(tmp_path / 'launcher.log').read_text()}") from None
        yield running
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        out.close()


def test_the_seed_routes_and_a_clean_stop_on_ctrl_c(tmp_path: Path) -> None:
    with cluster(tmp_path) as c:
        hello = httpx.get(c.url("/hello"), timeout=30)
        world = httpx.get(c.url("/world"), timeout=30)
        index = httpx.get(c.url("/"), timeout=30)
        assert hello.status_code == world.status_code == index.status_code == 200
        assert "hello-1" in hello.text
        assert hello.headers["x-crunch-instance"] == "hello-1"
        assert "world-1" in world.text
        assert world.headers["x-crunch-instance"] == "world-1"
        c.proc.send_signal(signal.SIGINT)
        assert c.proc.wait(timeout=30) == 0
        for port in (c.front, *c.instances):
            assert _free(port), f"port {port} still served after the cluster stopped"


def test_sigterm_stops_the_instances_and_haproxy(tmp_path: Path) -> None:
    with cluster(tmp_path) as c:
        c.proc.send_signal(signal.SIGTERM)
        assert c.proc.wait(timeout=30) == 0
        for port in (c.front, *c.instances):
            assert _free(port)


def test_a_request_in_flight_when_the_cluster_stops_gets_its_answer(tmp_path: Path) -> None:
    with cluster(tmp_path, "--layout", "all") as c, httpx.Client(timeout=60) as client:
        results: dict[str, httpx.Response | Exception] = {}

        def slow() -> None:
            try:
                results["slow"] = client.get(c.url("/work/spin?n=5000"))
            except httpx.HTTPError as exc:
                results["slow"] = exc

        thread = threading.Thread(target=slow)
        thread.start()
        deadline = time.monotonic() + 30
        while not any(_state(c, p)["busy"] for p in c.instances):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        c.proc.send_signal(signal.SIGINT)
        thread.join(timeout=60)
        answer = results["slow"]
        assert isinstance(answer, httpx.Response), repr(answer)
        assert answer.status_code == 200
        assert c.proc.wait(timeout=30) == 0


def test_the_config_it_runs_is_what_haproxy_config_prints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with cluster(tmp_path) as c:
        deadline = time.monotonic() + 10  # it names its file right after starting
        while "configuration: " not in (log := (tmp_path / "launcher.log").read_text()):
            assert time.monotonic() < deadline, log
            time.sleep(0.05)
        used = Path(log.split("configuration: ", 1)[1].split(";", 1)[0]).read_text()
        argv = ["--port", str(c.front), "--base-port", str(c.instances[0])]
        assert haproxy_config([*argv, "--stats-port", "0", "--workers", "1"]) == 0
    assert capsys.readouterr().out == used


def _state(c: Running, port: int) -> dict[str, Any]:
    state: dict[str, Any] = httpx.get(c.url("/readyz", port), timeout=10).json()
    return state


def test_real_instances_a_busy_one_gets_nothing_and_the_overflow_waits_in_haproxy(
    tmp_path: Path,
) -> None:
    slow = "/work/spin?n=7000"  # ~50 M loop steps: seconds of one worker's time
    with cluster(tmp_path, "--layout", "all") as c, httpx.Client(timeout=60) as client:
        results: dict[str, httpx.Response] = {}

        def send(key: str, path: str) -> threading.Thread:
            thread = threading.Thread(
                target=lambda: results.__setitem__(key, client.get(c.url(path)))
            )
            thread.start()
            return thread

        first = send("first", slow)
        deadline = time.monotonic() + 30
        while not any(_state(c, p)["busy"] for p in c.instances):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        busy_port = next(p for p in c.instances if _state(c, p)["busy"])
        quick = client.get(c.url("/work/spin?n=10"))
        assert quick.status_code == 200
        busy_pod = f"crunch-{c.instances.index(busy_port) + 1}"
        assert quick.json()["pod"] != busy_pod  # went to the idle instance

        second = send("second", slow)  # now both instances are busy
        deadline = time.monotonic() + 30
        while not all(_state(c, p)["busy"] for p in c.instances):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        third = send("third", "/work/spin?n=10")
        time.sleep(0.2)
        # the third waits in HAProxy's queue: no instance queues it behind a slow task
        assert all(_state(c, p)["queued"] == 0 for p in c.instances)
        for thread in (first, second, third):
            thread.join(timeout=60)
        assert [results[k].status_code for k in ("first", "second", "third")] == [200] * 3


def test_bad_settings_fail_at_start_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--count", "0", "--stats-port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("make cluster:")
    assert err.count("\n") == 1
