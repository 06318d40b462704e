"""The HAProxy configuration generator, and HAProxy itself balancing by busyness."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.balancer.haproxy import (
    HOLD_LUA,
    HOLD_SCRIPT,
    BalancerConfigError,
    BalancerSettings,
    Instance,
    instances_from_json,
    local_instances,
    main,
    parse_instance,
    render,
)
from tools.procs import NotReady, free_port, spawn, stop_group, wait_listening

SEED = local_instances(2, workers=3)


def servers(config: str, backend: str) -> list[str]:
    """The ``server`` lines of one backend, stripped."""
    section = config.split(f"\nbackend {backend}\n", 1)[1].split("\n\n", 1)[0]
    return [line.strip() for line in section.splitlines() if line.strip().startswith("server ")]


# --- rendering ----------------------------------------------------------------------------


def test_seed_layout_routes_hello_and_world_to_their_instances_and_the_rest_to_both() -> None:
    config = render(SEED)
    assert [i.address for i in SEED] == ["127.0.0.1:8082", "127.0.0.1:8083"]
    assert servers(config, "hello") == ["server hello-1 127.0.0.1:8082 maxconn 3"]
    assert servers(config, "world") == ["server world-1 127.0.0.1:8083 maxconn 3"]
    assert len(servers(config, "web")) == 2
    assert "use_backend hello if route_hello" in config
    assert "use_backend world if route_world" in config
    assert "default_backend web" in config
    assert "bind 127.0.0.1:8081" in config


def test_busy_mode_caps_each_server_at_its_workers_plus_slack_and_uses_leastconn() -> None:
    instances = [Instance("a", "127.0.0.1", 9001, 2), Instance("b", "127.0.0.1", 9002, 5)]
    config = render(instances, BalancerSettings(queue_slack=1))
    assert servers(config, "web") == [
        "server a 127.0.0.1:9001 maxconn 3",
        "server b 127.0.0.1:9002 maxconn 6",
    ]
    assert "balance leastconn" in config
    assert "balance roundrobin" not in config


def test_roundrobin_mode_has_no_maxconn() -> None:
    config = render(SEED, BalancerSettings(mode="roundrobin"))
    assert "balance roundrobin" in config
    assert "balance leastconn" not in config
    assert all("maxconn" not in line for line in servers(config, "web"))


def test_queue_timeout_defaults_to_the_task_timeout_and_can_be_set() -> None:
    assert "timeout queue 12s" in render(SEED, BalancerSettings(task_timeout=12))
    assert "timeout queue 1500ms" in render(SEED, BalancerSettings(queue_timeout=1.5))
    # the app answers 504 at its task timeout: HAProxy waits a little longer than that
    assert "timeout server 17s" in render(SEED, BalancerSettings(task_timeout=12))


def test_503_from_haproxy_carries_retry_after_and_the_apps_error_json() -> None:
    config = render(SEED, BalancerSettings(retry_after=2))
    line = next(x for x in config.splitlines() if "http-error status 503" in x)
    assert "hdr Retry-After 2" in line
    body = json.loads(re.search(r"string '(\{.*\})'", line).group(1))  # type: ignore[union-attr]
    assert body["error"] == "overloaded"
    assert body["detail"]


def test_health_checks_use_readyz() -> None:
    config = render(SEED)
    assert config.count("http-check send meth GET uri /readyz") == 3
    assert "default-server check" in config


def test_queue_limit_rejects_when_the_balancer_queue_is_full() -> None:
    assert "queue()" not in render(SEED)
    assert "if { queue() ge 7 }" in render(SEED, BalancerSettings(queue_limit=7))


def test_all_layout_is_one_backend_for_every_path() -> None:
    # maxconn counts per backend: one backend keeps each instance at its workers.
    config = render(local_instances(3, workers=1, layout="all"))
    assert len(servers(config, "web")) == 3
    assert "backend hello" not in config and "backend world" not in config
    assert "use_backend" not in config


@pytest.mark.parametrize(
    ("instances", "message"),
    [
        ([], "no instances"),
        ([Instance("a", "127.0.0.1", 1, 1), Instance("a", "127.0.0.1", 2, 1)], "used twice"),
        ([Instance("a", "127.0.0.1", 1, 1, ("hello",))], "serves web"),
    ],
)
def test_render_refuses_bad_descriptions(instances: list[Instance], message: str) -> None:
    with pytest.raises(BalancerConfigError, match=message):
        render(instances)


def test_instance_validates_its_fields() -> None:
    with pytest.raises(BalancerConfigError, match="workers"):
        Instance("a", "127.0.0.1", 8082, 0)
    with pytest.raises(BalancerConfigError, match="unknown service"):
        Instance("a", "127.0.0.1", 8082, 1, ("hello", "mars"))
    with pytest.raises(BalancerConfigError, match="name"):
        Instance("a b", "127.0.0.1", 8082, 1)
    with pytest.raises(BalancerConfigError, match="mode"):
        BalancerSettings(mode="random")  # type: ignore[arg-type]


def test_instance_specs_from_the_command_line_and_json() -> None:
    assert parse_instance("h=127.0.0.1:8082/2/hello+web") == Instance(
        "h", "127.0.0.1", 8082, 2, ("hello", "web")
    )
    assert parse_instance("x=localhost:9000/4").services == ("hello", "world", "web")
    with pytest.raises(BalancerConfigError, match="expected"):
        parse_instance("nonsense")
    parsed = instances_from_json([{"name": "w", "port": 8083, "workers": 1, "services": ["web"]}])
    assert parsed == [Instance("w", "127.0.0.1", 8083, 1, ("web",))]


def test_app_services_is_what_the_instance_gets_as_crunch_services() -> None:
    assert [i.app_services for i in SEED] == ["hello", "world"]
    assert Instance("w", "127.0.0.1", 1, 1, ("web",)).app_services == "none"


def test_main_prints_the_local_cluster_sized_from_crunch_settings(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRUNCH_WORKERS", "4")
    monkeypatch.setenv("CRUNCH_TASK_TIMEOUT", "9")
    assert main([]) == 0
    config = capsys.readouterr().out
    assert servers(config, "hello") == ["server hello-1 127.0.0.1:8082 maxconn 4"]
    assert "timeout queue 9s" in config


def test_main_writes_a_file_and_reports_bad_input_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "h.cfg"
    assert main(["--instance", "a=127.0.0.1:9001/2", "--mode", "roundrobin", "-o", str(out)]) == 0
    assert "server a 127.0.0.1:9001\n" in out.read_text()
    assert main(["--instance", "a=127.0.0.1:9001/0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("crunch haproxy-config:")
    assert err.count("\n") == 1


def test_runs_as_a_module() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "app.balancer.haproxy", "--instance", "a=127.0.0.1:9001/1"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        cwd=Path(__file__).resolve().parents[3],
    )
    assert done.returncode == 0, done.stderr
    assert "server a 127.0.0.1:9001 maxconn 1" in done.stdout


@pytest.mark.haproxy
@pytest.mark.parametrize(
    "settings",
    [
        BalancerSettings(),
        BalancerSettings(mode="roundrobin", queue_limit=5, stats_port=8404, access_log=True),
        BalancerSettings(queue_slack=2, queue_timeout=0.25, retry_after=3),
    ],
)
def test_rendered_config_passes_haproxy_check(
    haproxy_bin: str, tmp_path: Path, settings: BalancerSettings
) -> None:
    path = tmp_path / "haproxy.cfg"
    path.write_text(render(local_instances(4, workers=2), settings))
    done = subprocess.run(
        [haproxy_bin, "-c", "-f", str(path)], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stdout + done.stderr


# --- a real HAProxy in front of stub instances ---------------------------------------------


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

    async def _on_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
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
    log = tmp_path / "haproxy.log"
    proc = spawn([binary, "-db", "-f", str(path)], log=log)
    try:
        try:
            wait_listening("127.0.0.1", port, exited=proc.poll, timeout=20, name="haproxy")
        except NotReady as exc:
            raise AssertionError(f"{exc}: {log.read_text()}") from None
        yield
    finally:
        stop_group(proc, grace=10)


async def wait_until(predicate: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    """Poll ``predicate()`` (bounded); fail with ``what`` if it never holds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        await asyncio.sleep(0.02)


