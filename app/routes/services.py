"""``/hello`` and ``/world``: the seed's two microservices, each spinning a random size."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

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
