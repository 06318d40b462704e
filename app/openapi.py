"""The OpenAPI document, built from the route table and the task registry.

Each route carries its own operations: ``document(route, ...)`` attaches them, and
``build`` walks the app's routes and collects what they carry, so a route added
anywhere (a user's handler included) shows up without a second list to keep in step.
What a route may attach:

- a mapping ``{method: operation}`` for the route's own path, or
- a function ``(Context) -> {path: {method: operation}}`` when the operations depend on
  the configuration or the registry (``/work/{task}`` becomes one path per task).

A route with nothing attached still appears, with a generic operation per method.
Shared schemas live in ``COMPONENTS``; ``error_responses`` and ``json_content`` build the
usual pieces, so an operation states exactly the statuses its handler can answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from app import __version__
from app.config import Settings
from app.responses import JSONResponse
from app.state import state_of
from app.tasks.registry import Param, Task

Operation = dict[str, Any]
PathItems = dict[str, dict[str, Operation]]


@dataclass(frozen=True)
class Context:
    """What an operation builder may read: the running configuration and the tasks."""

    settings: Settings
    specs: Mapping[str, Task]


Builder = Callable[[Context], PathItems]
R = TypeVar("R", bound=BaseRoute)
_ATTRIBUTE = "crunch_openapi"


def document(route: R, operations: Mapping[str, Operation] | Builder) -> R:
    """Attach OpenAPI operations to ``route`` (read by ``build``); returns the route.

    ``operations`` is ``{"get": {...}, "post": {...}}`` for the route's own path, or a
    function of the ``Context`` returning ``{path: {method: operation}}``.
    """
    setattr(route, _ATTRIBUTE, operations)
    return route


def json_content(schema: Mapping[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": dict(schema)}}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


# Every error status crunch answers, and which codes it carries there.
ERROR_STATUSES: dict[int, tuple[str, tuple[str, ...]]] = {
    400: ("Malformed request: the body is not JSON", ("invalid_json", "bad_request")),
    404: ("No such route or program", ("not_found",)),
    408: ("The request body did not arrive in time", ("request_timeout",)),
    413: ("Body larger than CRUNCH_MAX_BODY", ("payload_too_large",)),
    415: ("A body of a type the route does not take", ("unsupported_media_type",)),
    422: (
        "Unknown task, invalid parameters, or a batch that can never fit",
        ("unknown_task", "invalid_params", "batch_too_large", "invalid_input"),
    ),
    500: (
        "The worker died mid-task, or the task raised",
        ("worker_crashed", "task_failed", "internal"),
    ),
    503: (
        "Full or shutting down: retry after Retry-After seconds",
        ("overloaded", "queue_timeout", "draining", "starting"),
    ),
    504: ("The task ran past its deadline", ("task_timeout",)),
}
_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds after which a retry can succeed",
        "required": True,
        "schema": {"type": "integer", "minimum": 1},
    }
}


def error_responses(*statuses: int) -> dict[str, Any]:
    """The error answers for ``statuses``, each with the Error schema (and Retry-After on 503)."""
    out: dict[str, Any] = {}
    for status in statuses:
        description, codes = ERROR_STATUSES[status]
        schema = {
            "allOf": [
                ref("Error"),
                {"type": "object", "properties": {"error": {"type": "string", "enum": codes}}},
            ]
        }
        answer: dict[str, Any] = {"description": description, "content": json_content(schema)}
        if status == 503:
            answer["headers"] = _RETRY_AFTER
        out[str(status)] = answer
    return out


# A task's run-time errors, and what any JSON body may get before a handler sees it.
TASK_ERRORS = (500, 503, 504)
BODY_ERRORS = (400, 408, 413, 415)

COMPONENTS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error", "detail"],
        "properties": {"error": {"type": "string"}, "detail": {"type": "string"}},
        "additionalProperties": False,
    },
    "Result": {
        "type": "object",
        "required": ["task", "result", "worker", "pod", "queue_ms", "run_ms"],
        "properties": {
            "task": {"type": "string"},
            "result": {"description": "whatever the task returned (JSON)"},
            "worker": {"type": "integer"},
            "pod": {"type": "string"},
            "queue_ms": {"type": "number", "minimum": 0},
            "run_ms": {"type": "number", "minimum": 0},
        },
        "additionalProperties": False,
    },
    "BatchResult": {
        "description": "A batch item that ran: the task's Result and status 200",
        "allOf": [
            ref("Result"),
            {
                "type": "object",
                "required": ["status"],
                "properties": {"status": {"type": "integer", "enum": [200]}},
            },
        ],
    },
    "BatchError": {
        "description": "A batch item that failed validation or at run time",
        "type": "object",
        "required": ["task", "status", "error", "detail"],
        "properties": {
            "task": {"type": "string"},
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "error": {"type": "string"},
            "detail": {"type": "string"},
        },
        "additionalProperties": False,
    },
    "SpawnLine": {
        "description": "One NDJSON line: an output chunk, then a final status line",
        "oneOf": [
            {
                "type": "object",
                "required": ["output"],
                "properties": {"output": {"type": "string"}},
                "additionalProperties": False,
            },
            {
                "type": "object",
                "required": ["exit", "bytes", "truncated", "timed_out", "duration_ms"],
                "properties": {
                    "exit": {"type": "integer", "nullable": True},
                    "bytes": {"type": "integer", "minimum": 0},
                    "truncated": {"type": "boolean"},
                    "timed_out": {"type": "boolean"},
                    "duration_ms": {"type": "number", "minimum": 0},
                },
                "additionalProperties": False,
            },
        ],
    },
}


def param_schema(param: Param) -> dict[str, Any]:
    """Exactly what the server accepts for one task parameter."""
    schema: dict[str, Any] = {"type": param.json_type}
    low, high = param.accepted
    if low is not None:
        schema["minimum"] = low
    if high is not None:
        schema["maximum"] = high
    if param.type is str:
        schema["maxLength"] = param.max_length
    if not param.required:
        schema["default"] = param.default
    if param.doc:
        schema["description"] = param.doc
    return schema


def task_operations(spec: Task) -> dict[str, Operation]:
    """``GET`` and ``POST /work/<task>``: the task's own parameters, bounds and answers."""
    headers = {
        "X-Worker": {"description": "worker id", "schema": {"type": "string"}},
        "Server-Timing": {"description": "queue and run time", "schema": {"type": "string"}},
    }
    ok = {
        "description": "The task's result",
        "headers": headers,
        "content": json_content(ref("Result")),
    }
    query = [
        {
            "name": p.name,
            "in": "query",
            "required": p.required,
            "schema": param_schema(p),
            **({"description": p.doc} if p.doc else {}),
        }
        for p in spec.params
    ]
    body = {
        "type": "object",
        "properties": {p.name: param_schema(p) for p in spec.params},
        "additionalProperties": False,
    }
    required = [p.name for p in spec.params if p.required]
    if required:
        body["required"] = required
    summary = spec.doc or f"Run the task {spec.name!r}"
    if spec.options.body:
        return {"post": _bytes_operation(spec, summary, query, headers, ok)}
    return {
        "get": {
            "operationId": f"work_{spec.name}_get",
            "summary": summary,
            "description": "Parameters in the query string, each at most once.",
            "parameters": query,
            "responses": {"200": ok, **error_responses(422, *TASK_ERRORS)},
        },
        "post": {
            "operationId": f"work_{spec.name}_post",
            "summary": summary,
            "description": (
                "Parameters as a JSON object (Content-Type: application/json). With no "
                "body, parameters may come from the query string; a parameter in both "
                "is refused."
            ),
            "requestBody": {"required": bool(required), "content": json_content(body)},
            "responses": {"200": ok, **error_responses(*BODY_ERRORS, 422, *TASK_ERRORS)},
        },
    }


