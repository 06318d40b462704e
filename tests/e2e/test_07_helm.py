"""7. `helm test` passes; `helm uninstall` leaves nothing of the release behind."""

from __future__ import annotations

import json

from tests.e2e.cluster import Cluster

KINDS = (
    "deployments,replicasets,pods,services,endpointslices,ingresses,hpa,pdb,"
    "networkpolicies,serviceaccounts,configmaps,secrets"
)


def test_helm_test_passes(cluster: Cluster) -> None:
    out = cluster.helm("test", cluster.release, "-n", cluster.namespace, "--logs", timeout=300)
    assert "Phase:          Succeeded" in out or "Succeeded" in out, out


def test_helm_uninstall_leaves_nothing(cluster: Cluster) -> None:
    cluster.helm(
        "uninstall", cluster.release, "-n", cluster.namespace, "--wait", "--timeout", "180s"
    )
    sel = f"app.kubernetes.io/instance={cluster.release}"

    def gone() -> bool:
        left = json.loads(cluster.kubectl("get", KINDS, "-A", "-l", sel, "-o", "json"))["items"]
        return not left

    cluster.wait_for("every object of the release to be deleted", gone, timeout=120)
    secrets = json.loads(
        cluster.kubectl(
            "-n",
            cluster.namespace,
            "get",
            "secrets",
            "-l",
            f"owner=helm,name={cluster.release}",
            "-o",
            "json",
        )
    )["items"]
    assert not secrets, [s["metadata"]["name"] for s in secrets]
    assert cluster.helm("list", "-n", cluster.namespace, "-q").split() == []
