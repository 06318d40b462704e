"""Render the Helm chart and the kustomize overlays with the real binaries.

The binaries are the project's own (`make tools` puts kubectl and helm in .cache/bin
and kubernetes-validate in .cache/tools-venv); tests skip, saying so, without them.
Rendered YAML is turned into JSON by the tools venv's PyYAML, so the app's venv needs
no YAML library.
"""

from __future__ import annotations

import functools
import json
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "crunch"
K8S = ROOT / "k8s"
CACHE = ROOT / ".cache"

# Kubernetes minor versions the manifests are validated against (oldest supported,
# the kind e2e cluster's, the newest that still runs on cgroup v1).
KUBE_VERSIONS = ("1.30.0", "1.34.0", "1.35.0")
MODES = ("prometheus-adapter", "keda", "cpu", "off")
OVERLAYS = (
    "prometheus-adapter",
    "keda",
    "cpu",
    "kind",
    "haproxy-ingress",
    "haproxy-balancer",
    "example",
)
SERVICES = {"web": "/", "hello": "/hello", "world": "/world"}
RELEASE = "crunch"
NAMESPACE = "crunch"

Doc = dict[str, Any]


@dataclass(frozen=True)
class Tools:
    helm: Path
    kubectl: Path
    python: Path
    validate: Path


def find_tools() -> Tools:
    """The packaging tools, or a pytest skip that says how to install them."""
    tools = Tools(
        helm=CACHE / "bin" / "helm",
        kubectl=CACHE / "bin" / "kubectl",
        python=CACHE / "tools-venv" / "bin" / "python",
        validate=CACHE / "tools-venv" / "bin" / "kubernetes-validate",
    )
    missing = [str(p.relative_to(ROOT)) for p in vars(tools).values() if not p.exists()]
    if missing:
        pytest.skip(
            f"packaging tools not installed ({', '.join(missing)} missing): "
            "run `make tools` (`make test` installs them first)"
        )
    return tools


def run(args: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=120)


@functools.cache
def helm_template(*flags: str, namespace: str = NAMESPACE) -> str:
    """`helm template crunch helm/crunch` with extra flags (e.g. "--set", "a=b")."""
    tools = find_tools()
    done = run([str(tools.helm), "template", RELEASE, str(CHART), "-n", namespace, *flags])
    if done.returncode != 0:
        raise RenderError(done.stderr.strip())
    return done.stdout


def helm_fails(*flags: str) -> str:
    """The error text of a render that must fail."""
    try:
        helm_template(*flags)
    except RenderError as err:
        return str(err)
    raise AssertionError(f"helm template {' '.join(flags)} rendered, but should have failed")


@functools.cache
def kustomize(path: str) -> str:
    """`kubectl kustomize k8s/<path>`."""
    tools = find_tools()
    done = run([str(tools.kubectl), "kustomize", str(K8S / path)])
    if done.returncode != 0:
        raise RenderError(done.stderr.strip())
    return done.stdout


class RenderError(Exception):
    pass


@functools.cache
def _parse(text: str) -> str:
    tools = find_tools()
    code = (
        "import json, sys, yaml\n"
        "json.dump([d for d in yaml.safe_load_all(sys.stdin) if d], sys.stdout)\n"
    )
    done = run([str(tools.python), "-c", code], stdin=text)
    if done.returncode != 0:
        raise RenderError(done.stderr.strip())
    return done.stdout


def docs(text: str) -> list[Doc]:
    """The YAML documents of a render, as fresh JSON-like objects."""
    parsed: list[Doc] = json.loads(_parse(text))
    return parsed


def load_yaml_file(path: Path) -> Any:
    return json.loads(_parse(path.read_text()))


def validate(renders: dict[str, str], version: str) -> subprocess.CompletedProcess[str]:
    """kubernetes-validate --strict of several renders (name -> YAML) against one
    Kubernetes version's schemas, in one process (loading the schemas is the slow part).
    """
    tools = find_tools()
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for name, text in renders.items():
            path = Path(tmp) / f"{name}.yaml"
            path.write_text(text)
            files.append(str(path))
        return run([str(tools.validate), "--strict", "--quiet", "-k", version, *files])


def by_kind(items: list[Doc], kind: str) -> dict[str, Doc]:
    return {d["metadata"]["name"]: d for d in items if d["kind"] == kind}


def pod_specs(items: list[Doc]) -> dict[str, Doc]:
    """Every pod spec in a render: Deployments' templates and bare Pods."""
    specs: dict[str, Doc] = {}
    for d in items:
        if d["kind"] == "Deployment":
            specs[f"Deployment/{d['metadata']['name']}"] = d["spec"]["template"]["spec"]
        elif d["kind"] == "Pod":
            specs[f"Pod/{d['metadata']['name']}"] = d["spec"]
    return specs


def env_of(container: Doc) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def assert_pod_secure(where: str, spec: Doc) -> None:
    """The pod-level rules every crunch pod keeps (the restricted Pod Security Standard+)."""
    pod_ctx = spec.get("securityContext", {})
    assert pod_ctx.get("runAsNonRoot") is True, f"{where}: runAsNonRoot"
    assert pod_ctx.get("seccompProfile", {}).get("type") == "RuntimeDefault", f"{where}: seccomp"
    assert spec.get("automountServiceAccountToken") is False, f"{where}: token automount"
    for c in spec["containers"]:
        ctx = c.get("securityContext", {})
        name = f"{where}/{c['name']}"
        assert ctx.get("readOnlyRootFilesystem") is True, f"{name}: readOnlyRootFilesystem"
        assert ctx.get("allowPrivilegeEscalation") is False, f"{name}: allowPrivilegeEscalation"
        assert ctx.get("capabilities", {}).get("drop") == ["ALL"], f"{name}: drop ALL"
        assert ctx.get("privileged", False) is False, f"{name}: privileged"
        assert ctx.get("seccompProfile", {}).get("type") == "RuntimeDefault", f"{name}: seccomp"
        assert int(ctx.get("runAsUser", pod_ctx.get("runAsUser", 0))) >= 10000, f"{name}: UID"
        limits = c.get("resources", {}).get("limits", {})
        assert "cpu" in limits and "memory" in limits, f"{name}: CPU and memory limits"


def assert_crunch_pod(where: str, spec: Doc) -> None:
    """What a crunch server pod needs beyond security: probes, drain, /tmp, spread."""
    assert_pod_secure(where, spec)
    (c,) = spec["containers"]
    assert c["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    pre_stop = c["lifecycle"]["preStop"]["sleep"]["seconds"]
    drain = float(env_of(c)["CRUNCH_DRAIN_TIMEOUT"])
    assert spec["terminationGracePeriodSeconds"] > pre_stop + drain, f"{where}: grace too short"
    assert env_of(c)["CRUNCH_WORKERS"] == {
        "resourceFieldRef": {"containerName": c["name"], "resource": "limits.cpu", "divisor": "1"}
    }, f"{where}: the pool size must come from the CPU limit"
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]], f"{where}: writable /tmp"
    spread = {t["topologyKey"]: t for t in spec["topologySpreadConstraints"]}
    assert sorted(spread) == ["kubernetes.io/hostname", "topology.kubernetes.io/zone"], where
    # DoNotSchedule on zones would keep pods Pending on nodes without a zone label.
    zone = spread["topology.kubernetes.io/zone"]
    assert zone["whenUnsatisfiable"] == "ScheduleAnyway", f"{where}: zone spread must not block"
