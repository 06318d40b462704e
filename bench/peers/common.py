"""What every peer shares: the task table, parameter parsing, answers, the health route."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from app.cpu import available_cpus
from app.tasks.builtin import noop, primes, spin

#: The work functions, identical to crunch's built-in tasks.
TASKS: dict[str, Callable[..., Any]] = {"noop": noop, "spin": spin, "primes": primes}
#: Integer parameters each task takes.
PARAMS: dict[str, tuple[str, ...]] = {"noop": (), "spin": ("n",), "primes": ("limit",)}

POD = "peer"


class BadRequest(ValueError):
    pass


def workers() -> int:
    """Process count for peers that have a pool (``BENCH_WORKERS``, default: CPUs)."""
    return int(os.environ.get("BENCH_WORKERS") or available_cpus())


def call(task: str, params: Mapping[str, Any]) -> tuple[Callable[..., Any], dict[str, int]]:
    """The work function and its validated keyword arguments."""
    fn = TASKS.get(task)
    if fn is None:
        raise BadRequest(f"unknown task {task!r}")
    try:
        kwargs = {name: int(params[name]) for name in PARAMS[task]}
    except (KeyError, TypeError, ValueError) as exc:
        raise BadRequest(f"bad parameters for {task}: {exc}") from None
    return fn, kwargs


async def params_of(request: Request) -> dict[str, Any]:
    """Parameters from the query string, or a JSON object body (like crunch)."""
    params: dict[str, Any] = dict(request.query_params)
    body = await request.body()
    if body:
        data = json.loads(body)
        if isinstance(data, dict):
            params.update(data)
    return params


async def batch_calls(request: Request) -> list[tuple[str, Callable[..., Any], dict[str, int]]]:
    """Each item of a ``/batch`` body: (task, work function, validated arguments)."""
    try:
        data = json.loads(await request.body())
        if not isinstance(data, list):
            raise BadRequest("the body must be a JSON list")
        items = [(str(item["task"]), dict(item.get("params") or {})) for item in data]
    except BadRequest:
        raise
    except (KeyError, ValueError) as exc:
        raise BadRequest(str(exc)) from None
    return [(task, *call(task, params)) for task, params in items]


def run_timed(fn: Callable[..., Any], kwargs: Mapping[str, int]) -> tuple[Any, int, float]:
    """Run ``fn`` here and now: (result, pid, run seconds). Also the executor's worker entry."""
    start = time.perf_counter()
    value = fn(**kwargs)
    return value, os.getpid(), time.perf_counter() - start


def answer(
    task: str, value: Any, worker: int, run_s: float, queue_s: float = 0.0
) -> dict[str, Any]:
    return {
        "task": task,
        "result": value,
        "worker": worker,
        "pod": POD,
        "queue_ms": round(queue_s * 1000, 3),
        "run_ms": round(run_s * 1000, 3),
    }


def bad_request(exc: Exception) -> JSONResponse:
    return JSONResponse({"error": "bad_request", "detail": str(exc)}, status_code=400)


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


HEALTH = Route("/healthz", healthz)
