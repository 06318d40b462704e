"""Errors: every one has its status, a stable code, and Retry-After when it should."""

from __future__ import annotations

import pytest

from app import errors
from app.errors import CrunchError

EXPECTED: dict[type[CrunchError], tuple[int, str]] = {
    CrunchError: (500, "internal"),
    errors.BadRequest: (400, "bad_request"),
    errors.InvalidJSON: (400, "invalid_json"),
    errors.PayloadTooLarge: (413, "payload_too_large"),
    errors.RequestTimeout: (408, "request_timeout"),
    errors.UnsupportedMediaType: (415, "unsupported_media_type"),
    errors.BatchTooLarge: (422, "batch_too_large"),
    errors.NotFound: (404, "not_found"),
    errors.UnknownTask: (422, "unknown_task"),
    errors.InvalidParams: (422, "invalid_params"),
    errors.Overloaded: (503, "overloaded"),
    errors.Draining: (503, "draining"),
    errors.Starting: (503, "starting"),
    errors.QueueTimeout: (503, "queue_timeout"),
    errors.TaskTimeout: (504, "task_timeout"),
    errors.WorkerCrashed: (500, "worker_crashed"),
    errors.TaskFailed: (500, "task_failed"),
    errors.InvalidInput: (422, "invalid_input"),
}


def test_every_error_class_is_covered_here() -> None:
    defined = {
        obj
        for obj in vars(errors).values()
        if isinstance(obj, type) and issubclass(obj, CrunchError)
    }
    assert defined == set(EXPECTED)


@pytest.mark.parametrize(("cls", "status_code"), list(EXPECTED.items()))
def test_error_has_its_status_and_code(
    cls: type[CrunchError], status_code: tuple[int, str]
) -> None:
    error = cls("detail")
    assert (error.status, error.code) == status_code


def test_codes_are_unique() -> None:
    codes = [code for _, code in EXPECTED.values()]
    assert len(codes) == len(set(codes))


@pytest.mark.parametrize("cls", list(EXPECTED))
def test_body_is_error_code_and_detail(cls: type[CrunchError]) -> None:
    assert cls("what went wrong").body() == {"error": cls.code, "detail": "what went wrong"}


def test_detail_is_the_exception_text() -> None:
    assert str(errors.BadRequest("nope")) == "nope"


def test_no_retry_after_means_no_headers() -> None:
    assert errors.Overloaded("full").headers() == {}


@pytest.mark.parametrize(
    ("seconds", "header"),
    [(0.0, "1"), (0.2, "1"), (1.0, "1"), (1.01, "2"), (2.5, "3"), (30.0, "30")],
)
def test_retry_after_rounds_up_to_whole_seconds_at_least_one(seconds: float, header: str) -> None:
    error = errors.Overloaded("full", retry_after=seconds)
    assert error.headers() == {"Retry-After": header}


@pytest.mark.parametrize("cls", [errors.Overloaded, errors.Draining, errors.QueueTimeout])
def test_every_503_can_carry_retry_after(cls: type[CrunchError]) -> None:
    assert cls("busy", retry_after=0.4).headers() == {"Retry-After": "1"}


@pytest.mark.parametrize("cls", [errors.Draining, errors.Starting])
def test_another_pod_can_take_it_at_once(cls: type[CrunchError]) -> None:
    # Raised without a Retry-After (the pool failing what it queued, /readyz), these
    # still tell the client when to retry: at once, on another pod.
    assert cls("shutting down").headers() == {"Retry-After": "1"}
    assert cls("shutting down", retry_after=3).headers() == {"Retry-After": "3"}
