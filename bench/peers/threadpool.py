"""Peer "threadpool": a plain ``def`` handler, which Starlette runs in its thread pool.

The loop stays free to accept, but the work holds the GIL: threads take turns on
one core, and every other thread (including the loop) waits for its turn.
"""

from __future__ import annotations

import asyncio

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
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
    run_timed,
)


def work(request: Request) -> JSONResponse:
    # A sync endpoint cannot read a body; the benchmark passes parameters in the query.
    task = request.path_params["task"]
    try:
        fn, kwargs = call(task, request.query_params)
    except BadRequest as exc:
        return bad_request(exc)
    value, pid, run_s = run_timed(fn, kwargs)
    return JSONResponse(answer(task, value, pid, run_s))


async def batch(request: Request) -> JSONResponse:
    try:
        calls = await batch_calls(request)
    except BadRequest as exc:
        return bad_request(exc)
    done = await asyncio.gather(*(run_in_threadpool(run_timed, fn, kw) for _, fn, kw in calls))
    return JSONResponse(
        [
            {"status": 200, **answer(task, value, pid, run_s)}
            for (task, _, _), (value, pid, run_s) in zip(calls, done, strict=True)
        ]
    )


app = Starlette(
    routes=[
        Route("/work/{task}", work, methods=["GET"]),
        Route("/batch", batch, methods=["POST"]),
        HEALTH,
    ]
)
