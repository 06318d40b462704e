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
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(f"body is larger than {limit} bytes")
                chunks.append(chunk)
    except TimeoutError:
        raise RequestTimeout(
            f"the body did not arrive within {timeout:g} s (CRUNCH_BODY_TIMEOUT)"
        ) from None
    # A body that came in one piece is used as is: no copy of a large upload.
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def media_type_matches(media: str, accepted: tuple[str, ...]) -> bool:
    """Does ``media`` (no parameters) match one of ``accepted``?

    ``type/*`` matches any subtype, ``*/*`` anything.
    """
    major = media.split("/", 1)[0]
    return any(a in (media, "*/*") or (a.endswith("/*") and a[:-2] == major) for a in accepted)


async def read_bytes(
    request: Request, limit: int, timeout: float, accepted: tuple[str, ...]
) -> bytes:
    """The raw body of a task that takes bytes: of an accepted type, bounded. It may be
    empty (the task decides whether that is valid input)."""
    if not media_type_matches(media_type(request), accepted):
        shown = request.headers.get("content-type", "")[:80] or "none"
        raise UnsupportedMediaType(f"the body must be {', '.join(accepted)}, got {shown}")
    return await read_body(request, limit, timeout)


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
