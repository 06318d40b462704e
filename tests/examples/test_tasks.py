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


def test_example_bytes_tasks_take_the_body(serve: Callable[..., Server]) -> None:
    server = serve(task_modules="examples.tasks")
    octets = {"content-type": "application/octet-stream"}
    with server.client() as client:
        r = client.post("/work/reverse", content=b"crunch", headers=octets)
        assert r.status_code == 200
        assert r.content == b"hcnurc"
        assert r.headers["content-type"] == "application/octet-stream"
        r = client.post("/work/checksum", content=b"crunch", headers=octets)
        assert r.json()["result"] == hashlib.sha256(b"crunch").hexdigest()
        doc = client.get("/openapi.json").json()["paths"]
        assert (
            "application/octet-stream"
            in doc["/work/reverse"]["post"]["responses"]["200"]["content"]
        )
        assert "application/json" in doc["/work/checksum"]["post"]["responses"]["200"]["content"]
