"""/openapi.json is built from the route table and the task registry, and matches the server."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from app.config import Settings
from app.openapi import build, document, error_responses, json_content
from app.tasks import registry
from tests.conftest import Server


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    from tests.conftest import start_server

    server = start_server(
        tmp_path_factory.mktemp("openapi"),
        spin_limit=300,
        spin_min=1,
        spin_max=10,
        task_modules="examples.tasks",
        access_log="false",
    )
    yield server
    server.terminate()


@pytest.fixture(scope="module")
def doc(live: Server) -> dict[str, Any]:
    with live.client() as client:
        body: dict[str, Any] = client.get("/openapi.json").json()
        return body


def test_each_task_is_its_own_operation(doc: dict[str, Any]) -> None:
    paths = doc["paths"]
    assert "/work/{task}" not in paths
    for name in ("spin", "primes", "noop", "fib", "sha256_rounds"):
        assert set(paths[f"/work/{name}"]) == {"get", "post"}


def test_a_task_advertises_only_its_own_parameters(doc: dict[str, Any]) -> None:
    assert doc["paths"]["/work/noop"]["get"]["parameters"] == []
    (n,) = doc["paths"]["/work/spin"]["get"]["parameters"]
    assert n["name"] == "n" and n["in"] == "query" and n["required"] is True
    assert n["schema"] == {
        "type": "integer",
        "minimum": 0,
        "maximum": 300,
        "description": "loop runs n*n times",
    }


def test_a_json_body_marks_required_parameters_and_refuses_others(doc: dict[str, Any]) -> None:
    post = doc["paths"]["/work/sha256_rounds"]["post"]
    assert post["requestBody"]["required"] is True
    schema = post["requestBody"]["content"]["application/json"]["schema"]
    assert schema["required"] == ["data"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["data"] == {
        "type": "string",
        "maxLength": 256,
        "description": "text to hash",
    }
    assert schema["properties"]["rounds"]["default"] == 1000
    noop = doc["paths"]["/work/noop"]["post"]["requestBody"]
    assert noop["required"] is False


def test_every_answer_has_a_schema(doc: dict[str, Any]) -> None:
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            for status, answer in op["responses"].items():
                assert answer.get("content"), (method, path, status)
                for media in answer["content"].values():
                    assert "schema" in media, (method, path, status)


def test_errors_use_the_error_schema_and_503_promises_retry_after(doc: dict[str, Any]) -> None:
    post = doc["paths"]["/work/spin"]["post"]["responses"]
    assert {"400", "408", "413", "415", "422", "500", "503", "504"} <= set(post)
    schema = post["422"]["content"]["application/json"]["schema"]
    assert {"$ref": "#/components/schemas/Error"} in schema["allOf"]
    assert post["503"]["headers"]["Retry-After"]["required"] is True


def test_batch_limit_in_the_schema_is_what_the_pod_admits(doc: dict[str, Any]) -> None:
    body = doc["paths"]["/batch"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["maxItems"] == 2 + 64


def test_spawn_arg_pattern_is_the_server_rule(doc: dict[str, Any], live: Server) -> None:
    body = doc["paths"]["/spawn/{name}"]["post"]["requestBody"]["content"]["application/json"]
    args = body["schema"]["properties"]["args"]
    assert body["schema"]["additionalProperties"] is False
    pattern = re.compile(args["items"]["pattern"])
    with live.client() as client:
        for arg in ("-l", "/usr", "a=b,c", "x y", "$(id)", "a;b", "é", "~"):
            r = client.post("/spawn/ls", json={"args": ["-d", arg]})
            assert (r.status_code != 422) == bool(pattern.search(arg)), (arg, r.text)


def test_spawn_null_body_and_null_args_are_refused_as_the_schema_says(live: Server) -> None:
    headers = {"Content-Type": "application/json"}
    with live.client() as client:
        assert client.post("/spawn/ls", content=b"null", headers=headers).status_code == 422
        assert client.post("/spawn/ls", json={"args": None}).status_code == 422
        assert client.post("/spawn/ls").status_code == 200


async def _hello(request: Request) -> Response:
    """Say hello."""
    return PlainTextResponse("hello")


def test_a_route_carries_its_own_operation() -> None:
    settings = Settings()
    operation = {
        "summary": "Greet",
        "responses": {
            "200": {"description": "hi", "content": {"text/plain": {"schema": {}}}},
            **error_responses(422),
        },
    }
    routes = [
        document(Route("/greet", _hello, methods=["GET"]), {"GET": operation}),
        Route("/plain/{who}", _hello, methods=["GET", "POST"]),
        Route("/hidden", _hello, include_in_schema=False),
    ]
    paths = build(settings, registry.bind(settings), routes)["paths"]
    assert paths["/greet"]["get"]["summary"] == "Greet"
    assert paths["/greet"]["get"]["operationId"] == "get_greet"
    # A route that attached nothing still shows up, with its path parameters.
    assert set(paths["/plain/{who}"]) == {"get", "post"}
    assert paths["/plain/{who}"]["get"]["summary"] == "Say hello."
    assert paths["/plain/{who}"]["get"]["parameters"][0]["name"] == "who"
    assert "/hidden" not in paths


def test_a_route_may_build_its_operations_from_the_registry() -> None:
    settings = Settings()

    def per_task(context: Any) -> dict[str, Any]:
        return {
            f"/x/{name}": {"post": {"responses": {"200": {"description": "ok"}}}}
            for name in context.specs
        }

    routes = [document(Route("/x/{t}", _hello), per_task)]
    paths = build(settings, registry.bind(settings), routes)["paths"]
    assert {"/x/spin", "/x/noop"} <= set(paths)
    assert json_content({"type": "string"}) == {"application/json": {"schema": {"type": "string"}}}


def test_openapi_is_served_with_json_content_type(live: Server) -> None:
    r = httpx.get(live.url + "/openapi.json")
    assert r.headers["content-type"] == "application/json"
    assert r.json()["openapi"].startswith("3.")
