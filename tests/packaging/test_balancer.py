"""The in-cluster balancer (`balancer.enabled`, k8s/overlays/haproxy-balancer): HAProxy
as a Deployment in front of each microservice's pods, found through headless Services.

Its configuration has one source: ``render_kubernetes`` in app/balancer/haproxy.py,
run at pod start by the balancer's init container (``crunch haproxy-config
--kube-service ...``). These tests run that init container's command as rendered,
with this checkout's crunch, and check the text it writes (several value sets), that
it passes ``haproxy -c``, and that the kustomize overlay's command does the same.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from app.balancer.haproxy import BalancerSettings, KubeBackend, render_kubernetes
from tests.packaging.kube import (
    CHART,
    NAMESPACE,
    ROOT,
    SERVICES,
    Doc,
    assert_pod_secure,
    by_kind,
    docs,
    find_tools,
    helm_fails,
    helm_template,
    kustomize,
    run,
)

ON = ("--set", "balancer.enabled=true")

# Value sets whose balancer configuration is compared with render_kubernetes.
VALUE_SETS: dict[str, tuple[str, ...]] = {
    "default": ON,
    "two-replicas-short-queue": (
        *ON,
        "--set", "balancer.replicas=2",
        "--set", "balancer.queueTimeout=3",
        "--set", "balancer.taskTimeout=10",
        "--set", "balancer.retryAfter=2",
        "--set", "balancer.accessLog=true",
        "--set", "balancer.maxClients=500",
        "--set", "serviceDefaults.workers=4",
        "--set", "balancer.clusterDomain=k8s.example",
    ),
    "e2e": (*ON, "-f", str(ROOT / "scripts" / "e2e" / "values-e2e.yaml")),
    "no-root-path": (
        *ON,
        "--set-json", 'services=[{"name":"api","path":"/api","crunchServices":"none"},'
        '{"name":"hello","path":"/hello/","crunchServices":"hello","workers":3}]',
    ),
    "autoscaling-off": (
        *ON,
        "--set", "autoscaling.mode=off",
        "--set", "serviceDefaults.replicas=12",
    ),
}  # fmt: skip


def render(*flags: str) -> list[Doc]:
    return docs(helm_template(*flags))


def config_of(items: list[Doc]) -> str:
    """What the balancer pod's init container writes: its command, run here."""
    spec = by_kind(items, "Deployment")["crunch-balancer"]["spec"]["template"]["spec"]
    (init,) = spec["initContainers"]
    command: list[str] = init["command"]
    assert command[:2] == ["/opt/crunch/bin/crunch", "haproxy-config"]
    assert command[-2:] == ["--output", "/usr/local/etc/crunch-balancer/haproxy.cfg"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRUNCH_")}
    done = subprocess.run(
        [sys.executable, "-m", "app.balancer.haproxy", *command[2:-2]],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def _settings(**overrides: Any) -> BalancerSettings:
    base: dict[str, Any] = {"host": "0.0.0.0", "port": 8080, "stats_port": 8404}
    base.update(overrides)
    return BalancerSettings(**base)


def _backends(
    services: list[tuple[str, str, int, int]], domain: str = "cluster.local"
) -> list[KubeBackend]:
    return [
        KubeBackend(
            name=name,
            path=path,
            fqdn=f"crunch-{name}-pods.{NAMESPACE}.svc.{domain}",
            port=8080,
            workers=workers,
            slots=slots,
        )
        for name, path, workers, slots in services
    ]


DEFAULT_SERVICES = [("web", "/", 2, 10), ("hello", "/hello", 2, 10), ("world", "/world", 2, 10)]

# For each value set: what render_kubernetes is given.
EXPECTED: dict[str, tuple[list[KubeBackend], BalancerSettings, int]] = {
    "default": (_backends(DEFAULT_SERVICES), _settings(), 1),
    "two-replicas-short-queue": (
        _backends(
            [("web", "/", 4, 10), ("hello", "/hello", 4, 10), ("world", "/world", 4, 10)],
            domain="k8s.example",
        ),
        _settings(
            task_timeout=10,
            queue_timeout=3,
            retry_after=2,
            access_log=True,
            max_clients=500,
        ),
        2,
    ),
    "e2e": (
        _backends([("web", "/", 1, 6), ("hello", "/hello", 1, 4), ("world", "/world", 1, 4)]),
        _settings(),
        1,
    ),
    "no-root-path": (
        _backends([("api", "/api", 2, 10), ("hello", "/hello/", 3, 10)]),
        _settings(),
        1,
    ),
    "autoscaling-off": (
        _backends([("web", "/", 2, 12), ("hello", "/hello", 2, 12), ("world", "/world", 2, 12)]),
        _settings(),
        1,
    ),
}


@pytest.mark.parametrize("case", sorted(VALUE_SETS))
def test_init_container_renders_render_kubernetes(case: str) -> None:
    backends, settings, replicas = EXPECTED[case]
    chart = config_of(render(*VALUE_SETS[case]))
    assert chart == render_kubernetes(backends, settings, replicas=replicas)


@pytest.mark.haproxy
@pytest.mark.parametrize("case", sorted(VALUE_SETS))
def test_chart_config_passes_haproxy_check(case: str, tmp_path: Path) -> None:
    binary = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/usr/local/sbin")
    if binary is None:
        pytest.skip("haproxy is not installed (run `make haproxy-install`)")
    path = tmp_path / "haproxy.cfg"
    path.write_text(config_of(render(*VALUE_SETS[case])))
    done = subprocess.run(
        [binary, "-c", "-f", str(path)], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Configuration file is valid" in done.stdout


@pytest.mark.haproxy
def test_kustomize_overlay_config_passes_haproxy_check(tmp_path: Path) -> None:
    binary = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/usr/local/sbin")
    if binary is None:
        pytest.skip("haproxy is not installed (run `make haproxy-install`)")
    items = docs(kustomize("overlays/haproxy-balancer"))
    path = tmp_path / "haproxy.cfg"
    path.write_text(config_of(items))
    done = subprocess.run(
        [binary, "-c", "-f", str(path)], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_off_by_default() -> None:
    items = render()
    names = {(d["kind"], d["metadata"]["name"]) for d in items}
    assert not {n for n in names if "balancer" in n[1] or n[1].endswith("-pods")}
    (ingress,) = by_kind(items, "Ingress").values()
    backends = {
        p["backend"]["service"]["name"] for p in ingress["spec"]["rules"][0]["http"]["paths"]
    }
    assert backends == {f"crunch-{s}" for s in SERVICES}


@pytest.mark.parametrize("tree", ["chart", "kustomize"])
def test_ingress_sends_every_path_to_the_balancer(tree: str) -> None:
    items = render(*ON) if tree == "chart" else docs(kustomize("overlays/haproxy-balancer"))
    (ingress,) = by_kind(items, "Ingress").values()
    paths = {
        p["path"]: p["backend"]["service"] for p in ingress["spec"]["rules"][0]["http"]["paths"]
    }
    assert sorted(paths) == sorted(SERVICES.values())
    assert {b["name"] for b in paths.values()} == {"crunch-balancer"}
    svc = by_kind(items, "Service")["crunch-balancer"]
    (port,) = svc["spec"]["ports"]
    assert port["name"] == "http" and port["targetPort"] == "http"
    pod = by_kind(items, "Deployment")["crunch-balancer"]["spec"]["template"]
    assert svc["spec"]["selector"].items() <= pod["metadata"]["labels"].items()


def test_headless_services_select_each_microservices_ready_pods() -> None:
    items = render(*ON)
    services = by_kind(items, "Service")
    deployments = by_kind(items, "Deployment")
    config = config_of(items)
    for name in SERVICES:
        headless = services[f"crunch-{name}-pods"]
        assert headless["spec"]["clusterIP"] == "None"
        assert not headless["spec"].get("publishNotReadyAddresses", False)
        labels = deployments[f"crunch-{name}"]["spec"]["template"]["metadata"]["labels"]
        assert headless["spec"]["selector"].items() <= labels.items()
        (port,) = headless["spec"]["ports"]
        assert port["port"] == 8080 and port["targetPort"] == "http"
        fqdn = f"crunch-{name}-pods.{NAMESPACE}.svc.cluster.local:8080"
        assert f"server-template {name} 10 {fqdn} resolvers dns init-addr none maxconn 2" in config


def test_config_routes_queues_and_answers_503_like_the_local_balancer() -> None:
    config = config_of(render(*ON))
    assert "    parse-resolv-conf\n" in config
    assert "    balance leastconn\n" in config
    assert "    timeout queue 30s\n" in config
    assert "uri /readyz" in config
    assert "http-error status 503 content-type application/json" in config
    assert "hdr Retry-After 1" in config
    assert "    use_backend hello if route_hello\n" in config
    assert "    use_backend world if route_world\n" in config
    assert "    default_backend web\n" in config


@pytest.mark.parametrize(
    ("workers", "replicas", "maxconn"),
    [(1, 1, 1), (2, 1, 2), (2, 2, 1), (4, 2, 2), (4, 3, 1), (1, 3, 1)],
)
def test_maxconn_is_workers_divided_by_balancer_replicas(
    workers: int, replicas: int, maxconn: int
) -> None:
    config = config_of(
        render(
            *ON,
            "--set", f"serviceDefaults.workers={workers}",
            "--set", f"balancer.replicas={replicas}",
        )
    )  # fmt: skip
    lines = [line for line in config.splitlines() if "server-template" in line]
    assert len(lines) == 3
    assert all(line.endswith(f" maxconn {maxconn}") for line in lines)


def test_balancer_pod_is_locked_down_and_binds_an_unprivileged_port() -> None:
    items = render(*ON)
    dep = by_kind(items, "Deployment")["crunch-balancer"]
    spec = dep["spec"]["template"]["spec"]
    assert_pod_secure("Deployment/crunch-balancer", spec)
    (c,) = spec["containers"]
    assert {p["name"]: p["containerPort"] for p in c["ports"]} == {"http": 8080, "stats": 8404}
    assert "bind 0.0.0.0:8080" in config_of(items)
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    config_dir = mounts["/usr/local/etc/crunch-balancer"]
    assert "emptyDir" in volumes[config_dir]
    assert c["args"][-1] == "/usr/local/etc/crunch-balancer/haproxy.cfg"
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "stats"}
    (init,) = spec["initContainers"]
    assert init["image"] == "crunch:0.1.0", "the config comes from crunch's own renderer"
    assert {m["name"]: m["mountPath"] for m in init["volumeMounts"]} == {
        config_dir: "/usr/local/etc/crunch-balancer"
    }
    assert {m["name"]: m.get("readOnly") for m in c["volumeMounts"]}[config_dir] is True
    grace = spec["terminationGracePeriodSeconds"]
    assert grace > 30 + 30 + 5, "queued and running requests finish on a soft stop"


def test_a_service_named_balancer_is_refused() -> None:
    message = helm_fails(
        *ON,
        "--set-json", 'services=[{"name":"balancer","path":"/","crunchServices":"none"}]',
    )  # fmt: skip
    assert 'the name \\"balancer\\" is taken' in message or 'name "balancer" is taken' in message


@pytest.mark.parametrize(
    "flag",
    ["balancer.replicas=0", "balancer.queueTimeout=0", "balancer.statsPort=80", "balancer.nope=1"],
)
def test_bad_balancer_values_are_rejected_by_the_schema(flag: str) -> None:
    assert "balancer" in helm_fails(*ON, "--set", flag)


def test_service_monitor_skips_the_balancer_and_headless_services() -> None:
    items = render(*ON, "--set", "serviceMonitor.enabled=true")
    (monitor,) = [d for d in items if d["kind"] == "ServiceMonitor"]
    (expr,) = monitor["spec"]["selector"]["matchExpressions"]
    assert expr["key"] == "app.kubernetes.io/component" and expr["operator"] == "In"
    assert sorted(expr["values"]) == sorted(SERVICES)
    for name, svc in by_kind(items, "Service").items():
        selected = svc["metadata"]["labels"].get("app.kubernetes.io/component") in expr["values"]
        assert selected == (name in {f"crunch-{s}" for s in SERVICES}), name


def test_notes_explain_the_balancer_arithmetic() -> None:
    tools = find_tools()
    done = run(
        [
            str(tools.helm), "install", "crunch", str(CHART), "--dry-run=client",
            "-n", NAMESPACE, *ON,
            "--set", "balancer.replicas=2",
            "--set", "serviceDefaults.workers=3",
        ]
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    notes = done.stdout.split("NOTES:", 1)[1]
    assert "crunch-web: 3 workers per pod -> maxconn 1 per balancer replica" in notes
    assert "3 workers do not divide by 2 replicas" in notes


def test_balancer_readiness_and_liveness_probes_differ() -> None:
    """Ready: the port clients reach is bound (it closes on a soft stop). Alive: the
    process answers HTTP on its stats port. The same probe twice would tell nothing new."""
    for items in (
        render("--set", "balancer.enabled=true"),
        docs(kustomize("overlays/haproxy-balancer")),
    ):
        (container,) = by_kind(items, "Deployment")["crunch-balancer"]["spec"]["template"]["spec"][
            "containers"
        ]
        assert container["readinessProbe"]["tcpSocket"] == {"port": "http"}
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"] != container["livenessProbe"]


def test_queue_slack_reaches_the_config() -> None:
    config = config_of(render(*ON, "--set", "balancer.queueSlack=1"))
    lines = [line for line in config.splitlines() if "server-template" in line]
    assert lines and all(line.endswith(" maxconn 3") for line in lines)  # 2 workers + 1
