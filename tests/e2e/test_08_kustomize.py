"""The same application from `kubectl apply -k k8s/overlays/kind` (the Helm release
removed first, if any): every route answers through the Ingress from its own Service."""

from __future__ import annotations

import httpx

from tests.e2e.cluster import ROOT, Cluster

OVERLAY = ROOT / "k8s" / "overlays" / "kind"


def test_kustomize_overlay_serves_every_route(kind: Cluster) -> None:
    cluster = kind
    cluster.uninstall()
    cluster.kubectl("apply", "-k", str(OVERLAY))
    try:
        for svc in ("web", "hello", "world"):
            cluster.kubectl(
                "-n",
                cluster.namespace,
                "rollout",
                "status",
                f"deployment/crunch-{svc}",
                "--timeout=240s",
                timeout=300,
            )
        with httpx.Client(base_url=cluster.ingress_url, timeout=30) as client:
            for path, prefix in (
                ("/hello", "hello from pod crunch-hello-"),
                ("/world", "world from pod crunch-world-"),
            ):
                r = cluster.wait_for(
                    f"{path} through the Ingress",
                    lambda p=path: (x := client.get(p)).status_code == 200 and x,
                    timeout=60,
                )
                assert r.text.startswith(prefix), r.text
            r = client.get("/work/spin?n=100")
            assert r.status_code == 200, r.text
            assert r.json()["pod"].startswith("crunch-web-")
    finally:
        cluster.kubectl(
            "delete", "-k", str(OVERLAY), "--wait=true", "--ignore-not-found", timeout=300
        )
