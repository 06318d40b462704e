"""Peer "blocking": an ``async def`` handler that runs the task inline on the event loop.

The seed's first server: while one request computes, nothing else on this process
moves — not other requests, not ``/healthz``.
"""

from __future__ import annotations

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
)


async def work(request: Request) -> JSONResponse:
    task = request.path_params["task"]
    try:
        fn, kwargs = call(task, await params_of(request))
    except BadRequest as exc:
        return bad_request(exc)
    value, pid, run_s = run_timed(fn, kwargs)  # blocks the loop: the point of this peer
    return JSONResponse(answer(task, value, pid, run_s))


async def batch(request: Request) -> JSONResponse:
    try:
        calls = await batch_calls(request)
    except BadRequest as exc:
        return bad_request(exc)
    out = []
    for task, fn, kwargs in calls:
        value, pid, run_s = run_timed(fn, kwargs)
        out.append({"status": 200, **answer(task, value, pid, run_s)})
    return JSONResponse(out)


app = Starlette(
    routes=[
        Route("/work/{task}", work, methods=["GET", "POST"]),
        Route("/batch", batch, methods=["POST"]),
        HEALTH,
    ]
)
