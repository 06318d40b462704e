"""The routes a pod serves; ``CRUNCH_SERVICES`` decides which microservices are among them."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from app.config import Settings
from app.openapi import openapi
from app.routes.health import healthz, metrics, readyz
from app.routes.index import index, tasks
from app.routes.services import service
from app.routes.spawn import spawn
from app.routes.work import batch, work


def build_routes(settings: Settings) -> list[BaseRoute]:
    routes: list[BaseRoute] = [
        Route("/", index, methods=["GET"]),
        Route("/tasks", tasks, methods=["GET"]),
        Route("/work/{task}", work, methods=["GET", "POST"]),
        Route("/batch", batch, methods=["POST"]),
        Route("/spawn/{name}", spawn, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"], include_in_schema=False),
    ]
    routes += [Route(f"/{name}", service(name), methods=["GET"]) for name in settings.services]
    return routes
