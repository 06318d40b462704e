"""Request middleware: bounded route labels, request ids, per-request metrics and access log."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Awaitable, Callable

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from app.admission import Admission
from app.config import Settings
from app.logs import AccessLog
from app.metrics import Metrics
from app.middleware import RequestContextMiddleware
from app.pool import Pool

GENERATED_ID = re.compile(r"[0-9a-f]{16}")


async def echo_request_id(scope: Scope, receive: Receive, send: Send) -> None:
    """A bare ASGI app answering with the request id the middleware put in the scope."""
    if scope["path"] == "/boom":
        raise RuntimeError("boom")
    body = scope["state"]["request_id"].encode()
    await send(
        {
            "type": "http.response.start",
            "status": 201,
            "headers": [(b"content-type", b"text/plain"), (b"x-app", b"1")],
        }
    )
    await send({"type": "http.response.body", "body": body})


def lifecycle(metrics: Metrics) -> Admission:
    """The owner of the in-flight count, over a pool never started: these apps run no task."""
    return Admission(Pool(Settings(workers=1)), metrics)


def client(metrics: Metrics, access_log: AccessLog | None = None) -> httpx.AsyncClient:
    return client_of(lifecycle(metrics), access_log)


def client_of(admission: Admission, access_log: AccessLog | None = None) -> httpx.AsyncClient:
    app = RequestContextMiddleware(echo_request_id, admission, access_log)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


# Route labels come from the route table


async def ok(request: Request) -> Response:
    return PlainTextResponse("ok")


def endpoint() -> Callable[[Request], Awaitable[Response]]:
    """A fresh endpoint per route, as real routes have."""

    async def answer(request: Request) -> Response:
        return PlainTextResponse("ok")

    return answer


def routed(metrics: Metrics) -> httpx.AsyncClient:
    app = Starlette(
        routes=[
            Route("/", endpoint()),
            Route("/healthz", endpoint()),
            Route("/work/{task}", endpoint(), methods=["GET", "POST"]),
            Route("/spawn/{name}", endpoint(), methods=["POST"]),
            Route("/thumbs", endpoint(), methods=["POST"]),  # as a user module would add
        ],
        middleware=[
            Middleware(RequestContextMiddleware, admission=lifecycle(metrics), access_log=None)
        ],
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def labels_seen(metrics: Metrics) -> set[str]:
    return {
        sample.labels["route"]
        for family in metrics.registry.collect()
        if family.name == "crunch_requests"
        for sample in family.samples
    }


@pytest.mark.parametrize(
    ("method", "path", "label"),
    [
        ("GET", "/", "/"),
        ("GET", "/healthz", "/healthz"),
        ("GET", "/work/spin", "/work/{task}"),
        ("POST", "/work/" + "x" * 5000, "/work/{task}"),
        ("POST", "/spawn/ls%20-R", "/spawn/{name}"),
        ("POST", "/thumbs", "/thumbs"),
    ],
)
async def test_request_is_labelled_with_its_route_template(
    method: str, path: str, label: str
) -> None:
    metrics = Metrics()
    async with routed(metrics) as c:
        assert (await c.request(method, path)).status_code == 200
    assert labels_seen(metrics) == {label}


async def test_wrong_method_is_labelled_with_the_route_it_missed() -> None:
    metrics = Metrics()
    async with routed(metrics) as c:
        assert (await c.get("/spawn/ls")).status_code == 405
    assert labels_seen(metrics) == {"/spawn/{name}"}


@pytest.mark.parametrize(
    "path", ["/work", "/work/a/b", "/healthz/", "/HELLO", "/favicon.ico", "/%00"]
)
async def test_path_no_route_matches_is_other(path: str) -> None:
    metrics = Metrics()
    async with routed(metrics) as c:
        assert (await c.get(path)).status_code in (307, 404)  # 307: Starlette's slash redirect
    assert labels_seen(metrics) == {"other"}


async def test_one_endpoint_on_two_paths_is_labelled_by_the_path_that_matched() -> None:
    metrics = Metrics()
    app = Starlette(
        routes=[Route("/a/{x}", ok), Route("/b", ok)],
        middleware=[
            Middleware(RequestContextMiddleware, admission=lifecycle(metrics), access_log=None)
        ],
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        await c.get("/b")
        await c.get("/a/1")
    assert labels_seen(metrics) == {"/a/{x}", "/b"}


async def test_thousand_random_paths_give_a_bounded_label_set() -> None:
    metrics = Metrics()
    async with routed(metrics) as c:
        for i in range(300):
            for prefix in ("work", "spawn", "x"):
                await c.get(f"/{prefix}/{i}")
    assert labels_seen(metrics) == {"/work/{task}", "/spawn/{name}", "other"}


# Request ids


async def test_valid_request_id_is_kept() -> None:
    async with client(Metrics()) as c:
        response = await c.get("/", headers={"X-Request-ID": "abc-123_x.y:z"})
    assert response.headers["x-request-id"] == "abc-123_x.y:z"
    assert response.text == "abc-123_x.y:z"


@pytest.mark.parametrize(
    "junk", [b"has space", b"semi;colon", "\u00fcn".encode("latin-1"), b"x" * 65, b""]
)
async def test_junk_request_id_is_replaced(junk: bytes) -> None:
    async with client(Metrics()) as c:
        response = await c.get("/", headers={b"X-Request-ID": junk})
    assert GENERATED_ID.fullmatch(response.headers["x-request-id"])


async def test_missing_request_id_is_generated() -> None:
    async with client(Metrics()) as c:
        response = await c.get("/")
    assert GENERATED_ID.fullmatch(response.headers["x-request-id"])
    assert response.text == response.headers["x-request-id"]


async def test_each_request_gets_its_own_generated_id() -> None:
    async with client(Metrics()) as c:
        ids = {(await c.get("/")).headers["x-request-id"] for _ in range(5)}
    assert len(ids) == 5


async def test_app_headers_and_status_are_kept() -> None:
    async with client(Metrics()) as c:
        response = await c.get("/")
    assert (response.status_code, response.headers["x-app"]) == (201, "1")


# Metrics and access log


async def test_request_is_counted_under_its_route_label() -> None:
    metrics = Metrics()
    async with routed(metrics) as c:
        await c.get("/work/anything")
        await c.post("/work/else")
    labels = {"route": "/work/{task}", "method": "GET", "status": "200"}
    assert metrics.registry.get_sample_value("crunch_requests_total", labels) == 1.0


async def test_unusual_method_is_counted_as_other() -> None:
    metrics = Metrics()
    async with routed(metrics) as c:
        await c.request("BREW", "/")
    labels = {"route": "/", "method": "other", "status": "405"}
    assert metrics.registry.get_sample_value("crunch_requests_total", labels) == 1.0


async def test_failing_app_is_counted_as_500_and_leaves_nothing_inflight() -> None:
    metrics = Metrics()
    admission = lifecycle(metrics)
    async with client_of(admission) as c:
        with pytest.raises(RuntimeError, match="boom"):
            await c.get("/boom")
    labels = {"route": "other", "method": "GET", "status": "500"}
    assert metrics.registry.get_sample_value("crunch_requests_total", labels) == 1.0
    assert admission.inflight == 0


async def test_request_is_written_to_the_access_log() -> None:
    out = io.StringIO()
    access_log = AccessLog("json", stream=out)
    async with client(Metrics(), access_log) as c:
        await c.get("/hello", headers={"X-Request-ID": "rid-1"})
    access_log.flush()
    line = json.loads(out.getvalue())
    assert line["message"] == "GET /hello 201"
    assert line["request_id"] == "rid-1"


async def test_non_http_scope_passes_through_untouched() -> None:
    seen: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope)

    async def receive() -> Message:
        return {"type": "lifespan.startup"}

    async def send(message: Message) -> None:
        return None

    metrics = Metrics()
    scope: Scope = {"type": "lifespan"}
    await RequestContextMiddleware(app, lifecycle(metrics), None)(scope, receive, send)
    assert seen == [{"type": "lifespan"}]
    assert metrics.registry.get_sample_value("crunch_requests_total", {}) is None


async def test_passing_probes_are_not_in_the_access_log_failing_ones_are() -> None:
    out = io.StringIO()
    access_log = AccessLog("json", stream=out)
    metrics = Metrics()

    async def probe(scope: Scope, receive: Receive, send: Send) -> None:
        status = 503 if scope["query_string"] == b"fail" else 200
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    app = RequestContextMiddleware(probe, lifecycle(metrics), access_log)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        await c.get("/readyz")
        await c.get("/healthz")
        await c.get("/readyz?fail")
        await c.get("/work")
    access_log.flush()
    logged = [json.loads(line)["message"] for line in out.getvalue().splitlines()]
    assert logged == ["GET /readyz 503", "GET /work 200"]
