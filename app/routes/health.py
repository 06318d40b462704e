"""``/healthz``, ``/readyz`` and ``/metrics``: answered by the event loop alone, always fast."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from app.metrics import CONTENT_TYPE_LATEST
from app.responses import JSONResponse
from app.state import state_of


async def healthz(request: Request) -> Response:
    # Liveness: answering at all proves the event loop is not blocked.
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    state = state_of(request)
    if state.admission.draining:
        return JSONResponse(
            {"error": "draining", "detail": "shutting down"},
            status_code=503,
            headers={"Retry-After": "1"},
        )
    if not state.ready:
        return JSONResponse(
            {"error": "starting", "detail": "worker pool is starting"},
            status_code=503,
            headers={"Retry-After": "1"},
        )
    pool = state.pool
    return JSONResponse(
        {"status": "ready", "workers": pool.size, "busy": pool.busy, "queued": pool.queued}
    )


async def metrics(request: Request) -> Response:
    return Response(state_of(request).metrics.render(), media_type=CONTENT_TYPE_LATEST)
