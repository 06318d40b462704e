"""1. Every route answers through the Ingress from the host, each from its own Service."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.e2e.cluster import Cluster


def test_ingress_routes_each_path_to_its_own_service(cluster: Cluster) -> None:
    ing = cluster.get("ingress")["items"]
    assert len(ing) == 1, [i["metadata"]["name"] for i in ing]
    backends = {
        p["path"]: p["backend"]["service"]["name"]
        for rule in ing[0]["spec"]["rules"]
        for p in rule["http"]["paths"]
    }
    assert backends == {
        "/hello": f"{cluster.release}-hello",
        "/world": f"{cluster.release}-world",
        "/": f"{cluster.release}-web",
    }


@pytest.mark.parametrize(
    ("path", "service"),
    [("/hello", "hello"), ("/world", "world"), ("/", "web"), ("/work/spin?n=200", "web")],
)
def test_route_answers_from_its_deployment(cluster: Cluster, path: str, service: str) -> None:
    pods = {p["metadata"]["name"] for p in cluster.pods(service)}
    assert pods, f"no running pod of {service}"
    seen: set[str] = set()
    with httpx.Client(base_url=cluster.ingress_url, timeout=30) as client:
        for _ in range(6):
            r = client.get(path)
            assert r.status_code == 200, (path, r.status_code, r.text[:300])
            if path.startswith("/work/"):
                body = r.json()
                assert body["task"] == "spin"
                assert body["result"] == 200 * 200
                assert r.headers["x-worker"]
                assert "queue;dur=" in r.headers["server-timing"]
                pod = body["pod"]
            elif path == "/":
                assert r.headers["content-type"].startswith("text/html")
                m = re.search(r"pod <code>([^<]+)</code>", r.text)
                assert m, r.text[:500]
                pod = m.group(1)
            else:
                assert r.text.startswith(f"{service} from pod "), r.text
                pod = r.text.split()[3].rstrip(",")
            assert pod in pods, (path, pod, pods)
            seen.add(pod)
    assert seen <= pods
