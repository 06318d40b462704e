"""JSON answers and the error handlers that turn every failure into one."""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from app.errors import CrunchError

log = logging.getLogger("crunch.errors")


# One encoder for every response: json.dumps with options builds a new one per call.
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return _encode(content).encode()


def error_response(exc: CrunchError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers())


async def crunch_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CrunchError)
    return error_response(exc)


# The codes of the HTTP errors Starlette raises itself (unknown route, wrong method).
HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 400: "bad_request"}


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = HTTP_CODES.get(exc.status_code, "http_error")
    detail = exc.detail
    if exc.status_code == 404:
        detail = f"no route {request.url.path[:200]!r}"
    return JSONResponse(
        {"error": code, "detail": detail},
        status_code=exc.status_code,
        headers=dict(exc.headers or {}),
    )


async def internal_error(request: Request, exc: Exception) -> Response:
    # The traceback goes to the log, never to the client.
    log.error("unhandled error on %s", request.url.path, exc_info=exc)
    return JSONResponse({"error": "internal", "detail": "internal server error"}, status_code=500)
