"""Structured logging: JSON lines in containers, text for people; access log off the hot path."""

from __future__ import annotations

import collections
import json
import logging
import sys
import threading
import time
from typing import Any, TextIO

_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"color_message"}


def utc_stamp(seconds: float) -> str:
    """ISO 8601 UTC with milliseconds, as every crunch log line carries it."""
    millis = int(seconds * 1000) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": utc_stamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        # One timestamp for every text line, uvicorn's and the access log's alike.
        return utc_stamp(record.created)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extra = {k: v for k, v in vars(record).items() if k not in _RESERVED}
        extra.pop("message", None)
        extra.pop("asctime", None)
        if extra:
            line += " " + " ".join(f"{k}={v}" for k, v in extra.items())
        return line


def configure(log_format: str, level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # crunch writes its own


class AccessLog:
    """One line per request, kept off the event loop's path.

    A request only appends a tuple (cheap and thread-safe). A background thread
    formats the lines itself (``logging``'s records and caller lookup cost more than
    the request) and writes them in small chunks: each write releases the GIL, so the
    event loop never waits behind more than one chunk of formatting.
    """

    CHUNK = 64

    def __init__(
        self, log_format: str = "json", stream: TextIO | None = None, interval: float = 0.2
    ) -> None:
        self._entries: collections.deque[tuple[float, str, str, str, int, float, str]] = (
            collections.deque(maxlen=100_000)
        )
        self._json = log_format == "json"
        self._stream = stream
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def record(
        self, request_id: str, method: str, path: str, status: int, seconds: float, client: str
    ) -> None:
        self._entries.append((time.time(), request_id, method, path, status, seconds, client))

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="crunch-access-log", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self.flush()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.flush()

    def format(self, entry: tuple[float, str, str, str, int, float, str]) -> str:
        at, request_id, method, path, status, seconds, client = entry
        stamp = utc_stamp(at)
        duration_ms = round(seconds * 1000, 3)
        if self._json:
            return json.dumps(
                {
                    "time": stamp,
                    "level": "info",
                    "logger": "crunch.access",
                    "message": f"{method} {path} {status}",
                    "request_id": request_id,
                    "status": status,
                    "duration_ms": duration_ms,
                    "client": client,
                }
            )
        return (
            f"{stamp} INFO    crunch.access: {method} {path} {status} request_id={request_id}"
            f" duration_ms={duration_ms} client={client}"
        )

    def flush(self) -> None:
        entries = self._entries
        stream = self._stream or sys.stderr
        while entries:
            lines = []
            for _ in range(min(self.CHUNK, len(entries))):
                lines.append(self.format(entries.popleft()) + "\n")
            stream.write("".join(lines))
            stream.flush()
