"""uvicorn's httptools protocol (behind the backpressure gate) with its edges made exact.

- **Header timeout.** uvicorn arms a timer only between requests on a kept-alive
  connection, so a client that connects and never finishes its headers (or trickles
  them a byte at a time) holds a connection forever. Here a timer runs from the
  connection's start, and from the first byte of each request, until its headers are
  complete (``CRUNCH_HEADER_TIMEOUT``); then the connection is closed.
- **HTTP/1.0.** uvicorn's httptools path answers a response of unknown length (the
  streaming ``/spawn``) with ``Transfer-Encoding: chunked`` even to an HTTP/1.0 client,
  which cannot read it (RFC 9112 §6.1). Such a response is collected here and sent
  whole, with a Content-Length (it is bounded: ``CRUNCH_SPAWN_OUTPUT_LIMIT``).
- **JSON 400s.** A request the HTTP parser refuses (a bad Content-Length, a malformed
  request line) gets crunch's ``{"error": "bad_request", "detail": ...}`` instead of
  uvicorn's plain text.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.types import Message

from app.backpressure import Gate, GatedHttpProtocol

Send = Callable[[Any], Awaitable[None]]


class CrunchHttpProtocol(GatedHttpProtocol):
    header_timeout = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._held_data is not None:
            # Held unread by the gate: the client has sent; the wait is crunch's, not a
            # slow client's. The timer starts again when the request is parsed.
            self._cancel_header_timer()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_timer is None:
            self._arm_header_timer()

    def on_headers_complete(self) -> None:
        self._cancel_header_timer()
        previous = self.cycle
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not previous and cycle.scope.get("http_version") == "1.0":
            setattr(cycle, "send", _sized(cycle.send, cycle.scope["method"]))  # noqa: B010

    def send_400_response(self, msg: str) -> None:
        self._cancel_header_timer()
        detail = f"malformed HTTP request (request line, a header or Content-Length): {msg}"
        body = json.dumps({"error": "bad_request", "detail": detail}).encode()
        head = [
            b"HTTP/1.1 400 Bad Request\r\n",
            *(name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers),
            b"content-type: application/json\r\n",
            b"content-length: " + str(len(body)).encode() + b"\r\n",
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)
        self.transport.close()

    def _arm_header_timer(self) -> None:
        self._cancel_header_timer()
        self._header_timer = self.loop.call_later(self.header_timeout, self._header_timeout)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timeout(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()


def _sized(send: Send, method: str) -> Send:
    """``send`` for an HTTP/1.0 exchange: a response without a Content-Length is held
    back and sent whole with one, so uvicorn never chunks it."""
    held: list[Message] = []

    async def send_sized(message: Message) -> None:
        if not held:
            if message["type"] != "http.response.start" or method == "HEAD":
                await send(message)
                return
            headers = message.get("headers", ())
            if message["status"] in (204, 304) or any(
                name.lower() in (b"content-length", b"transfer-encoding") for name, _ in headers
            ):
                await send(message)
                return
        held.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            start, *parts = held
            held.clear()
            body = b"".join(part.get("body", b"") for part in parts)
            length = (b"content-length", str(len(body)).encode())
            await send({**start, "headers": [*start.get("headers", ()), length]})
            await send({"type": "http.response.body", "body": body})

    return send_sized


def protocol_class(gate: Gate, header_timeout: float) -> type[CrunchHttpProtocol]:
    """The protocol bound to ``gate`` and ``header_timeout`` (uvicorn makes one per
    connection), for ``uvicorn.Config(http=...)``."""
    attributes = {"gate": gate, "header_timeout": header_timeout}
    return type("CrunchHttpProtocol", (CrunchHttpProtocol,), attributes)
