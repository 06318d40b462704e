"""Handlers that compose tasks, loaded through CRUNCH_TASK_MODULES like a user's module."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request

import tests.support.tasks  # noqa: F401  (the tasks these handlers run)
from app.handlers import read_body, route, run
from app.tasks import Binary


@route("/pair", methods=["GET"])
async def pair(request: Request) -> dict[str, Any]:
    """Run two naps at once; answer both results.

    Query: ``a`` and ``b``, seconds for each nap.
    """
    a = float(request.query_params.get("a", "0"))
    b = float(request.query_params.get("b", "0"))
    first, second = await asyncio.gather(run("nap", seconds=a), run("nap", seconds=b))
    return {"results": [first, second]}


@route("/pair/{which}", methods=["GET"])
async def pair_with(request: Request) -> dict[str, Any]:
    """A nap next to another task: ``fail``, ``short_nap`` past its deadline, or ``nap``."""
    which = request.path_params["which"]
    other = run("short_nap", seconds=5) if which == "late" else run(which)
    results = await asyncio.gather(run("nap", seconds=0), other)
    return {"results": list(results)}


@route("/twice", methods=["POST"])
async def twice(request: Request) -> Binary:
    """The body, through the ``repeat`` task twice in a row (bytes in, bytes out)."""
    once: Binary = await run("repeat", body=await read_body(request), times=2)
    again: Binary = await run("repeat", body=once.data, times=1)
    return again
