"""Pure ASGI middleware: request ids, the in-flight count, metrics and the access log."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from starlette.routing import Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import Draining
from app.responses import error_response

if TYPE_CHECKING:
    from app.admission import Admission
    from app.logs import AccessLog

_METHODS = frozenset({"GET", "POST", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"})
# The answer of a request cut by a forced exit, rendered once: a drain's refusal.
_CUT = error_response(Draining("the server stopped before the request finished"))
_CUT_START: Message = {
    "type": "http.response.start",
    "status": _CUT.status_code,
    "headers": [*_CUT.raw_headers, (b"connection", b"close")],
}
_CUT_BODY: Message = {"type": "http.response.body", "body": _CUT.body}
_VALID_ID = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:")


class RouteLabels:
    """The template of the route that answered: a bounded label, whatever clients send.

    Starlette's router already knows which route matched (it leaves the endpoint and
    itself in the scope), so labels come from the route table, read once: a route a
    user module adds is labelled like the built-in ones, and a path that no route
    matched is ``other``.
    """

    __slots__ = ("_labels",)

    def __init__(self) -> None:
        self._labels: dict[object, str | list[Route]] | None = None

    def __call__(self, scope: Scope) -> str:
        endpoint = scope.get("endpoint")
        if endpoint is None:
            return "other"
        labels = self._labels
        if labels is None:
            labels = self._labels = self._table(getattr(scope.get("router"), "routes", ()))
        label = labels.get(endpoint, "other")
        if isinstance(label, str):
            return label
        # One endpoint behind several paths (rare): ask the routes which one it was.
        for route in label:
            if route.matches(scope)[0] is not Match.NONE:
                return route.path
        return "other"

    @staticmethod
    def _table(routes: Iterable[object]) -> dict[object, str | list[Route]]:
        by_endpoint: dict[object, list[Route]] = {}
        for route in routes:
            if isinstance(route, Route):
                by_endpoint.setdefault(route.endpoint, []).append(route)
        return {
            endpoint: group[0].path if len(group) == 1 else group
            for endpoint, group in by_endpoint.items()
        }


def _request_id(scope: Scope) -> bytes:
    for key, value in scope["headers"]:
        if key == b"x-request-id":
            # Keep a caller's id (for tracing across hops) only if it is short and plain.
            if 0 < len(value) <= 64 and set(value.decode("latin-1")) <= _VALID_ID:
                return bytes(value)
            break
    return _next_id()


def _id_source() -> Callable[[], bytes]:
    # A random per-process prefix and a counter: unique across pods and restarts,
    # without a getrandom() system call per request.
    prefix = os.urandom(4).hex()
    counter = itertools.count(1)
    return lambda: f"{prefix}{next(counter):08x}".encode()


_next_id = _id_source()


_PROBES = frozenset({"/healthz", "/readyz"})


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, admission: Admission, access_log: AccessLog | None) -> None:
        self.app = app
        self.admission = admission  # counts the requests in flight (a drain waits for them)
        self.metrics = admission.metrics
        self.access_log = access_log
        self.route_label = RouteLabels()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id.decode()
        status = 500
        started_response = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started_response
            if message["type"] == "http.response.start":
                status = message["status"]
                started_response = True
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", request_id)]
            await send(message)

        admission = self.admission
        admission.inflight += 1
        try:
            await self.app(scope, receive, send_with_id)
        except asyncio.CancelledError:
            # Only a forced exit cancels a request: answer it in the contract's JSON
            # (uvicorn would send a plain-text 500 and log a traceback), then let it end.
            if not started_response:
                with contextlib.suppress(Exception):
                    await send_with_id(dict(_CUT_START))
                    await send_with_id(dict(_CUT_BODY))
        finally:
            admission.inflight -= 1
            elapsed = time.perf_counter() - started
            method = scope["method"] if scope["method"] in _METHODS else "other"
            path = scope["path"]
            self.metrics.observe_request(self.route_label(scope), method, status, elapsed)
            # A probe that passes says nothing new (kubelet and HAProxy ask every second
            # or two); one that fails (starting, draining) is logged like any request.
            if self.access_log is not None and not (status == 200 and path in _PROBES):
                client = scope.get("client")
                self.access_log.record(
                    request_id.decode(),
                    method,
                    path[:200],
                    status,
                    elapsed,
                    client[0] if client else "-",
                )