def _config(
    *stubs_ports: int, port: int, hold_script: str | None = None, **settings: object
) -> str:
    instances = [Instance(f"i{n}", "127.0.0.1", p, 1, ("web",)) for n, p in enumerate(stubs_ports)]
    return render(
        instances,
        BalancerSettings(port=port, check_interval=0.2, **settings),  # type: ignore[arg-type]
        hold_script=hold_script,
    )


async def _wait_down(c: httpx.AsyncClient, stats: int, server: str) -> None:
    async def down() -> bool:
        csv = (await c.get(f"http://127.0.0.1:{stats}/;csv")).text
        return any(
            line.startswith(f"web,{server},") and ",DOWN," in line for line in csv.splitlines()
        )

    for _ in range(300):
        if await down():
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"HAProxy never marked {server} down")


@pytest.mark.haproxy
async def test_a_request_goes_to_the_idle_instance_not_the_busy_one(
    haproxy_bin: str, tmp_path: Path
) -> None:
    port = free_port()
    async with stub_instances("i0", "i1") as (a, b):
        with running_haproxy(haproxy_bin, _config(a.port, b.port, port=port), tmp_path, port):
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
                first = asyncio.create_task(c.get("/work/spin"))
                await wait_until(lambda: len(a.received) + len(b.received) == 1, "one arrived")
                busy, idle = (a, b) if a.received else (b, a)
                idle.release()
                for _ in range(6):
                    response = await c.get("/work/spin")
                    assert response.status_code == 200
                    assert response.headers["x-crunch-instance"] == idle.name
                assert len(busy.received) == 1  # nothing piled onto the busy instance
                busy.release()
                assert (await first).headers["x-crunch-instance"] == busy.name


