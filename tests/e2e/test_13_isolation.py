"""13. No one gets in where they don't belong: NetworkPolicy enforced (kube-router's
firewall controller, scripts/e2e/manifests/kube-router.yaml) and Pod Security
"restricted" enforced on the namespace crunch is installed into.

A release of its own (`isolated`, namespace `crunch-isolated`, PSA restricted for
enforce, warn and audit) with the balancer on and the peers narrowed the way
docs/deploy.md tells users to: routed requests from the Ingress controller's
namespace (`ingress`), scrapes from Prometheus' (`monitoring`). Its Ingress answers
on a host of its own, so the standard release's routes are untouched.

Probe pods (the crunch image's Python as a TCP client) stand in for an outsider in
another namespace and for the Ingress controller's namespace.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.cluster import BIN, Cluster, split_image
from tests.e2e.conftest import BALANCER, MODES, record
from tests.packaging.kube import docs

NS = "crunch-isolated"
RELEASE = "isolated"
HOST = "isolated.crunch.test"
PSA = ("enforce", "warn", "audit")
NARROW = (
    "--set-json",
    'networkPolicy.ingressFrom=[{"namespaceSelector":{"matchLabels":'
    '{"kubernetes.io/metadata.name":"ingress"}}}]',
    "--set-json",
    'networkPolicy.metricsFrom=[{"namespaceSelector":{"matchLabels":'
    '{"kubernetes.io/metadata.name":"monitoring"}}}]',
)
# A TCP connect from inside a pod: "open <ms>" or "blocked <reason> <ms>".
CONNECT = """
import socket, sys, time
host, port = sys.argv[1], int(sys.argv[2])
t = time.monotonic()
try:
    socket.create_connection((host, port), timeout=3).close()
    print("open", round((time.monotonic() - t) * 1000, 1))
except OSError as exc:
    print("blocked", type(exc).__name__, round((time.monotonic() - t) * 1000, 1))
"""
RESOLVE = "import socket, sys; print(socket.gethostbyname(sys.argv[1]))"


@pytest.fixture(scope="module")
def enforcer(kind: Cluster) -> Cluster:
    """kube-router's firewall controller Ready on every node."""
    kind.kubectl(
        "apply", "-f", str(kind.chart.parents[1] / "scripts/e2e/manifests/kube-router.yaml")
    )
    kind.kubectl(
        "-n", "kube-system", "rollout", "status", "daemonset/kube-router", "--timeout=180s",
        timeout=200,
    )  # fmt: skip
    return kind


def apply(kind: Cluster, obj: dict[str, Any]) -> None:
    done = subprocess.run(
        [str(BIN / "kubectl"), "apply", "-f", "-"],
        input=json.dumps(obj), env=kind.env, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def namespace(kind: Cluster, name: str, *labels: str) -> None:
    """Namespace `name` with `labels`, after an earlier run's copy is fully gone."""
    phase = kind.kubectl(
        "get", "namespace", name, "-o", "jsonpath={.status.phase}", "--ignore-not-found"
    ).strip()
    if phase == "Terminating":
        kind.kubectl("wait", "--for=delete", f"namespace/{name}", "--timeout=240s", timeout=260)
    manifest = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": dict(label.split("=", 1) for label in labels)},
    }
    apply(kind, manifest)


def restricted(kind: Cluster) -> None:
    namespace(kind, NS, *(f"pod-security.kubernetes.io/{mode}=restricted" for mode in PSA))


def probe(kind: Cluster, ns: str) -> str:
    """A client pod in `ns`, admitted under "restricted" too; returns its name."""
    repo, tag = split_image(kind.image)
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "probe", "namespace": ns, "labels": {"app": "probe"}},
        "spec": {
            "automountServiceAccountToken": False,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 10001,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": "probe",
                    "image": f"{repo}:{tag}",
                    "imagePullPolicy": "Never",
                    "command": ["/opt/crunch/bin/python", "-c", "import time; time.sleep(3600)"],
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]},
                    },
                    "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}},
                }
            ],
        },
    }
    apply(kind, pod)
    kind.kubectl(
        "-n", ns, "wait", "--for=condition=Ready", "pod/probe", "--timeout=120s", timeout=140
    )
    return "probe"


def in_pod(kind: Cluster, ns: str, pod: str, code: str, *args: str, container: str = "") -> str:
    which = ("-c", container) if container else ()
    return kind.kubectl(
        "-n", ns, "exec", pod, *which, "--", "/opt/crunch/bin/python", "-c", code, *args,
        timeout=30,
    ).strip()  # fmt: skip


def connect(
    kind: Cluster, ns: str, pod: str, ip: str, port: int = 8080, container: str = ""
) -> tuple[str, float]:
    words = in_pod(kind, ns, pod, CONNECT, ip, str(port), container=container).split()
    return words[0], float(words[-1])


def connect_open(kind: Cluster, ns: str, pod: str, ip: str, port: int = 8080) -> tuple[str, float]:
    """Like ``connect``, for a connection that must be let through: the enforcer programs
    a new pod's address within seconds, so a first refusal is retried (bounded)."""
    result = connect(kind, ns, pod, ip, port)
    for _ in range(10):
        if result[0] == "open":
            break
        time.sleep(2)
        result = connect(kind, ns, pod, ip, port)
    return result


def pod_ips(kind: Cluster, component: str) -> list[str]:
    sel = f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/component={component}"
    items = kind.get("pods", "-l", sel, namespace=NS)["items"]
    return [p["status"]["podIP"] for p in items if p["status"].get("podIP")]


