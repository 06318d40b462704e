"""The app factory and its lifespan: everything a pod runs, wired in one place."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import Route

from app import handlers
from app.admission import Admission
from app.config import ConfigError, Settings
from app.errors import CrunchError
from app.logs import AccessLog
from app.looplag import monitor_lag
from app.metrics import Metrics
from app.middleware import RequestContextMiddleware
from app.pool import Pool
from app.responses import crunch_error, http_error, internal_error
from app.routes import build_routes
from app.spawn import Spawner
from app.state import AppState
from app.tasks.registry import load_modules, registry

log = logging.getLogger("crunch")


def create_app(settings: Settings | None = None) -> Starlette:
    """Build the ASGI app. Everything that can be wrong with the configuration fails here."""
    settings = settings or Settings.load()
    try:
        load_modules(settings.task_modules)
    except ImportError as exc:
        raise ConfigError(f"CRUNCH_TASK_MODULES: cannot import {exc.name or exc}") from None
    spawner = Spawner.from_settings(settings)
    metrics = Metrics(task.name for task in registry)
    pool = Pool(settings, registry, observer=metrics)
    admission = Admission(pool, metrics)
    metrics.attach(admission)
    access_log = AccessLog(settings.log_format) if settings.access_log else None
    state = AppState(settings, pool, admission, metrics, spawner)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if access_log is not None:
            access_log.start()
        await pool.start()
        lag = asyncio.create_task(monitor_lag(metrics.loop_lag), name="crunch-loop-lag")
        admission.open()
        log.info(
            "crunch ready",
            extra={"workers": pool.size, "pod": settings.pod_name, "services": settings.services},
        )
        try:
            yield
        finally:
            admission.close()
            lag.cancel()
            await pool.close()
            await spawner.close()
            if access_log is not None:
                access_log.stop()

    routes = build_routes(settings)
    try:
        routes += handlers.starlette_routes(r.path for r in routes if isinstance(r, Route))
    except ValueError as exc:
        raise ConfigError(f"CRUNCH_TASK_MODULES: {exc}") from None
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(RequestContextMiddleware, admission=admission, access_log=access_log)
        ],
        exception_handlers={
            CrunchError: crunch_error,
            HTTPException: http_error,
            Exception: internal_error,
        },
        lifespan=lifespan,
    )
    app.state.crunch = state
    return app