@pytest.mark.haproxy
async def test_roundrobin_piles_work_onto_a_busy_instance(haproxy_bin: str, tmp_path: Path) -> None:
    port = free_port()
    async with stub_instances("i0", "i1") as (a, b):
        config = _config(a.port, b.port, port=port, mode="roundrobin")
        with running_haproxy(haproxy_bin, config, tmp_path, port):
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
                first = asyncio.create_task(c.get("/work/spin"))
                await wait_until(lambda: len(a.received) + len(b.received) == 1, "one arrived")
                busy, idle = (a, b) if a.received else (b, a)
                idle.release()
                later = [asyncio.create_task(c.get("/work/spin")) for _ in range(4)]
                await wait_until(lambda: len(busy.received) >= 2, "the busy one got more")
                busy.release()
                responses = await asyncio.gather(first, *later)
                assert all(r.status_code == 200 for r in responses)


@pytest.mark.haproxy
async def test_with_every_instance_busy_a_request_waits_then_succeeds(
    haproxy_bin: str, tmp_path: Path
) -> None:
    port = free_port()
    async with stub_instances("i0", "i1") as (a, b):
        with running_haproxy(haproxy_bin, _config(a.port, b.port, port=port), tmp_path, port):
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
                held = [asyncio.create_task(c.get("/work/spin")) for _ in range(2)]
                await wait_until(lambda: len(a.received) == len(b.received) == 1, "both busy")
                waiting = asyncio.create_task(c.get("/work/spin"))
                await asyncio.sleep(0.3)
                assert not waiting.done()
                assert len(a.received) + len(b.received) == 2  # it waits in HAProxy's queue
                a.release()
                response = await waiting
                assert response.status_code == 200
                assert response.headers["x-crunch-instance"] == "i0"
                b.release()
                assert [r.status_code for r in await asyncio.gather(*held)] == [200, 200]


@pytest.mark.haproxy
async def test_past_the_queue_timeout_the_client_gets_503_with_retry_after(
    haproxy_bin: str, tmp_path: Path
) -> None:
    port = free_port()
    async with stub_instances("i0", "i1") as (a, b):
        config = _config(a.port, b.port, port=port, queue_timeout=0.3, retry_after=2)
        with running_haproxy(haproxy_bin, config, tmp_path, port):
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
                held = [asyncio.create_task(c.get("/work/spin")) for _ in range(2)]
                await wait_until(lambda: len(a.received) == len(b.received) == 1, "both busy")
                response = await c.get("/work/spin")
                assert response.status_code == 503
                assert response.headers["retry-after"] == "2"
                assert response.headers["content-type"] == "application/json"
                assert response.json()["error"] == "overloaded"
                assert len(a.received) + len(b.received) == 2
                a.release()
                b.release()
                assert [r.status_code for r in await asyncio.gather(*held)] == [200, 200]