def apply_dry_run(kind: Cluster, manifest: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "kubectl"), "-n", NS, "apply", "--dry-run=server", "-f", "-"],
        input=manifest, env=kind.env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def pods_only(rendered: str) -> str:
    """The Deployments and Pods of a render (CRDs of other modes may be absent here)."""
    items = [d for d in docs(rendered) if d["kind"] in ("Deployment", "Pod")]
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": items})


@pytest.fixture(scope="module")
def isolated(enforcer: Cluster) -> Iterator[Cluster]:
    """The isolated release, Ready, with its probes; removed afterwards."""
    kind = enforcer
    restricted(kind)
    namespace(kind, "crunch-outsider")
    repo, tag = split_image(kind.image)
    kind.helm(
        "upgrade", "--install", RELEASE, str(kind.chart), "-n", NS, "-f", str(kind.values),
        "--set", f"image.repository={repo}", "--set", f"image.tag={tag}",
        "--set", "autoscaling.mode=off", "--set", f"ingress.host={HOST}",
        *BALANCER, *NARROW, "--wait", "--timeout", "300s",
        timeout=420,
    )  # fmt: skip
    probe(kind, "crunch-outsider")
    probe(kind, "ingress")
    yield dataclasses.replace(kind, namespace=NS, release=RELEASE)
    kind.helm("uninstall", RELEASE, "-n", NS, "--wait", timeout=300, check=False)
    for ns in ("crunch-outsider", "ingress"):
        kind.kubectl("-n", ns, "delete", "pod", "probe", "--wait=false", check=False)
    kind.kubectl("delete", "namespace", NS, "crunch-outsider", "--wait=false", check=False)


@pytest.mark.parametrize("balancer", [False, True], ids=["pods", "balancer"])
@pytest.mark.parametrize("mode", MODES)
def test_restricted_namespace_admits_every_pod_without_warning(
    enforcer: Cluster, mode: str, balancer: bool
) -> None:
    kind = enforcer
    restricted(kind)
    repo, tag = split_image(kind.image)
    rendered = kind.helm(
        "template", RELEASE, str(kind.chart), "-n", NS, "-f", str(kind.values),
        "--set", f"image.repository={repo}", "--set", f"image.tag={tag}",
        "--set", f"autoscaling.mode={mode}", *(BALANCER if balancer else ()),
    )  # fmt: skip
    done = apply_dry_run(kind, pods_only(rendered))
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr, done.stderr
    assert "created (server dry run)" in done.stdout or "configured" in done.stdout


def test_helm_test_passes_in_the_restricted_namespace(isolated: Cluster) -> None:
    out = isolated.helm("test", RELEASE, "-n", NS, "--timeout", "180s", timeout=240)
    assert "Phase:          Succeeded" in out, out


def test_outsider_is_refused_by_every_pod(isolated: Cluster) -> None:
    figures: dict[str, Any] = {}
    for component in ("web", "hello", "balancer"):
        for ip in pod_ips(isolated, component):
            verdict, ms = connect(isolated, "crunch-outsider", "probe", ip)
            assert verdict == "blocked", f"{component} pod {ip}: an outsider got in"
            figures[f"outsider->{component}"] = ms
    record("isolation-refused", figures)


def test_ingress_namespace_reaches_the_balancer_only(isolated: Cluster) -> None:
    (balancer,) = pod_ips(isolated, "balancer")
    verdict, ms = connect_open(isolated, "ingress", "probe", balancer)
    assert verdict == "open", "the Ingress controller's namespace cannot reach the balancer"
    figures = {"ingress->balancer": ms}
    for ip in pod_ips(isolated, "web"):
        verdict, ms = connect(isolated, "ingress", "probe", ip)
        assert verdict == "blocked", "with the balancer on, pods take routed requests from it only"
        figures["ingress->web (bypassing the balancer)"] = ms
    record("isolation-ingress-namespace", figures)


def test_same_port_answers_through_the_ingress(isolated: Cluster) -> None:
    for path in ("/work/noop", "/hello", "/world"):
        r = httpx.get(isolated.ingress_url + path, headers={"Host": HOST}, timeout=30)
        assert r.status_code == 200, (path, r.status_code, r.text[:200])


def test_prometheus_scrapes_the_isolated_pods(isolated: Cluster) -> None:
    expected = len(pod_ips(isolated, "web")) + len(pod_ips(isolated, "hello"))

    def scraped() -> bool:
        up = isolated.prometheus(f'up{{namespace="{NS}"}}')
        healthy = [s for s in up if s["value"][1] == "1" and "balancer" not in s["metric"]["pod"]]
        return len(healthy) >= expected

    isolated.wait_for("Prometheus scraping every isolated crunch pod", scraped, timeout=60)


def test_egress_is_dns_only(isolated: Cluster) -> None:
    pod = isolated.pods("web")[0]["metadata"]["name"]
    api = in_pod(
        isolated, NS, pod, RESOLVE, "kubernetes.default.svc.cluster.local", container="crunch"
    )
    assert api.count(".") == 3, f"DNS must resolve: {api!r}"
    verdict, _ = connect(isolated, NS, pod, api, 443, container="crunch")
    assert verdict == "blocked", "a crunch pod reached the API server"
    outsider = isolated.get("pod", "probe", namespace="crunch-outsider")["status"]["podIP"]
    verdict, _ = connect(isolated, NS, pod, outsider, 8080, container="crunch")
    assert verdict == "blocked", "a crunch pod reached a pod in another namespace"
