"""The routes a pod serves; ``CRUNCH_SERVICES`` decides which microservices are among them.

Each route carries its OpenAPI operations (``app.openapi.document``): /openapi.json is
built from this table and the task registry, so the two cannot drift.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from app.config import Settings
from app.openapi import document, openapi
from app.routes.health import HEALTHZ, METRICS, READYZ, healthz, metrics, readyz
from app.routes.index import INDEX, TASKS, index, tasks
from app.routes.services import service, service_operations
from app.routes.spawn import spawn, spawn_paths
from app.routes.work import WORK_ROUTE_METHODS, batch, batch_paths, work, work_paths


def build_routes(settings: Settings) -> list[BaseRoute]:
    routes: list[BaseRoute] = [
        document(Route("/", index, methods=["GET"]), INDEX),
        document(Route("/tasks", tasks, methods=["GET"]), TASKS),
        # Methods are checked per task in work() (a task that takes the body is POST
        # only), so the route lets every usual method through to it.
        document(Route("/work/{task}", work, methods=list(WORK_ROUTE_METHODS)), work_paths),
        document(Route("/batch", batch, methods=["POST"]), batch_paths),
        document(Route("/spawn/{name}", spawn, methods=["POST"]), spawn_paths),
        document(Route("/healthz", healthz, methods=["GET"]), HEALTHZ),
        document(Route("/readyz", readyz, methods=["GET"]), READYZ),
        document(Route("/metrics", metrics, methods=["GET"]), METRICS),
        Route("/openapi.json", openapi, methods=["GET"], include_in_schema=False),
    ]
    routes += [
        document(Route(f"/{name}", service(name), methods=["GET"]), service_operations(name))
        for name in settings.services
    ]
    return routes
