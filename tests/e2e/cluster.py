"""Access to the e2e kind cluster: kubectl/helm as subprocesses, Prometheus through
the API server's service proxy. Every address used is the API server and the
Ingress that kind publishes on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parents[2]
# The per-machine e2e cache (scripts/e2e/lib.sh): outside the work tree, shared by clones.
CACHE = Path(
    os.environ.get("CRUNCH_E2E_CACHE")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "crunch-e2e"
)
BIN = CACHE / "bin"
CLUSTER_NAME = os.environ.get("E2E_CLUSTER", "crunch-e2e")
# What belongs to one cluster (kubeconfig, results of its run) lives under its name.
STATE = CACHE / "clusters" / CLUSTER_NAME


@dataclass(frozen=True)
class Cluster:
    kubeconfig: Path
    namespace: str
    release: str
    ingress_url: str
    chart: Path = ROOT / "helm" / "crunch"
    values: Path = ROOT / "scripts" / "e2e" / "values-e2e.yaml"
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> Cluster:
        env = dict(os.environ)
        env["KUBECONFIG"] = os.environ.get("E2E_KUBECONFIG", str(STATE / "kubeconfig"))
        env["PATH"] = f"{BIN}:{env.get('PATH', '')}"
        port = os.environ.get("E2E_INGRESS_PORT", "18080")
        return cls(
            kubeconfig=Path(env["KUBECONFIG"]),
            namespace=os.environ.get("E2E_NAMESPACE", "crunch"),
            release=os.environ.get("E2E_RELEASE", "crunch"),
            ingress_url=f"http://127.0.0.1:{port}",
            env=env,
        )

    def run(self, *args: str, timeout: float = 300, check: bool = True) -> str:
        proc = subprocess.run(
            list(args),
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"{' '.join(args)} -> {proc.returncode}\n{proc.stderr}{proc.stdout}"
            )
        return proc.stdout

    def kubectl(self, *args: str, timeout: float = 120, check: bool = True) -> str:
        return self.run(str(BIN / "kubectl"), *args, timeout=timeout, check=check)

    def helm(self, *args: str, timeout: float = 600, check: bool = True) -> str:
        return self.run(str(BIN / "helm"), *args, timeout=timeout, check=check)

    def get(self, *args: str, namespace: str | None = None) -> dict[str, Any]:
        ns = namespace or self.namespace
        return cast(
            "dict[str, Any]", json.loads(self.kubectl("-n", ns, "get", *args, "-o", "json"))
        )

    def pods(self, deployment: str) -> list[dict[str, Any]]:
        """Running, not terminating pods of one Deployment of the release."""
        sel = f"app.kubernetes.io/instance={self.release},app.kubernetes.io/component={deployment}"
        items = cast("list[dict[str, Any]]", self.get("pods", "-l", sel)["items"])
        return [
            p
            for p in items
            if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")
        ]

    def deployment_name(self, service: str) -> str:
        return f"{self.release}-{service}"

    def prometheus(self, query: str) -> list[dict[str, Any]]:
        q = urllib.parse.quote(query, safe="")
        raw = self.kubectl(
            "get",
            "--raw",
            f"/api/v1/namespaces/monitoring/services/prometheus:9090/proxy/api/v1/query?query={q}",
        )
        body = json.loads(raw)
        assert body["status"] == "success", body
        return cast("list[dict[str, Any]]", body["data"]["result"])

    def wait_for(self, what: str, cond: Any, timeout: float, interval: float = 2.0) -> Any:
        """Poll cond() until it returns a truthy value; fail with `what` after timeout."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            last = cond()
            if last:
                return last
            time.sleep(interval)
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")
