"""The example task module works end to end: registered, validated, run by real workers."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from tests.conftest import Server


def test_example_tasks_run_through_the_api(serve: Callable[..., Server]) -> None:
    server = serve(task_modules="examples.tasks")
    with server.client() as client:
        names = {t["name"] for t in client.get("/tasks").json()["tasks"]}
        assert {"sha256_rounds", "fib"} <= names
        r = client.post("/work/sha256_rounds", json={"data": "crunch", "rounds": 2})
        expected = hashlib.sha256(hashlib.sha256(b"crunch").digest()).hexdigest()
        assert r.status_code == 200 and r.json()["result"] == expected
        assert client.get("/work/fib", params={"n": 90}).json()["result"] == "2880067194370816120"
        assert client.get("/work/fib", params={"n": 5001}).status_code == 422