def _bytes_operation(
    spec: Task,
    summary: str,
    query: list[dict[str, Any]],
    headers: dict[str, Any],
    json_ok: dict[str, Any],
) -> Operation:
    """``POST /work/<task>`` of a task that takes the body as bytes (and may answer bytes)."""
    binary = {"schema": {"type": "string", "format": "binary"}}
    answers = spec.options.answers
    ok = json_ok
    if answers is not None:
        ok = {
            "description": "The task's answer, served as-is",
            "headers": headers,
            "content": {answers: binary},
        }
    return {
        "operationId": f"work_{spec.name}_post",
        "summary": summary,
        "description": (
            f"The body is the task's input ({', '.join(spec.options.body)}, at most "
            "CRUNCH_MAX_BODY bytes); parameters come from the query string."
        ),
        "parameters": query,
        "requestBody": {"required": True, "content": dict.fromkeys(spec.options.body, binary)},
        "responses": {"200": ok, **error_responses(408, 413, 415, 422, *TASK_ERRORS)},
    }


def _generic(route: Route) -> dict[str, Operation]:
    """A route that attached nothing: each method, its path parameters, any answer."""
    doc = (route.endpoint.__doc__ or route.name or route.path).strip().split("\n")[0]
    params = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in route.param_convertors
    ]
    operation: Operation = {"summary": doc, "responses": {"default": {"description": "Answer"}}}
    if params:
        operation["parameters"] = params
    methods = sorted(route.methods or {"GET"})
    return {m.lower(): dict(operation) for m in methods if m != "HEAD"}


def _paths(route: BaseRoute, context: Context) -> PathItems:
    if not getattr(route, "include_in_schema", True):
        return {}
    attached = getattr(route, _ATTRIBUTE, None)
    if callable(attached):
        built: PathItems = attached(context)
        return built
    path = getattr(route, "path", None)
    if path is None:
        return {}
    if attached is not None:
        return {path: {method.lower(): op for method, op in attached.items()}}
    if isinstance(route, Route):
        return {path: _generic(route)}
    return {}


def build(
    settings: Settings, specs: Mapping[str, Task], routes: Iterable[BaseRoute]
) -> dict[str, Any]:
    context = Context(settings, specs)
    paths: PathItems = {}
    for route in routes:
        for path, operations in _paths(route, context).items():
            item = paths.setdefault(path, {})
            for method, op in operations.items():
                item[method] = {"operationId": operation_id(method, path), **op}
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "crunch",
            "version": __version__,
            "description": (
                "CPU-heavy work on a supervised worker pool. Every error is JSON "
                '{"error": code, "detail": text}.'
            ),
        },
        "paths": paths,
        "components": {"schemas": COMPONENTS},
    }


_OPERATION_ID = re.compile(r"[^A-Za-z0-9_]+")


def operation_id(method: str, path: str) -> str:
    """A stable id from method and path (``get_healthz``), for routes that set none."""
    return f"{method.lower()}_{_OPERATION_ID.sub('_', path).strip('_') or 'index'}"


async def openapi(request: Request) -> Response:
    """The OpenAPI document (built once, on first request)."""
    state = state_of(request)
    doc = state.extra.get("openapi")
    if doc is None:
        doc = state.extra["openapi"] = build(state.settings, state.pool.specs, request.app.routes)
    return JSONResponse(doc)
