"""``/healthz``, ``/readyz`` and ``/metrics``: answered by the event loop alone, always fast."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from app.errors import Draining, Starting
from app.metrics import CONTENT_TYPE_LATEST
from app.openapi import Operation, error_responses, json_content
from app.responses import JSONResponse, error_response
from app.state import state_of


async def healthz(request: Request) -> Response:
    # Liveness: answering at all proves the event loop is not blocked.
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    state = state_of(request)
    if state.admission.draining:
        return error_response(Draining("shutting down"))
    if not state.admission.ready:
        return error_response(Starting("worker pool is starting"))
    pool = state.pool
    return JSONResponse(
        {"status": "ready", "workers": pool.size, "busy": pool.busy, "queued": pool.queued}
    )


async def metrics(request: Request) -> Response:
    return Response(state_of(request).metrics.render(), media_type=CONTENT_TYPE_LATEST)


HEALTHZ: dict[str, Operation] = {
    "get": {
        "summary": "Liveness: the event loop answers",
        "responses": {
            "200": {
                "description": "Alive",
                "content": json_content(
                    {
                        "type": "object",
                        "required": ["status"],
                        "properties": {"status": {"type": "string", "enum": ["ok"]}},
                        "additionalProperties": False,
                    }
                ),
            }
        },
    }
}

READYZ: dict[str, Operation] = {
    "get": {
        "summary": "Readiness: 503 while starting or draining",
        "responses": {
            "200": {
                "description": "Ready, with the pool's state",
                "content": json_content(
                    {
                        "type": "object",
                        "required": ["status", "workers", "busy", "queued"],
                        "properties": {
                            "status": {"type": "string", "enum": ["ready"]},
                            "workers": {"type": "integer", "minimum": 1},
                            "busy": {"type": "integer", "minimum": 0},
                            "queued": {"type": "integer", "minimum": 0},
                        },
                        "additionalProperties": False,
                    }
                ),
            },
            **error_responses(503),
        },
    }
}

METRICS: dict[str, Operation] = {
    "get": {
        "summary": "Prometheus metrics",
        "responses": {
            "200": {
                "description": "Prometheus text exposition format 0.0.4",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            }
        },
    }
}
