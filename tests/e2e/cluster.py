"""Access to the e2e kind cluster: kubectl/helm as subprocesses, Prometheus through
the API server's service proxy. Every address used is the API server and the
Ingress that kind publishes on 127.0.0.1."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import httpx

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
# In CI the no-hang bounds of every wait are doubled: CI asserts behaviour, and a
# landing must not fail because a shared machine was slow for a minute.
SLACK = 2.0 if os.environ.get("CI", "").lower() in ("1", "true", "yes") else 1.0


def split_image(image: str) -> tuple[str, str]:
    """'repo/name:tag' -> ('repo/name', 'tag') (a registry port is not a tag)."""
    repo, sep, tag = image.rpartition(":")
    if not sep or "/" in tag:
        return image, "latest"
    return repo, tag


@dataclass(frozen=True)
class Cluster:
    kubeconfig: Path
    namespace: str
    release: str
    ingress_url: str
    chart: Path = ROOT / "helm" / "crunch"
    values: Path = ROOT / "scripts" / "e2e" / "values-e2e.yaml"
    image: str = ""
    fixture_image: str = ""
    example_image: str = ""
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> Cluster:
        env = dict(os.environ)
        env["KUBECONFIG"] = os.environ.get("E2E_KUBECONFIG", str(STATE / "kubeconfig"))
        env["PATH"] = f"{BIN}:{env.get('PATH', '')}"
        port = os.environ.get("E2E_INGRESS_PORT", "18080")
        # The same defaults as scripts/e2e/lib.sh.
        version = re.search(
            r'^version = "(.*)"', (ROOT / "pyproject.toml").read_text(), re.MULTILINE
        )
        assert version, "no version in pyproject.toml"
        image = os.environ.get("E2E_IMAGE") or f"crunch-e2e/crunch:{version.group(1)}"
        repo, tag = split_image(image)
        return cls(
            kubeconfig=Path(env["KUBECONFIG"]),
            namespace=os.environ.get("E2E_NAMESPACE", "crunch"),
            release=os.environ.get("E2E_RELEASE", "crunch"),
            ingress_url=f"http://127.0.0.1:{port}",
            image=image,
            fixture_image=os.environ.get("E2E_FIXTURE_IMAGE") or f"{repo}-fixtures:{tag}",
            example_image=os.environ.get("E2E_EXAMPLE_IMAGE") or f"{repo}-thumbnails:{tag}",
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
        """Poll cond() until it returns a truthy value; fail with `what` after timeout
        (a no-hang bound, doubled in CI)."""
        timeout *= SLACK
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            last = cond()
            if last:
                return last
            time.sleep(interval)
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")

    # -- the release under test -------------------------------------------------------

    def release_status(self) -> dict[str, Any] | None:
        out = self.helm("-n", self.namespace, "status", self.release, "-o", "json", check=False)
        return cast("dict[str, Any]", json.loads(out)) if out.strip() else None

    def profile(self) -> str | None:
        """The e2e profile the installed release was deployed with (None: no release)."""
        status = self.release_status()
        if status is None:
            return None
        desc = str(status["info"].get("description", ""))
        ok = status["info"]["status"] == "deployed" and desc.startswith("e2e:")
        return desc.removeprefix("e2e:") if ok else "unknown"

    def uninstall(self) -> None:
        if self.release_status() is not None:
            self.helm(
                "uninstall", self.release, "-n", self.namespace, "--wait", "--timeout", "240s"
            )
        # Only deleted pods' objects may linger a moment; the next install waits for them.
        self.wait_for(
            "the release's pods to be gone",
            lambda: (
                not self.get("pods", "-l", f"app.kubernetes.io/instance={self.release}")["items"]
                if self._namespace_phase() == "Active"
                else True
            ),
            timeout=180,
        )

    def _namespace_phase(self) -> str:
        return self.kubectl(
            "get", "namespace", self.namespace, "-o", "jsonpath={.status.phase}",
            "--ignore-not-found",
        ).strip()  # fmt: skip

    def deploy(self, profile: str, *values: str, image: str | None = None) -> None:
        """Make the release run `profile` (values-e2e.yaml + `values`): kept when it
        already does, else uninstalled and installed afresh, so every test starts from
        the state it needs whatever ran before it (or alone)."""
        if self.profile() == profile:
            self.wait_serving()
            return
        self.uninstall()
        # `kubectl delete -k` of test 8 deletes the namespace; Helm cannot install into
        # it while it terminates.
        if self._namespace_phase() == "Terminating":
            self.kubectl(
                "wait", "--for=delete", f"namespace/{self.namespace}", "--timeout=240s",
                timeout=260, check=False,
            )  # fmt: skip
        repo, tag = split_image(image or self.image)
        self.helm(
            "upgrade", "--install", self.release, str(self.chart), "-n", self.namespace,
            "--create-namespace", "-f", str(self.values),
            "--set", f"image.repository={repo}", "--set", f"image.tag={tag}",
            *values, "--description", f"e2e:{profile}", "--wait", "--timeout", "300s",
            timeout=420,
        )  # fmt: skip
        self.wait_serving()

    def wait_hpa_at_rest(self, name: str) -> int:
        """Wait until HPA `name` is at its minimum with a current metric (the state a
        load step starts from); return that minimum."""
        min_replicas = int(self.get("hpa", name)["spec"]["minReplicas"])
        self.wait_for(
            "the HPA at its minimum with a current metric",
            lambda: (
                (h := self.get("hpa", name))["status"].get("currentReplicas") == min_replicas
                and h["status"].get("currentMetrics")
            ),
            timeout=300,
        )
        return min_replicas

    def _scaled_objects(self) -> list[dict[str, Any]]:
        out = self.kubectl(
            "-n", self.namespace, "get", "scaledobjects.keda.sh", "-o", "json",
            "--ignore-not-found", check=False,
        )  # fmt: skip
        return cast("list[dict[str, Any]]", json.loads(out)["items"]) if out.strip() else []

    def wait_serving(self) -> None:
        """Every Deployment of the release Ready and `/` answering through the Ingress."""
        sel = f"app.kubernetes.io/instance={self.release}"

        def ready() -> bool:
            # With autoscaling on, a fresh Deployment starts at 1 replica until its HPA
            # raises it to minReplicas: wait for the HPA's minimum too.
            mins = {
                h["spec"]["scaleTargetRef"]["name"]: h["spec"].get("minReplicas", 1)
                for h in self.get("hpa")["items"]
            }
            # KEDA's HPA never goes below 1; its ScaledObject may (scale to zero).
            mins |= {
                o["spec"]["scaleTargetRef"]["name"]: o["spec"].get("minReplicaCount", 1)
                for o in self._scaled_objects()
            }
            deps = self.get("deployments", "-l", sel)["items"]
            return bool(deps) and all(
                d["status"].get("readyReplicas", 0)
                >= max(d["spec"].get("replicas", 1), mins.get(d["metadata"]["name"], 0))
                for d in deps
            )

        self.wait_for("every Deployment of the release Ready", ready, timeout=300)

        def answers() -> bool:
            try:
                return httpx.get(self.ingress_url + "/", timeout=5).status_code == 200
            except httpx.HTTPError:
                return False

        self.wait_for("/ through the Ingress", answers, timeout=120, interval=1)
