"""``/work/{task}`` and ``/batch``: the pool's HTTP face."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from app.errors import CrunchError, InvalidParams
from app.payload import read_bytes, read_json
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


def binary_response(result: TaskResult) -> Response:
    """A task's ``Binary`` answer, served as-is with its content type."""
    value: Binary = result.value
    return Response(value.data, media_type=value.content_type, headers=timing_headers(result))


async def work(request: Request) -> Response:
    state = state_of(request)
    name: str = request.path_params["task"]
    spec = lookup(state.pool.specs, name)
    accepted = spec.options.body
    if accepted:
        if request.method != "POST":
            raise InvalidParams(f"task {name!r} takes the request body: POST it")
        raw, from_text = dict(request.query_params), True
        params = spec.validate(raw, from_text=from_text)
        params["body"] = await read_bytes(request, state.settings.max_body, accepted)
    elif request.method == "POST":
        body = await read_json(request, state.settings.max_body)
        if body is None:
            raw, from_text = dict(request.query_params), True
        elif isinstance(body, dict):
            raw, from_text = body, False
        else:
            raise InvalidParams("the body must be a JSON object of parameters")
    else:
        raw, from_text = dict(request.query_params), True
    if not accepted:
        params = spec.validate(raw, from_text=from_text)
    result = await state.admission.run(name, params)
    if isinstance(result.value, Binary):
        return binary_response(result)
    return JSONResponse(
        result_body(result, state.settings.pod_name), headers=timing_headers(result)
    )


async def _run_item(state: AppState, item: tuple[str, dict[str, Any]] | CrunchError) -> Any:
    if isinstance(item, CrunchError):
        return {"status": item.status, **item.body()}
    try:
        result = await state.admission.run(*item)
    except CrunchError as exc:
        return {"task": item[0], "status": exc.status, **exc.body()}
    if isinstance(result.value, Binary):
        detail = f"task {item[0]!r} answers bytes; run it with /work/{item[0]}"
        return {"task": item[0], "status": 422, "error": "binary_result", "detail": detail}
    return {"status": 200, **result_body(result, state.settings.pod_name)}


def _parse_item(state: AppState, index: int, item: Any) -> tuple[str, dict[str, Any]]:
    if not isinstance(item, dict) or not isinstance(item.get("task"), str):
        raise InvalidParams(f"item {index}: expected an object with a string 'task'")
    extra = set(item) - {"task", "params"}
    if extra:
        raise InvalidParams(f"item {index}: unexpected key {sorted(extra)[0][:40]!r}")
    params = item.get("params", {})
    if not isinstance(params, dict):
        raise InvalidParams(f"item {index}: 'params' must be an object")
    spec = lookup(state.pool.specs, item["task"])
    if spec.options.body:
        raise InvalidParams(f"item {index}: task {spec.name!r} takes a request body; use /work")
    return spec.name, spec.validate(params, from_text=False)


async def batch(request: Request) -> Response:
    """Run many tasks concurrently; answer a list in request order.

    Each item succeeds or fails on its own (``status`` per item), so one bad or
    failing item never costs the others their results. The batch is admitted as a
    whole: if its tasks cannot all start or queue, the whole request gets 503.
    """
    state = state_of(request)
    body = await read_json(request, state.settings.max_body)
    if not isinstance(body, list) or not body:
        raise InvalidParams('the body must be a non-empty JSON list of {"task", "params"}')
    if len(body) > state.settings.batch_limit:
        raise InvalidParams(f"at most {state.settings.batch_limit} items per batch")
    items: list[tuple[str, dict[str, Any]] | CrunchError] = []
    for index, raw in enumerate(body):
        try:
            items.append(_parse_item(state, index, raw))
        except CrunchError as exc:
            items.append(exc)
    state.admission.check(sum(1 for item in items if not isinstance(item, CrunchError)))
    results = await asyncio.gather(*(_run_item(state, item) for item in items))
    return JSONResponse(results)
