"""The S6 baseline: a bare Starlette route that does nothing, served like the peers."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bench.peers.common import HEALTH


async def nothing(request: Request) -> JSONResponse:
    return JSONResponse({"task": "noop", "result": None})


app = Starlette(routes=[Route("/work/noop", nothing), HEALTH])
