"""A task that raises Rejected answers 422 with its message; its worker carries on."""

from __future__ import annotations

from tests.conftest import Server


def test_rejected_input_is_422_and_the_worker_survives(server: Server) -> None:
    with server.client() as client:
        before = client.get("/work/whoami").json()["result"]["pid"]
        r = client.get("/work/refuse", params={"why": "not an image"})
        assert r.status_code == 422
        assert r.json()["error"] == "invalid_input" and "not an image" in r.json()["detail"]
        pids = {client.get("/work/whoami").json()["result"]["pid"] for _ in range(6)}
    assert before in pids
