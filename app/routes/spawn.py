"""``POST /spawn/{name}``: an allowlisted program's output, streamed as it arrives."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from app.errors import InvalidParams
from app.openapi import BODY_ERRORS, Context, PathItems, error_responses, json_content, ref
from app.payload import NO_BODY, read_json
from app.spawn import ARG_PATTERN, MAX_ARG_LENGTH, MAX_ARGS, Lease, validate_args
from app.state import state_of


async def spawn(request: Request) -> Response:
    state = state_of(request)
    spawner = state.spawner
    name: str = request.path_params["name"]
    spawner.resolve(name)
    settings = state.settings
    body = await read_json(request, settings.max_body, settings.body_timeout)
    if body is NO_BODY:
        body = {}
    if not isinstance(body, dict) or set(body) - {"args"}:
        raise InvalidParams('the body must be a JSON object {"args": [...]}')
    args = validate_args(body.get("args", []))
    lease = state.admission.reserve(spawner)
    return _LeasedStream(
        lease,
        spawner.stream(name, args, lease),
        media_type="application/x-ndjson",
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )


class _LeasedStream(StreamingResponse):
    """Frees the program slot even when the client leaves before the stream starts."""

    def __init__(self, lease: Lease, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lease = lease

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.lease.release()


def spawn_paths(context: Context) -> PathItems:
    allowed = list(context.settings.spawn_allow)
    operation = {
        "summary": "Run an allowlisted program; its output streams as NDJSON",
        "parameters": [
            {
                "name": "name",
                "in": "path",
                "required": True,
                "description": "a program in CRUNCH_SPAWN_ALLOW",
                "schema": {"type": "string", "enum": allowed},
            }
        ],
        "requestBody": {
            "required": False,
            "content": json_content(
                {
                    "type": "object",
                    "properties": {
                        "args": {
                            "type": "array",
                            "maxItems": MAX_ARGS,
                            "items": {
                                "type": "string",
                                "maxLength": MAX_ARG_LENGTH,
                                "pattern": ARG_PATTERN,
                            },
                        }
                    },
                    "additionalProperties": False,
                }
            ),
        },
        "responses": {
            "200": {
                "description": (
                    "NDJSON: {output} lines as the program writes, then one status line. "
                    "HTTP/1.0 clients get it whole, with a Content-Length."
                ),
                "content": {"application/x-ndjson": {"schema": ref("SpawnLine")}},
            },
            **error_responses(*BODY_ERRORS, 404, 422, 503),
        },
    }
    if not allowed:
        return {}
    return {"/spawn/{name}": {"post": operation}}
