"""2. The pods of one Deployment land on at least two worker nodes."""

from __future__ import annotations

from tests.e2e.cluster import Cluster


def test_cluster_has_a_control_plane_and_at_least_two_workers(cluster: Cluster) -> None:
    nodes = cluster.get("nodes")["items"]
    roles = [
        "control-plane"
        if "node-role.kubernetes.io/control-plane" in n["metadata"]["labels"]
        else "worker"
        for n in nodes
    ]
    assert roles.count("control-plane") == 1
    assert roles.count("worker") >= 2
    for n in nodes:
        ready = {c["type"]: c["status"] for c in n["status"]["conditions"]}["Ready"]
        assert ready == "True", n["metadata"]["name"]


def test_web_pods_spread_over_worker_nodes(cluster: Cluster) -> None:
    nodes = cluster.get("nodes")["items"]
    workers = {
        n["metadata"]["name"]
        for n in nodes
        if "node-role.kubernetes.io/control-plane" not in n["metadata"]["labels"]
    }
    pods = cluster.pods("web")
    assert len(pods) >= 2, [p["metadata"]["name"] for p in pods]
    placed = {p["spec"]["nodeName"] for p in pods}
    assert placed <= workers, placed
    assert len(placed) >= 2, {p["metadata"]["name"]: p["spec"]["nodeName"] for p in pods}
