"""Bytes in and out: a task takes the raw body and answers bytes, served as-is."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from tests.conftest import Server


def test_body_goes_in_as_bytes_and_bytes_come_back_as_is(server: Server) -> None:
    data = os.urandom(300_000)
    with server.client() as client:
        r = client.post(
            "/work/repeat", params={"times": 2}, content=data, headers={"content-type": "image/png"}
        )
    assert r.status_code == 200
    assert r.content == data * 2
    assert r.headers["content-type"] == "application/octet-stream"
    assert r.headers["x-worker"].isdigit()
    assert r.headers["server-timing"].startswith("queue;dur=")


def test_declared_type_family_matches_any_member(server: Server) -> None:
    with server.client() as client:
        r = client.post("/work/repeat", content=b"x", headers={"content-type": "image/jpeg"})
        assert r.status_code == 200 and r.content == b"x"
        r = client.post(
            "/work/repeat", content=b"y", headers={"content-type": "text/plain; charset=utf-8"}
        )
        assert r.status_code == 200 and r.content == b"y"


def test_undeclared_content_type_is_415(server: Server) -> None:
    with server.client() as client:
        r = client.post("/work/repeat", content=b"{}", headers={"content-type": "application/json"})
    assert r.status_code == 415
    assert r.json()["error"] == "unsupported_media_type"
    assert "image/*" in r.json()["detail"]


def test_body_over_max_body_is_413(serve: Callable[..., Server]) -> None:
    server = serve(max_body=1000)
    with server.client() as client:
        r = client.post("/work/repeat", content=b"z" * 1001, headers={"content-type": "text/plain"})
    assert r.status_code == 413 and r.json()["error"] == "payload_too_large"


def test_an_empty_body_reaches_the_task(server: Server) -> None:
    with server.client() as client:
        r = client.post("/work/repeat", content=b"", headers={"content-type": "text/plain"})
    assert r.status_code == 200 and r.content == b""


def test_bad_query_parameter_of_a_bytes_task_is_422(server: Server) -> None:
    with server.client() as client:
        r = client.post(
            "/work/repeat",
            params={"times": 9},
            content=b"a",
            headers={"content-type": "text/plain"},
        )
    assert r.status_code == 422 and r.json()["error"] == "invalid_params"


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "PUT"])
def test_a_bytes_task_allows_only_post(server: Server, method: str) -> None:
    with server.client() as client:
        r = client.request(method, "/work/repeat")
    assert r.status_code == 405 and r.headers["allow"] == "POST"
    if method != "HEAD":
        assert r.json()["error"] == "method_not_allowed"


@pytest.mark.parametrize("method", ["OPTIONS", "PUT", "DELETE"])
def test_a_json_task_allows_get_head_and_post(server: Server, method: str) -> None:
    with server.client() as client:
        r = client.request(method, "/work/noop")
    assert r.status_code == 405 and r.headers["allow"] == "GET, HEAD, POST"


def test_head_of_a_json_task_answers_without_a_body(server: Server) -> None:
    with server.client() as client:
        r = client.head("/work/noop")
    assert r.status_code == 200 and r.content == b""


def test_batch_refuses_a_bytes_task_item_alone(server: Server) -> None:
    with server.client() as client:
        r = client.post("/batch", json=[{"task": "repeat"}, {"task": "noop"}])
    items = r.json()
    assert r.status_code == 200
    assert items[0]["status"] == 422 and "/work" in items[0]["detail"]
    assert items[1]["status"] == 200


def test_tasks_lists_the_accepted_body_types(server: Server) -> None:
    with server.client() as client:
        listed = {t["name"]: t for t in client.get("/tasks").json()["tasks"]}
    assert listed["repeat"]["body"] == ["text/plain", "image/*"]


def test_the_index_shows_a_bytes_task_as_a_post(server: Server) -> None:
    with server.client() as client:
        page = client.get("/").text
    assert "<code>POST</code> /work/repeat (text/plain, image/*)" in page
    assert 'href="/work/repeat"' not in page
