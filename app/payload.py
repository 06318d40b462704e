"""Reading request bodies: bounded in size, strict JSON, clear errors."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from app.errors import (
    BadRequest,
    InvalidJSON,
    InvalidParams,
    PayloadTooLarge,
    UnsupportedMediaType,
)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


async def _read(request: Request, limit: int) -> bytes:
    """The whole body, never more than ``limit`` bytes read."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise BadRequest("Content-Length is not a number")
        if int(declared) > limit:
            raise PayloadTooLarge(f"body of {declared} bytes is larger than {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body is larger than {limit} bytes")
        chunks.append(chunk)
    # One chunk (the usual case for a body that came in one piece) is used as is.
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def media_type_matches(content_type: str, accepted: tuple[str, ...]) -> bool:
    """Does ``content_type`` (parameters ignored) match one of ``accepted``?

    ``type/*`` matches any subtype, ``*/*`` anything.
    """
    media = content_type.split(";", 1)[0].strip().lower()
    major = media.split("/", 1)[0]
    return any(a in (media, "*/*") or (a.endswith("/*") and a[:-2] == major) for a in accepted)


async def read_bytes(request: Request, limit: int, accepted: tuple[str, ...]) -> bytes:
    """The raw body of a task that takes bytes: of an accepted type, not empty, bounded."""
    content_type = request.headers.get("content-type", "")
    if not media_type_matches(content_type, accepted):
        raise UnsupportedMediaType(
            f"content type {content_type[:60]!r} is not accepted (expected: {', '.join(accepted)})"
        )
    body = await _read(request, limit)
    if not body:
        raise InvalidParams("the request body is empty; this task takes it as its input")
    return body


async def read_json(request: Request, limit: int) -> Any:
    """The body as JSON, or None when empty. Never reads more than ``limit`` bytes."""
    body = await _read(request, limit)
    if not body.strip():
        return None
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise InvalidJSON(f"body is not valid JSON: {str(exc)[:200]}") from None