@pytest.mark.haproxy
async def test_an_instance_that_is_not_ready_gets_no_requests(
    haproxy_bin: str, tmp_path: Path
) -> None:
    port, stats = free_port(), free_port()
    async with stub_instances("i0", "i1") as (a, b):
        a.release()
        b.release()
        b.ready = False
        config = _config(a.port, b.port, port=port, stats_port=stats)
        with running_haproxy(haproxy_bin, config, tmp_path, port):
            async with httpx.AsyncClient(timeout=30) as c:
                await _wait_down(c, stats, "i1")
                before = len(b.received)
                for _ in range(5):
                    response = await c.get(f"http://127.0.0.1:{port}/work/spin")
                    assert response.headers["x-crunch-instance"] == "i0"
                assert len(b.received) == before


@pytest.mark.haproxy
async def test_an_instance_answering_503_is_retried_elsewhere(
    haproxy_bin: str, tmp_path: Path
) -> None:
    port = free_port()
    async with stub_instances("i0", "i1") as (a, b):
        a.release()
        b.release()
        a.status = 503  # i0 sheds everything it gets (its queue is full, or it drains)
        with running_haproxy(haproxy_bin, _config(a.port, b.port, port=port), tmp_path, port):
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
                for _ in range(6):
                    response = await c.get("/work/spin")
                    assert response.status_code == 200
                    assert response.headers["x-crunch-instance"] == "i1"


def test_a_bad_crunch_lb_variable_fails_in_one_line_naming_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRUNCH_LB_QUEUE_SLACK", "-1")
    assert main([]) == 2
    err = capsys.readouterr().err
    assert (
        err == "crunch haproxy-config: CRUNCH_LB_QUEUE_SLACK: must be between 0 and 1000, got -1\n"
    )


def test_the_local_cluster_config_has_make_clusters_stats_page(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main([]) == 0
    assert "bind 127.0.0.1:8404" in capsys.readouterr().out
    assert main(["--stats-port", "0"]) == 0
    assert "listen stats" not in capsys.readouterr().out


@pytest.mark.haproxy
async def test_with_no_instance_up_a_request_is_held_until_one_is_ready(
    haproxy_bin: str, tmp_path: Path
) -> None:
    """The hold that lets a service scale to zero: no 503 while no instance is up; the
    request waits (counted in the backend's sessions, which wakes the service) and
    goes to the first instance that turns ready."""
    port, stats = free_port(), free_port()
    script = tmp_path / HOLD_SCRIPT
    script.write_text(HOLD_LUA)
    async with stub_instances("i0") as (a,):
        a.release()
        a.ready = False
        config = _config(a.port, port=port, stats_port=stats, hold_script=str(script))
        with running_haproxy(haproxy_bin, config, tmp_path, port):
            async with httpx.AsyncClient(timeout=30) as c:
                await _wait_down(c, stats, "i0")
                held = asyncio.create_task(c.get(f"http://127.0.0.1:{port}/work/spin"))

                async def sessions() -> float:
                    text = (await c.get(f"http://127.0.0.1:{stats}/metrics")).text
                    found = re.search(
                        r'^haproxy_backend_current_sessions\{proxy="web"\} (\S+)$', text, re.M
                    )
                    return float(found.group(1)) if found else -1.0

                for _ in range(100):
                    if await sessions() == 1:
                        break
                    await asyncio.sleep(0.05)
                else:
                    pytest.fail("the held request is not in the backend's current sessions")
                await asyncio.sleep(0.5)
                assert not held.done() and a.received == []
                a.ready = True
                response = await held
                assert response.status_code == 200
                assert response.headers["x-crunch-instance"] == "i0"


@pytest.mark.haproxy
async def test_the_hold_ends_at_the_queue_timeout_with_the_usual_503(
    haproxy_bin: str, tmp_path: Path
) -> None:
    port, stats = free_port(), free_port()
    script = tmp_path / HOLD_SCRIPT
    script.write_text(HOLD_LUA)
    async with stub_instances("i0") as (a,):
        a.ready = False
        config = _config(
            a.port, port=port, stats_port=stats, hold_script=str(script), queue_timeout=0.6
        )
        with running_haproxy(haproxy_bin, config, tmp_path, port):
            async with httpx.AsyncClient(timeout=30) as c:
                await _wait_down(c, stats, "i0")
                t0 = time.monotonic()
                response = await c.get(f"http://127.0.0.1:{port}/work/spin")
                waited = time.monotonic() - t0
                assert response.status_code == 503
                assert response.json()["error"] == "overloaded"
                assert response.headers["retry-after"] == "1"
                assert 0.5 <= waited < 10, waited  # held, then answered; never hung
                assert a.received == []
