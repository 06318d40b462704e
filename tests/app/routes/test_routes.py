"""Every route of the contract, against a real uvicorn process with real workers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Server, start_server
from tests.support import contract, promtool
from tools.metrics import sample


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(Path(tmp_path_factory.mktemp("routes")), spin_min=10, spin_max=50)
    yield server
    server.terminate()


@pytest.fixture
def client(live: Server) -> Iterator[httpx.Client]:
    with live.client() as c:
        yield c


def test_index_links_services_and_tasks(client: httpx.Client) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    for link in ('href="/hello"', 'href="/world"', 'href="/tasks"', "/work/spin"):
        assert link in page.text


def test_tasks_lists_parameters_and_limits(client: httpx.Client) -> None:
    body = client.get("/tasks").json()
    tasks = {t["name"]: t for t in body["tasks"]}
    assert {"spin", "primes", "noop", "nap"} <= set(tasks)
    (n,) = tasks["spin"]["params"]
    assert n["name"] == "n" and n["maximum"] == 20000 and n["minimum"] == 0
    assert body["limits"]["workers"] == 2


def test_work_get_runs_spin_on_a_worker(client: httpx.Client) -> None:
    r = client.get("/work/spin", params={"n": 300})
    assert r.status_code == 200
    body = r.json()
    assert body["task"] == "spin" and body["result"] == 90000 and body["pod"] == "test-pod"
    assert set(body) == {"task", "result", "worker", "pod", "queue_ms", "run_ms"}
    assert r.headers["X-Worker"] == str(body["worker"])
    assert r.headers["Server-Timing"].startswith("queue;dur=")
    assert "run;dur=" in r.headers["Server-Timing"]


def test_work_post_takes_a_json_object(client: httpx.Client) -> None:
    r = client.post("/work/primes", json={"limit": 100})
    assert r.status_code == 200
    assert r.json()["result"] == 25


def test_noop_answers_null(client: httpx.Client) -> None:
    assert client.post("/work/noop").json()["result"] is None


def test_batch_answers_in_request_order_with_per_item_errors(client: httpx.Client) -> None:
    items = [
        {"task": "spin", "params": {"n": 20}},
        {"task": "nope"},
        {"task": "primes", "params": {"limit": 10}},
        {"task": "fail"},
        {"task": "noop"},
    ]
    r = client.post("/batch", json=items)
    assert r.status_code == 200
    out = r.json()
    assert [o["status"] for o in out] == [200, 422, 200, 500, 200]
    assert out[0]["result"] == 400 and out[2]["result"] == 4
    assert out[1]["error"] == "unknown_task" and out[3]["error"] == "task_failed"


@pytest.mark.parametrize("service", ["hello", "world"])
def test_microservice_names_service_pod_and_worker(client: httpx.Client, service: str) -> None:
    r = client.get(f"/{service}")
    assert r.status_code == 200
    assert r.text.startswith(f"{service} from pod test-pod, worker ")
    assert "X-Worker" in r.headers


def test_spawn_streams_ls_output_and_exit_status(client: httpx.Client) -> None:
    r = client.post("/spawn/ls", json={"args": ["-a", "/"]})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in r.text.splitlines()]
    output = "".join(line.get("output", "") for line in lines)
    assert "usr" in output.split()
    assert lines[-1]["exit"] == 0 and lines[-1]["truncated"] is False


def test_spawn_without_body_runs_with_no_args(client: httpx.Client) -> None:
    r = client.post("/spawn/ls")
    assert r.status_code == 200
    assert json.loads(r.text.splitlines()[-1])["exit"] == 0


def test_healthz_and_readyz(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["workers"] == 2


def test_metrics_expose_every_contract_name(client: httpx.Client) -> None:
    client.get("/work/noop")
    text = client.get("/metrics").text
    names = {family.name for family in text_string_to_metric_families(text)}
    # The parser names a counter's family without its _total.
    for name in (name.removesuffix("_total") for name in contract.METRICS):
        assert name in names, name


def test_promtool_finds_nothing_to_lint_in_the_metrics_page(client: httpx.Client) -> None:
    # Every kind of series present: a task run, a task error, an unknown route.
    client.get("/work/spin", params={"n": 5})
    client.get("/work/spin", params={"n": -1})
    client.get("/no/such/route")
    page = client.get("/metrics").text
    result = promtool.check("metrics", stdin=page)
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), result


def _sample(text: str, name: str, **labels: str) -> float:
    return sample(text, name, **labels) or 0.0


def test_metrics_move_with_traffic(client: httpx.Client) -> None:
    before = client.get("/metrics").text
    for _ in range(3):
        client.get("/work/spin", params={"n": 5})
    after = client.get("/metrics").text
    labels = {"route": "/work/{task}", "method": "GET", "status": "200"}
    assert _sample(after, "crunch_requests_total", **labels) == (
        _sample(before, "crunch_requests_total", **labels) + 3
    )
    assert _sample(after, "crunch_task_duration_seconds_count", task="spin") >= (
        _sample(before, "crunch_task_duration_seconds_count", task="spin") + 3
    )
    assert _sample(after, "crunch_pool_workers") == 2


def test_request_id_is_echoed(client: httpx.Client) -> None:
    r = client.get("/healthz", headers={"X-Request-ID": "trace-123"})
    assert r.headers["X-Request-ID"] == "trace-123"
    assert len(client.get("/healthz").headers["X-Request-ID"]) == 16
