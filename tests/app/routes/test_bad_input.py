"""Bad input gets a JSON error with the right 4xx status, and the server stays healthy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Server, start_server


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # Small caps so that any value the fuzzer finds valid still runs in milliseconds.
    server = start_server(
        Path(tmp_path_factory.mktemp("bad")),
        spin_limit=300,
        spin_min=1,
        spin_max=10,
        primes_limit=10000,
        max_body=4096,
        task_modules="",
        access_log="false",
    )
    yield server
    server.terminate()


@pytest.fixture
def client(live: Server) -> Iterator[httpx.Client]:
    with live.client(timeout=10) as c:
        yield c


JSON = {"Content-Type": "application/json"}

CASES: list[tuple[str, str, dict[str, Any], int, str]] = [
    ("GET", "/work/nope", {}, 422, "unknown_task"),
    ("GET", "/work/spin", {"params": {"n": "abc"}}, 422, "invalid_params"),
    ("GET", "/work/spin", {"params": {"n": "1e3"}}, 422, "invalid_params"),
    ("GET", "/work/spin", {"params": {"n": "-1"}}, 422, "invalid_params"),
    ("GET", "/work/spin", {"params": {"n": "301"}}, 422, "invalid_params"),
    ("GET", "/work/spin", {}, 422, "invalid_params"),
    ("GET", "/work/spin", {"params": {"n": "5", "x": "1"}}, 422, "invalid_params"),
    ("POST", "/work/spin", {"json": {"n": "5"}}, 422, "invalid_params"),
    ("POST", "/work/spin", {"json": {"n": True}}, 422, "invalid_params"),
    ("POST", "/work/spin", {"json": {"n": 5.5}}, 422, "invalid_params"),
    ("POST", "/work/spin", {"json": [1, 2]}, 422, "invalid_params"),
    ("POST", "/work/spin", {"content": b"{not json", "headers": JSON}, 400, "invalid_json"),
    ("POST", "/work/spin", {"content": b'{"n": NaN}', "headers": JSON}, 400, "invalid_json"),
    ("POST", "/work/spin", {"content": b"[" * 5000, "headers": JSON}, 413, "payload_too_large"),
    (
        "POST",
        "/work/spin",
        {"content": b'{"n": 1}' + b" " * 5000, "headers": JSON},
        413,
        "payload_too_large",
    ),
    ("GET", "/work/spin", {"params": {"n": "\u0663"}}, 422, "invalid_params"),
    ("GET", "/work/spin", {"params": {"n": "+3"}}, 422, "invalid_params"),
    ("GET", "/work/spin", {"params": [("n", "1"), ("n", "2")]}, 422, "invalid_params"),
    ("POST", "/work/spin?n=1", {"json": {"n": 1}}, 422, "invalid_params"),
    ("POST", "/work/noop", {"content": b"null", "headers": JSON}, 422, "invalid_params"),
    (
        "POST",
        "/work/noop",
        {"content": b"{}", "headers": {"Content-Type": "text/plain"}},
        415,
        "unsupported_media_type",
    ),
    ("POST", "/work/noop", {"content": b"{}"}, 415, "unsupported_media_type"),
    ("POST", "/work/noop", {"data": {"a": "b"}}, 415, "unsupported_media_type"),
    (
        "POST",
        "/spawn/ls",
        {"content": b"{}", "headers": {"Content-Type": "text/plain"}},
        415,
        "unsupported_media_type",
    ),
    (
        "POST",
        "/batch",
        {"content": b"[]", "headers": {"Content-Type": "text/plain"}},
        415,
        "unsupported_media_type",
    ),
    ("POST", "/batch", {"json": []}, 422, "invalid_params"),
    ("POST", "/batch", {"json": [1]}, 422, "invalid_params"),
    ("POST", "/batch", {"json": [{"task": "noop", "params": None}]}, 422, "invalid_params"),
    ("POST", "/spawn/ls", {"content": b"null", "headers": JSON}, 422, "invalid_params"),
    ("POST", "/spawn/ls", {"json": {"args": None}}, 422, "invalid_params"),
    ("POST", "/batch", {"json": {"task": "noop"}}, 422, "invalid_params"),
    ("POST", "/batch", {"content": b"nope", "headers": JSON}, 400, "invalid_json"),
    ("POST", "/spawn/rm", {"json": {"args": ["-rf", "/"]}}, 404, "not_found"),
    ("POST", "/spawn/ls", {"json": {"args": ["; rm -rf /"]}}, 422, "invalid_params"),
    ("POST", "/spawn/ls", {"json": {"args": ["$(id)"]}}, 422, "invalid_params"),
    ("POST", "/spawn/ls", {"json": {"args": ["a|b"]}}, 422, "invalid_params"),
    ("POST", "/spawn/ls", {"json": {"args": "-l"}}, 422, "invalid_params"),
    ("POST", "/spawn/ls", {"json": {"argv": []}}, 422, "invalid_params"),
    ("GET", "/nowhere", {}, 404, "not_found"),
    ("DELETE", "/work/spin", {}, 405, "method_not_allowed"),
    ("GET", "/batch", {}, 405, "method_not_allowed"),
]


@pytest.mark.parametrize(("method", "path", "kwargs", "status", "code"), CASES)
def test_bad_input_gets_a_json_error(
    client: httpx.Client, method: str, path: str, kwargs: dict[str, Any], status: int, code: str
) -> None:
    r = client.request(method, path, **kwargs)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert body["error"] == code
    assert isinstance(body["detail"], str) and body["detail"]
    assert "Traceback" not in r.text


def test_out_of_range_says_so(client: httpx.Client) -> None:
    r = client.get("/work/spin", params={"n": "301"})
    assert r.json()["detail"] == "n is out of range: must be between 0 and 300, got 301"
    r = client.get("/work/spin", params={"n": "9" * 40})
    assert "out of range" in r.json()["detail"]


def test_a_batch_that_can_never_fit_gets_422_without_retry_after(client: httpx.Client) -> None:
    # 2 workers + 64 queue places: 67 items could never be admitted, even on an idle pod.
    r = client.post("/batch", json=[{"task": "noop"}] * 67)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "batch_too_large"
    assert "retry-after" not in r.headers


def test_the_largest_batch_that_fits_runs(client: httpx.Client) -> None:
    r = client.post("/batch", json=[{"task": "noop"}] * 66)
    assert r.status_code == 200, r.text
    assert [item["status"] for item in r.json()] == [200] * 66


def test_batch_items_that_fail_validation_carry_their_task(client: httpx.Client) -> None:
    r = client.post(
        "/batch",
        json=[{"task": "nope"}, {"task": "spin", "params": {"n": -1}}, {"task": "noop"}],
    )
    assert r.status_code == 200
    items = r.json()
    assert [(i["task"], i["status"]) for i in items] == [
        ("nope", 422),
        ("spin", 422),
        ("noop", 200),
    ]
    assert [i.get("error") for i in items[:2]] == ["unknown_task", "invalid_params"]


def test_post_without_a_body_takes_the_query_string(client: httpx.Client) -> None:
    r = client.post("/work/spin?n=3")
    assert r.status_code == 200, r.text
    assert r.json()["result"] == 9


def test_json_with_a_charset_parameter_is_json(client: httpx.Client) -> None:
    r = client.post(
        "/work/spin",
        content=b'{"n": 3}',
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert r.status_code == 200, r.text


def test_server_is_healthy_after_bad_input(client: httpx.Client, live: Server) -> None:
    for method, path, kwargs, _, _ in CASES:
        client.request(method, path, **kwargs)
    assert client.get("/work/spin", params={"n": 3}).json()["result"] == 9
    assert live.proc.poll() is None


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=10,
)
paths = st.sampled_from(
    ["/work/spin", "/work/primes", "/work/noop", "/work/", "/batch", "/spawn/ls", "/hello", "/"]
) | st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=30).map(
    lambda s: "/work/" + s.replace("?", "").replace("#", "")
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    method=st.sampled_from(["GET", "POST", "PUT"]),
    path=paths,
    query=st.dictionaries(
        st.sampled_from(["n", "limit", "x", ""]), st.text(max_size=12), max_size=3
    ),
    body=json_values,
)
def test_fuzzed_requests_never_get_a_5xx(
    client: httpx.Client, method: str, path: str, query: dict[str, str], body: Any
) -> None:
    kwargs: dict[str, Any] = {"params": query}
    if method != "GET":
        kwargs["json"] = body
    r = client.request(method, path, **kwargs)
    assert r.status_code < 500, (r.status_code, r.text)
    if r.status_code >= 400:
        assert r.json()["error"]
