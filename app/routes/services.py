"""``/hello`` and ``/world``: the seed's two microservices, each spinning a random size."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from app.openapi import TASK_ERRORS, Operation, error_responses
from app.routes.work import timing_headers
from app.state import state_of


def service(name: str) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        state = state_of(request)
        n = random.randint(state.settings.spin_min, state.settings.spin_max)
        result = await state.admission.run("spin", {"n": n})
        text = (
            f"{name} from pod {state.settings.pod_name}, worker {result.worker}: "
            f"spin({n}) in {result.run_s * 1000:.1f} ms\n"
        )
        return PlainTextResponse(text, headers=timing_headers(result))

    endpoint.__name__ = name
    return endpoint


def service_operations(name: str) -> dict[str, Operation]:
    return {
        "get": {
            "summary": f"The {name} microservice: spins a random size on the pool",
            "responses": {
                "200": {
                    "description": "Text naming service, pod and worker",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                },
                **error_responses(*TASK_ERRORS),
            },
        }
    }
