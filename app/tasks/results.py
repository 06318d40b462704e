"""What a task may hand back besides plain values: ``Binary`` answers, ``Rejected`` input."""

from __future__ import annotations

import pickle
import re
from typing import Any

_MEDIA = re.compile(r"[a-z0-9.+-]+/[a-z0-9.+-]+(; *[a-z0-9-]+=[a-zA-Z0-9._-]+)?")


class Binary:
    """Bytes and their content type: ``return Binary(png, "image/png")`` from a task.

    ``/work`` answers the bytes as the body (with ``X-Worker`` and ``Server-Timing`` as
    for JSON answers). Between a worker and the server the bytes travel next to the
    pickle, not inside it (pickle protocol 5 out-of-band buffers), so a large answer
    is not copied into and out of a pickle stream.
    """

    __slots__ = ("content_type", "data")

    def __init__(self, data: bytes | bytearray | memoryview, content_type: str) -> None:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"Binary data must be bytes-like, not {type(data).__name__}")
        if not _MEDIA.fullmatch(content_type):
            raise ValueError(f"Binary content_type {content_type[:60]!r} is not type/subtype")
        self.data = data
        self.content_type = content_type

    def __len__(self) -> int:
        return memoryview(self.data).nbytes

    def __repr__(self) -> str:
        return f"Binary(<{len(self)} bytes>, {self.content_type!r})"

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        return (Binary, (pickle.PickleBuffer(self.data), self.content_type))


class Rejected(Exception):
    """Raise it from a task when its input is wrong (not an image, too large...).

    The request gets 422 ``invalid_input`` with the message, instead of the 500 that
    any other exception from a task gives; the worker carries on.
    """
