"""The OpenAPI document, generated from the routes this pod serves and the task registry."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from app import __version__, handlers
from app.config import Settings
from app.responses import JSONResponse
from app.state import state_of
from app.tasks.registry import TaskSpec

_TYPES = {int: "integer", float: "number", str: "string", bool: "boolean"}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


ERRORS = {
    "400": _error("Malformed request (bad JSON)"),
    "413": _error("Body too large"),
    "422": _error("Unknown task or invalid parameters"),
    "503": _error("Queue full or draining; see Retry-After"),
    "504": _error("The task passed its deadline"),
}


def build(settings: Settings, specs: Mapping[str, TaskSpec]) -> dict[str, Any]:
    params_schema: dict[str, Any] = {"type": "object", "additionalProperties": True}
    task_param = {
        "name": "task",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "enum": sorted(specs)},
    }
    query_params: dict[str, dict[str, Any]] = {}
    for spec in specs.values():
        for p in spec.params:
            schema: dict[str, Any] = {"type": _TYPES[p.type]}
            if p.minimum is not None:
                schema["minimum"] = p.minimum
            if p.maximum is not None:
                schema["maximum"] = p.maximum
            query_params[p.name] = {"name": p.name, "in": "query", "schema": schema}
    work_ok = {
        "description": "The task's result",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Result"}}},
    }
    text = {"description": "Text naming service, pod and worker", "content": {"text/plain": {}}}
    paths: dict[str, Any] = {
        "/": {"get": {"summary": "Index page", "responses": {"200": {"description": "HTML"}}}},
        "/tasks": {
            "get": {"summary": "Registered tasks", "responses": {"200": {"description": "Tasks"}}}
        },
        "/work/{task}": {
            "get": {
                "summary": "Run a task (parameters in the query string)",
                "parameters": [task_param, *query_params.values()],
                "responses": {"200": work_ok, **ERRORS},
            },
            "post": {
                "summary": "Run a task (parameters as a JSON object)",
                "parameters": [task_param],
                "requestBody": {"content": {"application/json": {"schema": params_schema}}},
                "responses": {"200": work_ok, **ERRORS},
            },
        },
        "/batch": {
            "post": {
                "summary": "Run many tasks concurrently; results in request order",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "array",
                                "minItems": 1,
                                "maxItems": settings.batch_limit,
                                "items": {
                                    "type": "object",
                                    "required": ["task"],
                                    "properties": {
                                        "task": {"type": "string", "enum": sorted(specs)},
                                        "params": params_schema,
                                    },
                                },
                            }
                        }
                    },
                },
                "responses": {"200": {"description": "One entry per item"}, **ERRORS},
            }
        },
        "/spawn/{name}": {
            "post": {
                "summary": "Run an allowlisted program; output streams as NDJSON",
                "parameters": [
                    {
                        "name": "name",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "enum": list(settings.spawn_allow)},
                    }
                ],
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "args": {"type": "array", "items": {"type": "string"}}
                                },
                            }
                        }
                    }
                },
                "responses": {
                    "200": {"description": "NDJSON", "content": {"application/x-ndjson": {}}},
                    "404": _error("Program not allowed"),
                    **ERRORS,
                },
            }
        },
        "/healthz": {"get": {"summary": "Liveness", "responses": {"200": {"description": "OK"}}}},
        "/readyz": {
            "get": {
                "summary": "Readiness",
                "responses": {"200": {"description": "Ready"}, "503": _error("Draining")},
            }
        },
        "/metrics": {
            "get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "Text"}}}
        },
    }
    for entry in handlers.registered():  # user handlers (app/handlers.py)
        paths[entry.path] = {m.lower(): entry.operation() for m in entry.methods}
    for name in settings.services:
        paths[f"/{name}"] = {
            "get": {"summary": f"The {name} microservice", "responses": {"200": text, **ERRORS}}
        }
    return {
        "openapi": "3.0.3",
        "info": {"title": "crunch", "version": __version__},
        "paths": paths,
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error", "detail"],
                    "properties": {"error": {"type": "string"}, "detail": {"type": "string"}},
                },
                "Result": {
                    "type": "object",
                    "required": ["task", "result", "worker", "pod", "queue_ms", "run_ms"],
                    "properties": {
                        "task": {"type": "string"},
                        "result": {},
                        "worker": {"type": "integer"},
                        "pod": {"type": "string"},
                        "queue_ms": {"type": "number"},
                        "run_ms": {"type": "number"},
                    },
                },
            }
        },
    }


async def openapi(request: Request) -> Response:
    state = state_of(request)
    doc = state.extra.get("openapi")
    if doc is None:
        doc = state.extra["openapi"] = build(state.settings, state.pool.specs)
    return JSONResponse(doc)
