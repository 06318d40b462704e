"""Every error crunch answers: JSON ``{"error": code, "detail": text}`` with the right status."""

from __future__ import annotations

import math


class CrunchError(Exception):
    """An error with an HTTP status, a stable machine-readable code and a detail for people."""

    status = 500
    code = "internal"
    # Close the connection after answering: what is left of the request cannot be trusted.
    close = False
    # Seconds of Retry-After when the raiser gives none: set where a retry can succeed.
    default_retry_after: float | None = None

    def __init__(self, detail: str, *, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after = self.default_retry_after if retry_after is None else retry_after

    def headers(self) -> dict[str, str]:
        headers = {"Connection": "close"} if self.close else {}
        if self.retry_after is not None:
            headers["Retry-After"] = str(max(1, math.ceil(self.retry_after)))
        return headers

    def body(self) -> dict[str, str]:
        return {"error": self.code, "detail": self.detail}


class BadRequest(CrunchError):
    status, code = 400, "bad_request"


class InvalidJSON(CrunchError):
    status, code = 400, "invalid_json"


class RequestTimeout(CrunchError):
    """The body stalled; the connection is closed after the answer."""

    status, code, close = 408, "request_timeout", True


class PayloadTooLarge(CrunchError):
    status, code = 413, "payload_too_large"


class UnsupportedMediaType(CrunchError):
    status, code = 415, "unsupported_media_type"


class NotFound(CrunchError):
    status, code = 404, "not_found"


class UnknownTask(CrunchError):
    status, code = 422, "unknown_task"


class InvalidParams(CrunchError):
    status, code = 422, "invalid_params"


class BatchTooLarge(CrunchError):
    """More items than the pod could ever admit at once: retrying cannot help."""

    status, code = 422, "batch_too_large"


class Overloaded(CrunchError):
    """The pool's queue is full: shed the request now rather than let latency grow."""

    status, code = 503, "overloaded"


class Draining(CrunchError):
    """The process is shutting down; another pod should take the request at once."""

    status, code, default_retry_after = 503, "draining", 1.0


class Starting(CrunchError):
    """The worker pool has not started yet (readiness only)."""

    status, code, default_retry_after = 503, "starting", 1.0


class QueueTimeout(CrunchError):
    """The task waited in the queue past its deadline without reaching a worker."""

    status, code = 503, "queue_timeout"


class TaskTimeout(CrunchError):
    """The task ran past its deadline; its worker was killed and replaced."""

    status, code = 504, "task_timeout"


class WorkerCrashed(CrunchError):
    """The worker process died while running this task; only this task fails."""

    status, code = 500, "worker_crashed"


class TaskFailed(CrunchError):
    """The task raised an exception inside its worker; the worker lives on."""

    status, code = 500, "task_failed"


class InvalidInput(CrunchError):
    """A task looked at its input and refused it (it raised ``Rejected``)."""

    status, code = 422, "invalid_input"
