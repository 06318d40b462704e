"""uvicorn's httptools protocol (behind the backpressure gate) with its edges made exact.

- **Header timeout.** uvicorn arms a timer only between requests on a kept-alive
  connection, so a client that connects and never finishes its headers (or trickles
  them a byte at a time) holds a connection forever. Here a timer runs from the
  connection's start, and from the first read of each request that did not bring its
  whole head, until the head is complete (``CRUNCH_HEADER_TIMEOUT``); then the
  connection is closed. A head still incomplete after 64 KiB gets 431 ``headers_too_large``
  (httptools sets no size limit: within the timeout a client could make crunch buffer
  any amount).
- **Body timeout.** A handler that reads a body answers 408 when it stalls
  (``app.payload``). A body nobody reads, still trickling after the answer, is not
  waited for either: the connection is closed ``CRUNCH_BODY_TIMEOUT`` (+1 s) after the
  body stopped arriving whole.
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
# The handler's own body timeout answers 408 first; the connection check comes after.
BODY_GRACE_S = 1.0
# The most a request line and headers may take. httptools sets no limit of its own, so
# within the header timeout a client could otherwise make crunch buffer any amount.
MAX_HEAD_BYTES = 64 * 1024
_HEAD_TOO_LARGE = json.dumps(
    {
        "error": "headers_too_large",
        "detail": f"the request line and headers are larger than {MAX_HEAD_BYTES} bytes",
    }
).encode()


class CrunchHttpProtocol(GatedHttpProtocol):
    header_timeout = 10.0
    body_timeout = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._timer: asyncio.TimerHandle | None = None
        # Which part of a request is being read: None (between requests), head, body.
        self._reading: str | None = None
        self._head_bytes = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # From connecting to the first request's complete head.
        self._arm(self.header_timeout, self._close)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._held_data is not None:
            # Held unread by the gate: the client has sent; the wait is crunch's, not a
            # slow client's. The timer starts again when the request is parsed.
            self._cancel()
        elif self._reading == "head":
            # A head that did not arrive whole in one read. (Timers and counts start
            # only here, so a request that comes in one piece costs neither.)
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                self._refuse(431, b"Request Header Fields Too Large", _HEAD_TOO_LARGE)
            elif self._timer is None:
                self._arm(self.header_timeout, self._close)
        elif self._reading == "body" and self._timer is None:
            self._arm(self.body_timeout + BODY_GRACE_S, self._body_stalled)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading = "head"
        self._head_bytes = 0

    def on_headers_complete(self) -> None:
        self._cancel()
        self._reading = "body"
        previous = self.cycle
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not previous and cycle.scope.get("http_version") == "1.0":
            setattr(cycle, "send", _sized(cycle.send, cycle.scope["method"]))  # noqa: B010

    def on_message_complete(self) -> None:
        self._cancel()
        self._reading = None
        super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        detail = f"malformed HTTP request (request line, a header or Content-Length): {msg}"
        body = json.dumps({"error": "bad_request", "detail": detail}).encode()
        self._refuse(400, b"Bad Request", body)

    def _refuse(self, status: int, reason: bytes, body: bytes) -> None:
        """Answer a request the parser could not hand on, in JSON, and close."""
        self._cancel()
        self._reading = None
        if self.transport.is_closing():
            return
        head = [
            b"HTTP/1.1 %d %s\r\n" % (status, reason),
            *(name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers),
            b"content-type: application/json\r\n",
            b"content-length: " + str(len(body)).encode() + b"\r\n",
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)
        self.transport.close()

    def _arm(self, delay: float, callback: Callable[[], None]) -> None:
        self._cancel()
        self._timer = self.loop.call_later(delay, callback)

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _close(self) -> None:
        self._timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def _body_stalled(self) -> None:
        """The body stopped arriving. A handler reading it answers 408 itself (after
        CRUNCH_BODY_TIMEOUT); once the request is answered, what is left of its body is
        not waited for: the connection is closed. A handler still at work keeps it."""
        self._timer = None
        cycle = self.cycle
        if cycle is None or cycle.response_complete:
            self._close()
        else:
            self._arm(self.body_timeout, self._body_stalled)


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


def protocol_class(
    gate: Gate, header_timeout: float, body_timeout: float
) -> type[CrunchHttpProtocol]:
    """The protocol bound to ``gate`` and the timeouts (uvicorn makes one per
    connection), for ``uvicorn.Config(http=...)``."""
    attributes = {"gate": gate, "header_timeout": header_timeout, "body_timeout": body_timeout}
    return type("CrunchHttpProtocol", (CrunchHttpProtocol,), attributes)
