"""Smoke runs of the benchmark harness: it counts what it sees. No timing assertions."""

from __future__ import annotations

import asyncio
import itertools
import socket
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

pytest.importorskip("hdrh", reason="bench deps: pip install -r bench/requirements.txt")

from bench import loadgen


def _answer(status: int, extra: str = "") -> bytes:
    reason = {200: "OK", 503: "Service Unavailable"}[status]
    return f"HTTP/1.1 {status} {reason}\r\nContent-Length: 2\r\n{extra}\r\nok".encode()


class _Server(asyncio.Protocol):
    """Answers the n-th request head (counted over all connections) with ``reply(n)``.

    ``None`` means never answer.
    """

    def __init__(self, reply: Callable[[int], bytes | None], counter: Iterator[int]) -> None:
        self.reply = reply
        self.counter = counter
        self.buf = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while b"\r\n\r\n" in self.buf:
            _, self.buf = self.buf.split(b"\r\n\r\n", 1)
            out = self.reply(next(self.counter))
            if out is not None:
                self.transport.write(out)  # type: ignore[attr-defined]


async def _serve(reply: Callable[[int], bytes | None]) -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    counter = itertools.count()
    server = await loop.create_server(lambda: _Server(reply, counter), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/work/noop"
    finally:
        server.close()
        await server.wait_closed()


@pytest.fixture
async def mixed_url() -> AsyncIterator[str]:
    """Every third answer is a 503 with Retry-After, every fifth one without."""

    def reply(i: int) -> bytes:
        if i % 5 == 4:
            return _answer(503)
        if i % 3 == 2:
            return _answer(503, "Retry-After: 1\r\n")
        return _answer(200)

    async for url in _serve(reply):
        yield url


async def test_open_loop_counts_every_planned_request(mixed_url: str) -> None:
    result = await loadgen.open_loop(mixed_url, rate=200, duration=0.5, max_connections=8)
    assert result.planned == 100
    assert result.sent == result.responses == 100
    assert result.timeouts == result.errors == 0
    assert sum(result.statuses.values()) == 100
    assert result.statuses[503] == 100 - result.ok
    assert result.rejected_without_retry_after == 20
    assert result.histogram(200).get_total_count() == result.ok
    summary = result.summary()
    assert summary["statuses"]["200"] == result.ok
    assert loadgen.decode(summary["latency_ms"]["hdr"]).get_total_count() == 100


async def test_closed_loop_stops_at_its_budget(mixed_url: str) -> None:
    result = await loadgen.closed_loop(mixed_url, concurrency=4, duration=5, max_requests=50)
    assert result.sent == result.responses == 50


async def test_unanswered_requests_time_out_and_the_run_ends() -> None:
    async for url in _serve(lambda i: None):
        result = await loadgen.open_loop(url, rate=50, duration=0.2, timeout=0.2)
        assert result.planned == 10
        assert result.timeouts == 10
        assert result.responses == 0


async def test_refused_connections_are_errors_not_crashes() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = await loadgen.open_loop(f"http://127.0.0.1:{port}/", rate=50, duration=0.1)
    assert result.errors == 5
    assert result.error_kinds


def test_only_loopback_targets_are_accepted() -> None:
    with pytest.raises(ValueError, match="loopback"):
        loadgen.Target.parse("http://example.com/")


async def test_self_test_runs_against_the_trivial_server() -> None:
    test = await loadgen.self_test(rate=100, duration=0.3)
    assert test.result.sent == test.result.planned == 30
    assert test.result.statuses == {200: 30}


@pytest.mark.parametrize("peer", ["blocking", "threadpool", "executor", "cluster"])
async def test_peers_run_the_same_work_function_as_crunch(peer: str) -> None:
    import importlib

    import httpx

    from app.tasks.builtin import spin

    app = importlib.import_module(f"bench.peers.{peer}").app
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://peer") as client,
    ):
        answer = (await client.get("/work/spin", params={"n": 30})).json()
        assert answer["task"] == "spin"
        assert answer["result"] == spin(30) == 900
        batch = await client.post(
            "/batch", json=[{"task": "spin", "params": {"n": 3}}, {"task": "noop"}]
        )
        assert [item["result"] for item in batch.json()] == [9, None]
        assert (await client.get("/work/nope")).status_code == 400
        assert (await client.get("/healthz")).status_code == 200


def test_goals_and_table_from_a_synthetic_repetition() -> None:
    from bench import report, run

    rep = {
        "S1": {"crunch": {"p50": 0.02}, "ppe": {"p50": 0.1}, "anyio": {"p50": 0.04}},
        "S2": {
            "crunch": {"capacity_here": 40.0, "peak_goodput": 38.0},
            "cluster": {"peak_goodput": 36.0},
        },
        "S6": {"crunch": {"rps": 1000.0}, "bare": {"rps": 4000.0}, "trivial": {"rps": 1e4}},
    }
    rows = {(row["id"], row["goal"]): row for row in run.judge([rep])}
    assert rows[("S1", "≤ 0.3 x")]["result"] == "pass"
    assert rows[("S2", "≥ 0.9 x")]["result"] == "pass"
    assert rows[("S6", "≥ 0.4 x")]["result"] == "miss"
    assert rows[("S3", "< 2 ms")]["result"] is None  # not measured: no verdict
    assert "**MISS**" in report.table(run.judge([rep]))


def test_storm_goals_judge_each_server_against_its_own_peak() -> None:
    from bench import run

    rep = {
        "S10": {
            "crunch": {"goodput": 70.0, "base_goodput": 80.0, "late": 0},
            "cluster": {"goodput": 20.0, "base_goodput": 80.0, "late": 12},
        }
    }
    rows = [row for row in run.judge([rep]) if row["id"] == "S10"]
    goodput, each = rows[0], rows[1]
    assert goodput["result"] == "pass"  # 70 / 80 >= 0.8
    assert each["peers"]["cluster"]["median"] == 0.25
    late = next(row for row in rows if row["goal"] == "= 0")
    assert late["result"] == "pass"
    assert late["peers"]["cluster"]["median"] == 12


def test_late_counts_timeouts_deadline_answers_and_slow_successes() -> None:
    from bench.scenarios import _late

    result = loadgen.Result("http://127.0.0.1:1/", "GET", "closed", None, 1.0, 1)
    result.timeouts = 2
    result.statuses = {200: 3, 504: 1}
    result.by_status[200] = loadgen.new_histogram()
    for seconds in (0.1, 0.2, 7.0):
        result.by_status[200].record_value(int(seconds * 1e6))
    assert _late(result, deadline=5.0) == 2 + 1 + 1
