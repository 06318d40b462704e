"""``POST /spawn/{name}``: an allowlisted program's output, streamed as it arrives."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from app.errors import InvalidParams, Overloaded
from app.payload import read_json
from app.spawn import Lease, validate_args
from app.state import state_of


async def spawn(request: Request) -> Response:
    state = state_of(request)
    spawner = state.spawner
    name: str = request.path_params["name"]
    spawner.resolve(name)
    body = await read_json(request, state.settings.max_body)
    if body is None:
        body = {}
    if not isinstance(body, dict) or set(body) - {"args"}:
        raise InvalidParams('the body must be a JSON object {"args": [...]}')
    args = validate_args(body.get("args"))
    if state.admission.draining:
        state.admission.check()
    try:
        lease = spawner.reserve()
    except Overloaded:
        state.metrics.rejected.labels("spawn_busy").inc()
        raise
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
