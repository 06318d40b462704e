"""The wire between the server and a worker: length-prefixed pickle frames over a pipe.

One pipe per direction per worker. A frame is a 4-byte big-endian length and a
pickle; a sender writes a frame with one ``os.write`` and a reader takes whatever
the pipe holds with one ``os.read`` and splits it, so a small task costs two
system calls each way. (``multiprocessing.Connection`` makes several per message.)
"""

from __future__ import annotations

import os
import pickle
import struct
from typing import Any

HEADER = struct.Struct("!I")
READ_SIZE = 1 << 16
MAX_FRAME = 256 * 1024 * 1024

# Worker → server message kinds.
READY = 0
OK = 1
ERROR = 2
FATAL = 3  # the task broke the worker (MemoryError): it exits after this frame


def encode(message: Any) -> bytes:
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(payload)) + payload


def write_frame(fd: int, message: Any) -> None:
    write_all(fd, encode(message))


def write_all(fd: int, frame: bytes) -> None:
    data = memoryview(frame)
    while data:
        written = os.write(fd, data)
        data = data[written:]


class FrameReader:
    """Accumulates bytes from a pipe and yields whole messages."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Any]:
        buffer = self._buffer
        buffer += data
        messages: list[Any] = []
        offset = 0
        end = len(buffer)
        while end - offset >= HEADER.size:
            (size,) = HEADER.unpack_from(buffer, offset)
            if size > MAX_FRAME:
                raise ValueError(f"frame of {size} bytes is larger than {MAX_FRAME}")
            if end - offset - HEADER.size < size:
                break
            start = offset + HEADER.size
            messages.append(pickle.loads(buffer[start : start + size]))
            offset = start + size
        if offset:
            del buffer[:offset]
        return messages


def read_messages(fd: int, reader: FrameReader) -> list[Any] | None:
    """Block until at least one whole message arrives; None at end of file."""
    while True:
        data = os.read(fd, READ_SIZE)
        if not data:
            return None
        messages = reader.feed(data)
        if messages:
            return messages
