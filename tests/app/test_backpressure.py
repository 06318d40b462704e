"""Backpressure before parsing, against a real server: past the refusal budget a request
waits unread for a place instead of being refused, probes are never held, and a flood of
clients that retry at once still gets its accepted work done."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable

import httpx

from tests.conftest import Server
from tools.metrics import sample


def held_total(client: httpx.Client) -> float:
    held = sample(client.get("/metrics").text, "crunch_held_total")
    assert held is not None, "crunch_held_total is not exported"
    return held


async def _occupy(server: Server, seconds: float) -> asyncio.Task[httpx.Response]:
    """Start a nap that takes the only worker; return once the pool reports it busy."""

    async def nap() -> httpx.Response:
        async with server.async_client() as client:
            return await client.get("/work/nap", params={"seconds": seconds})

    task = asyncio.create_task(nap())
    async with server.async_client() as client:
        for _ in range(200):
            metrics = (await client.get("/metrics")).text
            if sample(metrics, "crunch_pool_busy_workers") == 1:
                return task
            await asyncio.sleep(0.02)
    raise AssertionError("the nap never started")


#: A budget that never grows to one whole refusal: every request past the pool's room is held.
NEVER_A_TOKEN = 0.01


async def test_within_the_budget_every_refusal_is_answered_at_once(
    serve: Callable[..., Server],
) -> None:
    server = serve(workers=1, queue_limit=0, reject_rate=1000)
    first = await _occupy(server, 2.0)
    async with server.async_client() as http:
        for _ in range(5):
            answer = await http.get("/work/nap", params={"seconds": 0})
            assert answer.status_code == 503
            assert "retry-after" in answer.headers
    assert not first.done()
    with httpx.Client(base_url=server.url) as client:
        assert held_total(client) == 0
    assert (await first).status_code == 200


async def test_past_the_budget_a_request_waits_for_a_place_instead_of_a_refusal(
    serve: Callable[..., Server],
) -> None:
    server = serve(workers=1, queue_limit=0, reject_rate=NEVER_A_TOKEN, hold_timeout=30)
    first = await _occupy(server, 1.0)
    async with server.async_client() as held:
        later = asyncio.create_task(held.get("/work/nap", params={"seconds": 0}))
        async with server.async_client() as probe:
            for _ in range(200):
                if sample((await probe.get("/metrics")).text, "crunch_held_requests") == 1:
                    break
                await asyncio.sleep(0.02)
            else:
                raise AssertionError("the request was never held")
            assert (await probe.get("/healthz")).status_code == 200  # never held
            assert not later.done()
        done_first = await first
        served = await later
    assert done_first.status_code == 200
    assert served.status_code == 200  # served once the worker came free, not refused
    assert served.json()["result"] >= done_first.json()["result"]  # ran after the first


async def test_a_held_request_is_refused_after_the_hold_timeout(
    serve: Callable[..., Server],
) -> None:
    server = serve(workers=1, queue_limit=0, reject_rate=NEVER_A_TOKEN, hold_timeout=0.2)
    first = await _occupy(server, 5.0)
    async with server.async_client() as held:
        answer = await held.get("/work/nap", params={"seconds": 0})
        assert answer.status_code == 503
        assert "retry-after" in answer.headers
        assert not first.done()  # refused long before the worker came free
    with httpx.Client(base_url=server.url) as client:
        assert held_total(client) >= 1
    assert (await first).status_code == 200


async def test_a_retry_storm_cannot_starve_probes_or_accepted_work(
    serve: Callable[..., Server],
) -> None:
    server = serve(workers=2, queue_limit=4, reject_rate=20, hold_timeout=0.5)
    # The flood lasts until the probe has its answers (a count, not a clock: a slow
    # machine must not leave the probe with nothing to check), bounded by 30 s.
    probed = asyncio.Event()
    end = time.monotonic() + 30.0
    statuses: list[int] = []
    missing_retry_after = 0
    bad_answers = 0

    async def client() -> None:
        nonlocal missing_retry_after, bad_answers
        async with server.async_client(timeout=10) as http:
            for _ in range(5000):  # bounded in count and time
                if probed.is_set() or time.monotonic() > end:
                    return
                answer = await http.get("/work/nap", params={"seconds": 0.02})
                statuses.append(answer.status_code)
                if answer.status_code == 503 and "retry-after" not in answer.headers:
                    missing_retry_after += 1
                if answer.status_code == 200 and answer.json().get("task") != "nap":
                    bad_answers += 1
                # Retry at once, whatever Retry-After says.

    flood = [asyncio.create_task(client()) for _ in range(40)]
    health: list[int] = []
    async with server.async_client(timeout=10) as probe:
        await asyncio.sleep(0.5)
        for _ in range(30):
            health.append((await probe.get("/healthz")).status_code)
            await asyncio.sleep(0.05)
    probed.set()
    await asyncio.gather(*flood)

    assert len(health) == 30 and set(health) == {200}
    assert set(statuses) <= {200, 503}
    assert statuses.count(200) > 0
    assert missing_retry_after == 0
    assert bad_answers == 0
    with httpx.Client(base_url=server.url) as http:
        assert held_total(http) > 0
        metrics = http.get("/metrics").text
    assert sample(metrics, "crunch_held_requests") == 0  # nobody left behind


async def test_a_reject_rate_of_zero_turns_holding_off(
    serve: Callable[..., Server],
) -> None:
    server = serve(workers=1, queue_limit=0, reject_rate=0)
    first = await _occupy(server, 2.0)
    async with server.async_client() as http:
        for _ in range(5):
            assert (await http.get("/work/nap", params={"seconds": 0})).status_code == 503
    assert not first.done()
    with httpx.Client(base_url=server.url) as client:
        assert held_total(client) == 0
    assert (await first).status_code == 200


async def test_a_drain_lets_held_requests_go_at_once_refused_as_draining(
    serve: Callable[..., Server],
) -> None:
    server = serve(workers=1, queue_limit=0, reject_rate=NEVER_A_TOKEN, hold_timeout=30)
    first = await _occupy(server, 2.0)
    async with server.async_client() as held:
        later = asyncio.create_task(held.get("/work/nap", params={"seconds": 0}))
        await asyncio.sleep(0.2)
        assert not later.done()
        server.proc.send_signal(signal.SIGTERM)
        answer = await later
    assert answer.status_code == 503
    assert answer.json()["error"] == "draining"
    assert "retry-after" in answer.headers
    assert (await first).status_code == 200  # the drain still finishes in-flight work
