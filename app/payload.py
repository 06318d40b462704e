"""Reading request bodies: bounded in size and time, JSON only as application/json."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.requests import Request

from app.errors import (
    BadRequest,
    InvalidJSON,
    PayloadTooLarge,
    RequestTimeout,
    UnsupportedMediaType,
)

JSON_TYPE = "application/json"
# What read_json answers when there is no body (JSON null is a body: None).
NO_BODY: Any = object()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def media_type(request: Request) -> str:
    """The Content-Type without parameters, lower case ("" when there is none)."""
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def has_body(request: Request) -> bool:
    """Whether the request announces a body (a non-zero length, or chunked)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        return declared.strip() not in ("", "0")
    return "transfer-encoding" in request.headers


async def read_body(request: Request, limit: int, timeout: float) -> bytes:
    """The whole body: never more than ``limit`` bytes, never longer than ``timeout`` s."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise BadRequest("Content-Length is not a number")
        if int(declared) > limit:
            raise PayloadTooLarge(f"body of {declared} bytes is larger than {limit}")
    body = bytearray()
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                body += chunk
                if len(body) > limit:
                    raise PayloadTooLarge(f"body is larger than {limit} bytes")
    except TimeoutError:
        raise RequestTimeout(
            f"the body did not arrive within {timeout:g} s (CRUNCH_BODY_TIMEOUT)"
        ) from None
    return bytes(body)


async def read_json(request: Request, limit: int, timeout: float) -> Any:
    """The body as JSON, or ``NO_BODY`` when there is none.

    A body must say ``Content-Type: application/json``: any other type, or none, gets
    415 before a byte is read. (A web page can make a browser send text/plain or form
    bodies, or a body with no type, to any site without asking it first; JSON it cannot.)
    """
    if not has_body(request):
        return NO_BODY
    if media_type(request) != JSON_TYPE:
        shown = request.headers.get("content-type", "")[:80] or "none"
        raise UnsupportedMediaType(f"the body must be {JSON_TYPE}, got {shown}")
    body = await read_body(request, limit, timeout)
    if not body.strip():
        return NO_BODY
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise InvalidJSON(f"body is not valid JSON: {str(exc)[:200]}") from None
