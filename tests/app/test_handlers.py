"""User handlers compose tasks with the same admission, deadline, metrics and errors as /work."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import httpx
import pytest

from app.handlers import route, run
from tests.conftest import ROOT, Server, free_port

MODULES = "tests.support.tasks,tests.support.handlers"


@pytest.fixture
def handlers_server(serve: Callable[..., Server]) -> Server:
    return serve(task_modules=MODULES)


def test_handler_awaits_two_tasks_at_once(handlers_server: Server) -> None:
    with handlers_server.client() as client:
        started = time.monotonic()
        r = client.get("/pair", params={"a": 1, "b": 1})
        elapsed = time.monotonic() - started
    assert r.status_code == 200
    a, b = r.json()["results"]
    assert abs(a - b) < 0.9  # both naps ran side by side on the two workers
    assert elapsed < 1.9


def test_one_failing_task_answers_its_error(handlers_server: Server) -> None:
    with handlers_server.client() as client:
        r = client.get("/pair/fail")
    assert r.status_code == 500
    assert r.json()["error"] == "task_failed" and "always fails" in r.json()["detail"]


def test_task_past_its_deadline_answers_504(handlers_server: Server) -> None:
    with handlers_server.client() as client:
        started = time.monotonic()
        r = client.get("/pair/late")
        assert time.monotonic() - started < 4
    assert r.status_code == 504 and r.json()["error"] == "task_timeout"


def test_unknown_task_in_a_handler_is_422(handlers_server: Server) -> None:
    with handlers_server.client() as client:
        r = client.get("/pair/nosuch")
    assert r.status_code == 422 and r.json()["error"] == "unknown_task"


def test_overload_answers_503_with_retry_after(serve: Callable[..., Server]) -> None:
    server = serve(task_modules=MODULES, workers=1, queue_limit=0)
    busy = threading.Thread(
        target=httpx.get, args=(server.url + "/work/nap?seconds=2",), kwargs={"timeout": 10}
    )
    busy.start()
    try:
        with server.client() as client:
            deadline = time.monotonic() + 5
            while client.get("/tasks").status_code == 200 and time.monotonic() < deadline:
                if "1 busy" in client.get("/").text:
                    break
                time.sleep(0.02)
            r = client.get("/pair")
    finally:
        busy.join(10)
    assert r.status_code == 503 and r.json()["error"] == "overloaded"
    assert float(r.headers["retry-after"]) >= 0


def test_bytes_flow_through_a_handler(handlers_server: Server) -> None:
    with handlers_server.client() as client:
        r = client.post("/twice", content=b"ab", headers={"content-type": "text/plain"})
    assert r.status_code == 200
    assert r.content == b"abab"
    assert r.headers["content-type"] == "application/octet-stream"


def test_handlers_show_in_the_index_and_openapi(handlers_server: Server) -> None:
    with handlers_server.client() as client:
        index = client.get("/").text
        doc = client.get("/openapi.json").json()
    assert "/pair" in index and "Run two naps at once" in index
    assert doc["paths"]["/pair"]["get"]["summary"] == "Run two naps at once; answer both results."
    assert doc["paths"]["/twice"]["post"]["responses"]["503"]
    assert doc["paths"]["/pair/{which}"]["get"]["parameters"][0]["name"] == "which"


def test_handler_requests_are_counted_under_their_route(handlers_server: Server) -> None:
    with handlers_server.client() as client:
        client.get("/pair")
        text = client.get("/metrics").text
    assert 'crunch_requests_total{method="GET",route="/pair",status="200"}' in text


async def test_run_outside_a_handler_says_so() -> None:
    with pytest.raises(RuntimeError, match="handlers"):
        await run("noop")


def test_a_sync_handler_is_refused() -> None:
    with pytest.raises(TypeError, match="async def"):
        route("/sync")(lambda request: None)  # type: ignore[arg-type,return-value]


def test_a_handler_on_crunchs_own_path_fails_at_start() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRUNCH_")}
    env["CRUNCH_TASK_MODULES"] = "tests.support.clash"
    done = subprocess.run(
        [sys.executable, "-m", "app", "serve", "--port", str(free_port())],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "'/healthz' is one of crunch's own routes" in done.stderr
