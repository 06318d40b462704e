"""The same application from `kubectl apply -k k8s/overlays/kind` (the Helm release
removed first, if any): every route answers through the Ingress from its own Service."""

from __future__ import annotations

import os
from pathlib import Path

import httpx

from tests.e2e.cluster import ROOT, Cluster, split_image

OVERLAY = ROOT / "k8s" / "overlays" / "kind"


def _with_image(tmp_path: Path, image: str) -> Path:
    """A kustomization of the overlay as is, but for the image under test (what a user
    does for their own tag: an `images` override on top)."""
    repo, tag = split_image(image)
    (tmp_path / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\n"
        "kind: Kustomization\n"
        f"resources: [{os.path.relpath(OVERLAY, tmp_path)}]\n"  # kustomize: relative only
        f"images: [{{name: crunch, newName: {repo}, newTag: '{tag}'}}]\n"
    )
    return tmp_path


def test_kustomize_overlay_serves_every_route(kind: Cluster, tmp_path: Path) -> None:
    cluster = kind
    cluster.uninstall()
    overlay = _with_image(tmp_path, cluster.image)
    cluster.kubectl("apply", "-k", str(overlay))
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
            "delete", "-k", str(overlay), "--wait=true", "--ignore-not-found", timeout=300
        )
