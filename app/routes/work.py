"""``/work/{task}`` and ``/batch``: the pool's HTTP face."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from app.errors import BatchTooLarge, CrunchError, InvalidParams
from app.openapi import (
    BODY_ERRORS,
    Context,
    PathItems,
    error_responses,
    json_content,
    ref,
    task_operations,
)
from app.payload import NO_BODY, read_bytes, read_json
from app.pool import TaskResult
from app.responses import JSONResponse
from app.state import AppState, state_of
from app.tasks.registry import lookup
from app.tasks.results import Binary


def result_body(result: TaskResult, pod: str) -> dict[str, Any]:
    return {
        "task": result.task,
        "result": result.value,
        "worker": result.worker,
        "pod": pod,
        "queue_ms": round(result.queue_s * 1000, 3),
        "run_ms": round(result.run_s * 1000, 3),
    }


def timing_headers(result: TaskResult) -> dict[str, str]:
    return {
        "X-Worker": str(result.worker),
        "Server-Timing": (
            f"queue;dur={result.queue_s * 1000:.3f}, run;dur={result.run_s * 1000:.3f}"
        ),
    }


def query_params(request: Request) -> dict[str, str]:
    """The query string as a dict; a parameter given twice is refused, not overwritten."""
    params: dict[str, str] = {}
    for key, value in request.query_params.multi_items():
        if key in params:
            raise InvalidParams(f"parameter {key[:40]!r} is given more than once")
        params[key] = value
    return params


JSON_METHODS = ("GET", "HEAD", "POST")
BYTES_METHODS = ("POST",)
WORK_ROUTE_METHODS = (*JSON_METHODS, "PUT", "PATCH", "DELETE", "OPTIONS")


def _allow(method: str, allowed: tuple[str, ...]) -> None:
    if method not in allowed:
        raise HTTPException(405, headers={"Allow": ", ".join(allowed)})


async def work(request: Request) -> Response:
    state = state_of(request)
    name: str = request.path_params["task"]
    spec = lookup(state.pool.specs, name)
    accepted = spec.options.body
    _allow(request.method, BYTES_METHODS if accepted else JSON_METHODS)
    text = query_params(request)
    if accepted:
        # The body is the task's input (bytes); its parameters come from the query.
        settings = state.settings
        params = spec.validate_sources(text=text)
        params["body"] = await read_bytes(
            request, settings.max_body, settings.body_timeout, accepted
        )
    elif request.method == "POST":
        settings = state.settings
        body = await read_json(request, settings.max_body, settings.body_timeout)
        if body is NO_BODY:
            body = {}
        elif not isinstance(body, dict):
            raise InvalidParams("the body must be a JSON object of parameters")
        params = spec.validate_sources(text=text, json=body)
    else:
        params = spec.validate_sources(text=text)
    result = await state.admission.run(name, params)
    if isinstance(result.value, Binary):
        return binary_response(result)
    return JSONResponse(
        result_body(result, state.settings.pod_name), headers=timing_headers(result)
    )


def binary_response(result: TaskResult) -> Response:
    """A task's ``Binary`` answer, served as-is with its content type."""
    value: Binary = result.value
    return Response(value.data, media_type=value.content_type, headers=timing_headers(result))


Item = tuple[str, dict[str, Any] | CrunchError]


async def _run_item(state: AppState, item: Item) -> Any:
    name, params = item
    if isinstance(params, CrunchError):
        return {"task": name, "status": params.status, **params.body()}
    try:
        result = await state.admission.run(name, params)
    except CrunchError as exc:
        return {"task": name, "status": exc.status, **exc.body()}
    if isinstance(result.value, Binary):
        detail = f"task {name!r} answers bytes; run it with /work/{name}"
        return {"task": name, "status": 422, "error": "binary_result", "detail": detail}
    return {"status": 200, **result_body(result, state.settings.pod_name)}


def _parse_item(state: AppState, index: int, item: Any) -> Item:
    """The item's task and parameters; a task or parameter the registry refuses fails
    only this item (with its "task"), a malformed item fails the whole batch."""
    if not isinstance(item, dict) or not isinstance(item.get("task"), str):
        raise InvalidParams(f"item {index}: expected an object with a string 'task'")
    extra = set(item) - {"task", "params"}
    if extra:
        raise InvalidParams(f"item {index}: unexpected key {sorted(extra)[0][:40]!r}")
    params = item.get("params", {})
    if not isinstance(params, dict):
        raise InvalidParams(f"item {index}: 'params' must be an object")
    name: str = item["task"]
    try:
        spec = lookup(state.pool.specs, name)
        if spec.options.body:
            raise InvalidParams(f"item {index}: task {spec.name!r} takes a request body; use /work")
        return spec.name, spec.validate(params, from_text=False)
    except CrunchError as exc:
        return name, exc


async def batch(request: Request) -> Response:
    """Run many tasks concurrently; answer a list in request order.

    Each item succeeds or fails on its own (``status`` per item), so one bad or
    failing item never costs the others their results. The batch is admitted as a
    whole: if its tasks cannot all start or queue now, the request gets 503; if it
    has more items than the pod could ever admit at once, 422 (retrying cannot help).
    """
    state = state_of(request)
    settings = state.settings
    body = await read_json(request, settings.max_body, settings.body_timeout)
    if not isinstance(body, list) or not body:
        raise InvalidParams('the body must be a non-empty JSON list of {"task", "params"}')
    if len(body) > settings.max_batch:
        raise BatchTooLarge(
            f"{len(body)} items; this pod admits at most {settings.max_batch} at once "
            "(CRUNCH_BATCH_LIMIT): split the batch"
        )
    items = [_parse_item(state, index, raw) for index, raw in enumerate(body)]
    state.admission.check(sum(1 for _, params in items if not isinstance(params, CrunchError)))
    results = await asyncio.gather(*(_run_item(state, item) for item in items))
    return JSONResponse(results)


def work_paths(context: Context) -> PathItems:
    """One path per registered task, each with its own parameters."""
    return {f"/work/{name}": task_operations(spec) for name, spec in sorted(context.specs.items())}


def batch_paths(context: Context) -> PathItems:
    item = {
        "type": "object",
        "required": ["task"],
        "properties": {
            "task": {"type": "string", "description": "a task name (see /tasks)"},
            "params": {"type": "object", "description": "the task's parameters"},
        },
        "additionalProperties": False,
    }
    return {
        "/batch": {
            "post": {
                "summary": "Run many tasks concurrently; results in request order",
                "description": (
                    "An unknown task or invalid parameters fail only their item (status 422 "
                    "in the answer). The batch is admitted as a whole: 503 + Retry-After "
                    "when it does not fit now; 422 batch_too_large when it never could."
                ),
                "requestBody": {
                    "required": True,
                    "content": json_content(
                        {
                            "type": "array",
                            "minItems": 1,
                            "maxItems": context.settings.max_batch,
                            "items": item,
                        }
                    ),
                },
                "responses": {
                    "200": {
                        "description": "One entry per item, in request order",
                        "content": json_content(
                            {
                                "type": "array",
                                "items": {"oneOf": [ref("BatchResult"), ref("BatchError")]},
                            }
                        ),
                    },
                    **error_responses(*BODY_ERRORS, 422, 503),
                },
            }
        }
    }
