"""A handler module that claims one of crunch's own paths: the server must refuse to start."""

from __future__ import annotations

from starlette.requests import Request

from app.handlers import route


@route("/healthz")
async def mine(request: Request) -> str:
    """Not crunch's liveness."""
    return "mine"
