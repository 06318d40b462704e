"""6. Prometheus scrapes /metrics of every crunch pod."""

from __future__ import annotations

from tests.e2e.cluster import Cluster


def test_every_pod_is_scraped(cluster: Cluster) -> None:
    pods = {p["metadata"]["name"] for svc in ("web", "hello", "world") for p in cluster.pods(svc)}
    assert pods

    def scraped() -> set[str] | None:
        up = cluster.prometheus(f'up{{namespace="{cluster.namespace}"}} == 1')
        seen = {r["metric"]["pod"] for r in up}
        return seen if pods <= seen else None

    cluster.wait_for("every crunch pod up in Prometheus", scraped, timeout=60)
    sat = cluster.prometheus(f'crunch_saturation{{namespace="{cluster.namespace}"}}')
    assert pods <= {r["metric"]["pod"] for r in sat}
    workers = cluster.prometheus(f'crunch_pool_workers{{namespace="{cluster.namespace}"}}')
    assert {float(r["value"][1]) for r in workers if r["metric"]["pod"] in pods} == {1.0}
