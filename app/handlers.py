"""User handlers: async routes that compose tasks, the seed's ``co.wrap`` done right.

A module listed in ``CRUNCH_TASK_MODULES`` may register routes next to its tasks::

    from app.handlers import route, run

    @route("/thumbs", methods=["POST"])
    async def thumbs(request: Request) -> dict[str, Any]:
        body = await request.body()
        small, large = await asyncio.gather(
            run("thumbnail", body=body, size=64), run("thumbnail", body=body, size=256)
        )
        ...

Each ``run`` goes through the same admission, deadline, metrics and errors as
``/work``: a full queue raises the 503 (with ``Retry-After``), a task past its
deadline the 504, a failing task its 500, and the app turns each into its JSON
answer. A handler may return a Starlette ``Response``, a ``Binary`` (served as-is),
or anything JSON can encode.
"""

from __future__ import annotations

import contextvars
import inspect
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.errors import InvalidParams
from app.openapi import BODY_ERRORS, TASK_ERRORS, Operation, document, error_responses
from app.payload import read_bytes
from app.responses import JSONResponse
from app.state import AppState, state_of
from app.tasks.registry import lookup
from app.tasks.results import Binary

Handler = Callable[[Request], Awaitable[Any]]

_state: contextvars.ContextVar[AppState] = contextvars.ContextVar("crunch_handler_state")


@dataclass(frozen=True)
class HandlerRoute:
    """A user route as registered: its path template, methods, handler and docs."""

    path: str
    methods: tuple[str, ...]
    handler: Handler
    summary: str
    doc: str

    def operation(self) -> Operation:
        """The OpenAPI operation of each method: what any handler composing tasks may answer."""
        op: Operation = {
            "summary": self.summary,
            "responses": {
                "200": {"description": "The handler's answer"},
                **error_responses(*BODY_ERRORS, 422, *TASK_ERRORS),
            },
        }
        if self.doc:
            op["description"] = self.doc
        params = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in re.findall(r"{([a-zA-Z_][a-zA-Z0-9_]*)(?::[a-z]+)?}", self.path)
        ]
        if params:
            op["parameters"] = params
        return op


_routes: dict[str, HandlerRoute] = {}


def route(
    path: str, methods: Iterable[str] = ("GET",), summary: str | None = None
) -> Callable[[Handler], Handler]:
    """Register ``async def handler(request)`` at ``path`` (a Starlette path template)."""
    verbs = tuple(m.upper() for m in methods)

    def register(handler: Handler) -> Handler:
        if not inspect.iscoroutinefunction(handler):
            raise TypeError(f"handler for {path!r} must be an async def (it awaits tasks)")
        if not path.startswith("/"):
            raise ValueError(f"handler path {path!r} must start with /")
        existing = _routes.get(path)
        if existing is not None and existing.handler is not handler:
            raise ValueError(f"two handlers for {path!r}")
        lines = (handler.__doc__ or "").strip().split("\n")
        _routes[path] = HandlerRoute(
            path, verbs, handler, summary or lines[0] or handler.__name__, "\n".join(lines[1:])
        )
        return handler

    return register


def registered() -> list[HandlerRoute]:
    return list(_routes.values())


async def run(task: str, /, **params: Any) -> Any:
    """Run ``task`` on the pool from a handler and return its result.

    Parameters are checked as a JSON body's would be; a task that takes the body gets
    ``body=`` bytes. Errors are raised as crunch's errors (the app answers them).
    """
    try:
        state = _state.get()
    except LookupError:
        raise RuntimeError("run() is for handlers registered with @route") from None
    spec = lookup(state.pool.specs, task)
    body = params.pop("body", None) if spec.options.body else None
    checked = spec.validate(params, from_text=False)
    if spec.options.body:
        if not isinstance(body, bytes | bytearray | memoryview):
            raise InvalidParams(f"task {task!r} takes body= as bytes")
        checked["body"] = body if isinstance(body, bytes) else bytes(body)
    result = await state.admission.run(task, checked)
    return result.value


async def read_body(request: Request, accepted: tuple[str, ...] = ("*/*",)) -> bytes:
    """The request body for ``run(..., body=...)``: bounded by CRUNCH_MAX_BODY (413) and
    CRUNCH_BODY_TIMEOUT (408), of an ``accepted`` content type (415; ``image/*`` matches
    any image)."""
    settings = state_of(request).settings
    return await read_bytes(request, settings.max_body, settings.body_timeout, accepted)


def _respond(value: Any) -> Response:
    if isinstance(value, Response):
        return value
    if isinstance(value, Binary):
        return Response(value.data, media_type=value.content_type)
    return JSONResponse(value)


def starlette_routes(taken: Iterable[str]) -> list[Route]:
    """The registered handlers as Starlette routes; a path crunch serves itself is refused."""
    reserved = set(taken)
    out: list[Route] = []
    for entry in _routes.values():
        if entry.path in reserved:
            raise ValueError(f"handler path {entry.path!r} is one of crunch's own routes")

        async def endpoint(request: Request, entry: HandlerRoute = entry) -> Response:
            token = _state.set(state_of(request))
            try:
                return _respond(await entry.handler(request))
            finally:
                _state.reset(token)

        route = Route(entry.path, endpoint, methods=list(entry.methods))
        out.append(document(route, {m: entry.operation() for m in entry.methods}))
    return out
