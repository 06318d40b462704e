"""A task's own deadline and queue class replace the pod's defaults; bad ones fail at import."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from app.tasks import Registry
from tests.conftest import Server


def test_a_task_deadline_overrides_the_pod_default(serve: Callable[..., Server]) -> None:
    server = serve(task_timeout=30)
    with server.client() as client:
        started = time.monotonic()
        r = client.get("/work/short_nap", params={"seconds": 5})
        elapsed = time.monotonic() - started
        assert r.status_code == 504 and r.json()["error"] == "task_timeout"
        assert "0.5 s deadline" in r.json()["detail"]
        assert elapsed < 4  # well before the 5 s nap, far before the pod's 30 s
        # Within its deadline it answers, and its worker was replaced after the timeout.
        assert client.get("/work/short_nap", params={"seconds": 0}).status_code == 200


def test_tasks_lists_a_tasks_own_deadline_and_class(server: Server) -> None:
    with server.client() as client:
        listed = {t["name"]: t for t in client.get("/tasks").json()["tasks"]}
    assert listed["short_nap"]["timeout_s"] == 0.5
    assert listed["short_nap"]["cost_class"] == "large"
    assert "timeout_s" not in listed["spin"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"timeout": 0}, "timeout"),
        ({"timeout": -1.0}, "timeout"),
        ({"cost_class": "huge"}, "cost_class"),
        ({"body": "image"}, "content type"),
        ({"answers": "png"}, "answers"),
    ],
)
def test_bad_task_options_fail_at_registration(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Registry().task(**options)  # type: ignore[arg-type]
