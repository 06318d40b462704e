"""Peer "executor": Starlette + ``concurrent.futures.ProcessPoolExecutor`` via ``run_in_executor``.

The textbook fix: work leaves the loop for N processes. What it lacks is what crunch
adds: its queue is unbounded and first in, first out (no 503, no head-of-line
protection), and it has no deadlines.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bench.peers.common import (
    HEALTH,
    BadRequest,
    answer,
    bad_request,
    batch_calls,
    call,
    params_of,
    run_timed,
    workers,
)

_pool: list[ProcessPoolExecutor] = []


async def _run(task: str, fn: Any, kwargs: dict[str, int]) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    start = time.perf_counter()
    value, pid, run_s = await loop.run_in_executor(_pool[0], run_timed, fn, kwargs)
    waited = max(0.0, time.perf_counter() - start - run_s)
    return answer(task, value, pid, run_s, waited)


async def work(request: Request) -> JSONResponse:
    task = request.path_params["task"]
    try:
        fn, kwargs = call(task, await params_of(request))
    except BadRequest as exc:
        return bad_request(exc)
    return JSONResponse(await _run(task, fn, kwargs))


async def batch(request: Request) -> JSONResponse:
    try:
        calls = await batch_calls(request)
    except BadRequest as exc:
        return bad_request(exc)
    done = await asyncio.gather(*(_run(task, fn, kw) for task, fn, kw in calls))
    return JSONResponse([{"status": 200, **item} for item in done])


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    with ProcessPoolExecutor(max_workers=workers()) as pool:
        _pool.append(pool)
        # Start every process now, not at the first requests.
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(loop.run_in_executor(pool, time.sleep, 0.05) for _ in range(8)))
        yield
        _pool.clear()


app = Starlette(
    routes=[
        Route("/work/{task}", work, methods=["GET", "POST"]),
        Route("/batch", batch, methods=["POST"]),
        HEALTH,
    ],
    lifespan=lifespan,
)
