"""The Helm chart: lint, schema-valid renders, routing, security, autoscaling, values checks."""

from __future__ import annotations

import json

import pytest

from tests.packaging.kube import (
    CHART,
    KUBE_VERSIONS,
    MODES,
    NAMESPACE,
    ROOT,
    SERVICES,
    Doc,
    assert_crunch_pod,
    assert_pod_secure,
    by_kind,
    docs,
    env_of,
    find_tools,
    helm_fails,
    helm_template,
    kustomize,
    pod_specs,
    run,
    validate,
)

EVERYTHING = (
    "--set", "serviceMonitor.enabled=true",
    "--set", "prometheusRule.enabled=true",
    "--set", "grafanaDashboard.enabled=true",
    "--set", "ingress.className=haproxy",
    "--set", "ingress.host=crunch.example.com",
    "--set-json", 'ingress.tls=[{"secretName":"crunch-tls","hosts":["crunch.example.com"]}]',
    "--set", "ingress.busyAware.enabled=true",
    "--set", "ingress.busyAware.controllerReplicas=2",
)  # fmt: skip

# Value sets rendered, linted and validated: the default, each autoscaling mode,
# every optional feature at once, and a lowered CPU request with a strict hostname spread.
CONFIGS: dict[str, tuple[str, ...]] = {
    "default": (),
    **{f"mode-{m}": ("--set", f"autoscaling.mode={m}") for m in MODES},
    "everything": EVERYTHING,
    "haproxytech": (*EVERYTHING, "--set", "ingress.busyAware.controller=haproxytech"),
    "balancer": (
        "--set", "balancer.enabled=true",
        "--set", "balancer.replicas=2",
        "--set", "serviceMonitor.enabled=true",
        "--set-json", 'networkPolicy.ingressFrom=[{"namespaceSelector":{}}]',
    ),
    "scale-to-zero": (
        "--set", "autoscaling.mode=keda",
        "--set", "balancer.enabled=true",
        "--set", "serviceDefaults.minReplicas=0",
    ),
    "small-nodes": (
        "--set", "serviceDefaults.resources.requests.cpu=250m",
        "--set", "topologySpread.whenUnsatisfiable=DoNotSchedule",
    ),
}  # fmt: skip


def render(*flags: str) -> list[Doc]:
    return docs(helm_template(*flags))


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_helm_lint_strict(config: str) -> None:
    tools = find_tools()
    done = run([str(tools.helm), "lint", "--strict", str(CHART), *CONFIGS[config]])
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("version", KUBE_VERSIONS)
def test_every_render_is_valid_kubernetes(version: str) -> None:
    """Each config's render against the official schemas, unknown fields rejected.
    (CRDs: ServiceMonitor, PrometheusRule, ScaledObject have no bundled schema; their
    shape is checked by the tests below.)"""
    done = validate({name: helm_template(*flags) for name, flags in CONFIGS.items()}, version)
    assert done.returncode == 0, done.stdout + done.stderr


def test_default_render_has_the_expected_resources() -> None:
    kinds = sorted((d["kind"], d["metadata"]["name"]) for d in render())
    per_service = [
        (kind, f"crunch-{s}")
        for s in SERVICES
        for kind in ("Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget")
    ]
    expected = [
        *per_service,
        ("Ingress", "crunch"),
        ("NetworkPolicy", "crunch"),
        ("NetworkPolicy", "crunch-test-services"),
        ("ServiceAccount", "crunch"),
        ("Pod", "crunch-test-services"),
    ]
    assert kinds == sorted(expected)


def test_ingress_routes_each_path_to_its_own_service() -> None:
    items = render()
    (ingress,) = by_kind(items, "Ingress").values()
    services = by_kind(items, "Service")
    deployments = by_kind(items, "Deployment")
    paths = {
        p["path"]: p["backend"]["service"] for p in ingress["spec"]["rules"][0]["http"]["paths"]
    }
    assert {path: b["name"] for path, b in paths.items()} == {
        path: f"crunch-{name}" for name, path in SERVICES.items()
    }
    for name, path in SERVICES.items():
        svc = services[f"crunch-{name}"]
        port_names = {p["name"] for p in svc["spec"]["ports"]}
        assert paths[path]["port"]["name"] in port_names
        pod = deployments[f"crunch-{name}"]["spec"]["template"]
        labels = pod["metadata"]["labels"]
        assert svc["spec"]["selector"].items() <= labels.items(), "Service must select the pods"
        container_ports = {p["name"] for p in pod["spec"]["containers"][0]["ports"]}
        assert all(p["targetPort"] in container_ports for p in svc["spec"]["ports"])


def test_each_deployment_serves_its_microservice_with_cpu_equal_to_workers() -> None:
    crunch_services = {"web": "none", "hello": "hello", "world": "world"}
    for name, dep in by_kind(render(), "Deployment").items():
        (c,) = dep["spec"]["template"]["spec"]["containers"]
        assert env_of(c)["CRUNCH_SERVICES"] == crunch_services[name.removeprefix("crunch-")]
        res = c["resources"]
        assert res["requests"]["cpu"] == res["limits"]["cpu"] == "2", name


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_every_pod_is_locked_down(config: str) -> None:
    items = render(*CONFIGS[config])
    for where, spec in pod_specs(items).items():
        if where.startswith("Deployment/") and where != "Deployment/crunch-balancer":
            assert_crunch_pod(where, spec)
        else:
            assert_pod_secure(where, spec)
    (sa,) = by_kind(items, "ServiceAccount").values()
    assert sa["automountServiceAccountToken"] is False


def test_prometheus_adapter_mode_scales_on_saturation() -> None:
    hpas = by_kind(render(), "HorizontalPodAutoscaler")
    assert len(hpas) == len(SERVICES)
    for name, hpa in hpas.items():
        assert hpa["spec"]["scaleTargetRef"]["name"] == name
        (metric,) = hpa["spec"]["metrics"]
        assert metric["type"] == "Pods"
        assert metric["pods"]["metric"]["name"] == "crunch_saturation"
        assert metric["pods"]["target"] == {"type": "AverageValue", "averageValue": "700m"}
        behavior = hpa["spec"]["behavior"]
        assert behavior["scaleUp"]["stabilizationWindowSeconds"] == 0
        assert behavior["scaleDown"]["stabilizationWindowSeconds"] >= 120


def test_cpu_mode_scales_on_cpu_utilisation() -> None:
    for hpa in by_kind(render("--set", "autoscaling.mode=cpu"), "HorizontalPodAutoscaler").values():
        (metric,) = hpa["spec"]["metrics"]
        assert metric["resource"]["name"] == "cpu"
        assert metric["resource"]["target"]["type"] == "Utilization"


def test_keda_mode_uses_scaled_objects_on_the_same_signal() -> None:
    items = render("--set", "autoscaling.mode=keda", "--set", "autoscaling.targetSaturation=0.6")
    assert by_kind(items, "HorizontalPodAutoscaler") == {}, "KEDA creates the HPAs itself"
    scaled = by_kind(items, "ScaledObject")
    assert sorted(scaled) == sorted(f"crunch-{s}" for s in SERVICES)
    for name, so in scaled.items():
        assert so["apiVersion"] == "keda.sh/v1alpha1"
        spec = so["spec"]
        assert spec["scaleTargetRef"]["name"] == name
        assert spec["minReplicaCount"] <= spec["maxReplicaCount"]
        assert spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleUp"]
        assert spec["cooldownPeriod"] == 300
        (trigger,) = spec["triggers"]
        assert trigger["type"] == "prometheus"
        assert trigger["metricType"] == "AverageValue"
        meta = trigger["metadata"]
        assert meta["threshold"] == "0.6"
        assert meta["query"].startswith("sum(avg_over_time(crunch_saturation{")
        assert f'namespace="{NAMESPACE}"' in meta["query"]
        assert f'pod=~"{name}-[a-z0-9]+-[a-z0-9]+"' in meta["query"]


def test_scale_to_zero_wakes_on_requests_held_in_the_balancer() -> None:
    items = render(*CONFIGS["scale-to-zero"], "--set", "autoscaling.keda.cooldownPeriod=45")
    scaled = by_kind(items, "ScaledObject")
    assert sorted(scaled) == sorted(f"crunch-{s}" for s in SERVICES)
    for name, so in scaled.items():
        spec = so["spec"]
        assert (spec["minReplicaCount"], spec["cooldownPeriod"]) == (0, 45)
        saturation, sessions = (t["metadata"] for t in spec["triggers"])
        assert saturation["query"].startswith("sum(avg_over_time(crunch_saturation{")
        backend = name.removeprefix("crunch-")
        assert sessions["query"] == (
            f'sum(haproxy_backend_current_sessions{{namespace="{NAMESPACE}",'
            f'pod=~"crunch-balancer-[a-z0-9]+-[a-z0-9]+",proxy="{backend}"}})'
        )
        assert sessions["activationThreshold"] == "0"
    # Prometheus finds the balancer's exporter the way it finds the pods' /metrics.
    balancer = by_kind(items, "Deployment")["crunch-balancer"]["spec"]["template"]
    assert balancer["metadata"]["annotations"] == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "8404",
        "prometheus.io/path": "/metrics",
    }


def test_off_mode_has_fixed_replicas_and_no_autoscaler() -> None:
    for flags in ((), ("--is-upgrade",)):
        items = render(
            "--set", "autoscaling.mode=off", "--set", "serviceDefaults.replicas=3", *flags
        )  # fmt: skip
        assert by_kind(items, "HorizontalPodAutoscaler") == by_kind(items, "ScaledObject") == {}
        assert {d["spec"]["replicas"] for d in by_kind(items, "Deployment").values()} == {3}


PER_SERVICE_MIN = json.dumps(
    [
        {"name": "web", "path": "/", "crunchServices": "none", "minReplicas": 3},
        {"name": "hello", "path": "/hello", "crunchServices": "hello"},
        {"name": "world", "path": "/world", "crunchServices": "world"},
    ]
)


@pytest.mark.parametrize("mode", ["prometheus-adapter", "keda", "cpu"])
@pytest.mark.parametrize("upgrade", [(), ("--is-upgrade",)])
def test_with_an_autoscaler_no_replicas_are_rendered(mode: str, upgrade: tuple[str, ...]) -> None:
    """`helm template` (Argo CD, Flux) re-applies whatever it renders on every sync: a
    replicas count, even minReplicas, would reset the autoscaler's count each time."""
    items = render(
        *upgrade,
        "--set", f"autoscaling.mode={mode}",
        "--set", "serviceDefaults.replicas=5",
        "--set-json", f"services={PER_SERVICE_MIN}",
    )  # fmt: skip
    deps = by_kind(items, "Deployment")
    assert sorted(deps) == ["crunch-hello", "crunch-web", "crunch-world"]
    assert all("replicas" not in d["spec"] for d in deps.values()), "the autoscaler owns it"


def test_spawn_is_off_in_every_deployment_by_default() -> None:
    for name, dep in by_kind(render(), "Deployment").items():
        (container,) = dep["spec"]["template"]["spec"]["containers"]
        assert env_of(container)["CRUNCH_SPAWN_ALLOW"] == "", name


def test_spawn_is_an_opt_in_per_deployment() -> None:
    services = json.dumps(
        [
            {"name": "web", "path": "/", "crunchServices": "none", "spawnAllow": "ls"},
            {"name": "hello", "path": "/hello", "crunchServices": "hello"},
        ]
    )
    deps = by_kind(render("--set-json", f"services={services}"), "Deployment")
    allow = {
        n: env_of(d["spec"]["template"]["spec"]["containers"][0])["CRUNCH_SPAWN_ALLOW"]
        for n, d in deps.items()
    }
    assert allow == {"crunch-web": "ls", "crunch-hello": ""}


def test_schema_refuses_a_spawn_list_with_a_shell_in_it() -> None:
    helm_fails("--set", "serviceDefaults.spawnAllow=ls;sh")


def test_cpu_request_equals_the_limit_unless_lowered() -> None:
    def resources(*flags: str) -> dict[str, Doc]:
        return {
            n: d["spec"]["template"]["spec"]["containers"][0]["resources"]
            for n, d in by_kind(render(*flags), "Deployment").items()
        }

    for res in resources().values():
        assert res["requests"]["cpu"] == res["limits"]["cpu"] == "2"
    lowered = resources("--set", "serviceDefaults.resources.requests.cpu=250m")
    for res in lowered.values():
        assert res["requests"] == {"cpu": "250m", "memory": "256Mi", "ephemeral-storage": "64Mi"}
        assert res["limits"] == {"cpu": "2", "memory": "512Mi", "ephemeral-storage": "256Mi"}, (
            "the pool is sized to the limit"
        )
    services = [
        {"name": "web", "path": "/", "crunchServices": "none", "workers": 4,
         "resources": {"requests": {"cpu": 1.5}}},
        {"name": "hello", "path": "/hello", "crunchServices": "hello"},
        {"name": "world", "path": "/world", "crunchServices": "world"},
    ]  # fmt: skip
    per_service = resources(
        "--set", "serviceDefaults.resources.requests.cpu=500m",
        "--set-json", f"services={json.dumps(services)}",
    )  # fmt: skip
    assert per_service["crunch-web"]["requests"]["cpu"] == "1.5"
    assert per_service["crunch-web"]["limits"]["cpu"] == "4"
    assert per_service["crunch-hello"]["requests"]["cpu"] == "500m"
    assert per_service["crunch-hello"]["requests"]["memory"] == "256Mi", "merged, not replaced"


def test_zone_spread_never_blocks_scheduling() -> None:
    """Only the hostname constraint follows topologySpread.whenUnsatisfiable: nodes
    without a zone label would be filtered out by a DoNotSchedule zone constraint."""
    items = render("--set", "topologySpread.whenUnsatisfiable=DoNotSchedule")
    for dep in by_kind(items, "Deployment").values():
        spread = {
            t["topologyKey"]: t["whenUnsatisfiable"]
            for t in dep["spec"]["template"]["spec"]["topologySpreadConstraints"]
        }
        assert spread == {
            "kubernetes.io/hostname": "DoNotSchedule",
            "topology.kubernetes.io/zone": "ScheduleAnyway",
        }


def test_e2e_values_give_the_kind_overlay_resources() -> None:
    """scripts/e2e/values-e2e.yaml lowers the CPU request with the chart's own value
    (no post-renderer), to what k8s/overlays/kind sets."""
    values = ROOT / "scripts" / "e2e" / "values-e2e.yaml"
    chart = by_kind(render("-f", str(values)), "Deployment")
    kind = by_kind(docs(kustomize("overlays/kind")), "Deployment")
    assert sorted(chart) == sorted(kind)
    for name, dep in chart.items():
        (c,) = dep["spec"]["template"]["spec"]["containers"]
        (k,) = kind[name]["spec"]["template"]["spec"]["containers"]
        assert (
            c["resources"]
            == k["resources"]
            == {
                "requests": {"cpu": "250m", "memory": "128Mi", "ephemeral-storage": "64Mi"},
                "limits": {"cpu": "1", "memory": "384Mi", "ephemeral-storage": "256Mi"},
            }
        )


def test_a_new_microservice_is_added_from_values_alone() -> None:
    services = [
        {"name": "web", "path": "/", "crunchServices": "none"},
        {"name": "hello", "path": "/hello", "crunchServices": "hello"},
        {"name": "world", "path": "/world", "crunchServices": "world"},
        {
            "name": "primes",
            "path": "/work/primes",
            "workers": 4,
            "maxReplicas": 20,
            "env": [{"name": "CRUNCH_QUEUE_LIMIT", "value": "16"}],
        },
    ]
    items = render("--set-json", f"services={json.dumps(services)}")
    dep = by_kind(items, "Deployment")["crunch-primes"]
    (c,) = dep["spec"]["template"]["spec"]["containers"]
    assert c["resources"]["limits"]["cpu"] == "4"
    assert env_of(c)["CRUNCH_QUEUE_LIMIT"] == "16"
    assert by_kind(items, "HorizontalPodAutoscaler")["crunch-primes"]["spec"]["maxReplicas"] == 20
    (ingress,) = by_kind(items, "Ingress").values()
    paths = {p["path"] for p in ingress["spec"]["rules"][0]["http"]["paths"]}
    assert "/work/primes" in paths
    for kind in ("Service", "PodDisruptionBudget"):
        assert "crunch-primes" in by_kind(items, kind)


BAD_VALUES = {
    "unknown autoscaling mode": (
        ("--set", "autoscaling.mode=fast"),
        "value must be one of 'prometheus-adapter', 'keda', 'cpu', 'off'",
    ),
    "zero workers": (("--set", "serviceDefaults.workers=0"), "/serviceDefaults/workers"),
    "service name not a DNS label": (
        ("--set-json", 'services=[{"name":"Web_1","path":"/"}]'),
        "/services/0/name",
    ),
    "relative path": (("--set-json", 'services=[{"name":"a","path":"a"}]'), "/services/0/path"),
    "cpu set by hand": (
        ("--set", "serviceDefaults.resources.limits.cpu=3"),
        "additional properties 'cpu' not allowed",
    ),
    "cpu request above the limit": (
        ("--set", "serviceDefaults.resources.requests.cpu=2500m"),
        "services[web]: resources.requests.cpu (2500m) must be above 0 and at most the CPU limit",
    ),
    "cpu request not a quantity": (
        ("--set", "serviceDefaults.resources.requests.cpu=half"),
        "/serviceDefaults/resources/requests/cpu",
    ),
    "cpu request of zero": (
        ("--set", "serviceDefaults.resources.requests.cpu=0"),
        "/serviceDefaults/resources/requests/cpu",
    ),
    "typo in a key": (("--set", "autoscalling.mode=cpu"), "additional properties 'autoscalling'"),
    "writable root filesystem": (
        ("--set", "securityContext.readOnlyRootFilesystem=false"),
        "/securityContext/readOnlyRootFilesystem",
    ),
    "bad digest": (("--set", "image.digest=latest"), "/image/digest"),
    "bad busy-aware controller": (
        ("--set", "ingress.busyAware.controller=nginx"),
        "/ingress/busyAware/controller",
    ),
    "duplicate service name": (
        ("--set-json", 'services=[{"name":"a","path":"/"},{"name":"a","path":"/b"}]'),
        'the name "a" is used twice',
    ),
    "duplicate path": (
        ("--set-json", 'services=[{"name":"a","path":"/"},{"name":"b","path":"/"}]'),
        'the path "/" is routed to two services',
    ),
    "min above max": (
        ("--set", "serviceDefaults.minReplicas=5", "--set", "serviceDefaults.maxReplicas=3"),
        "minReplicas (5) must not exceed maxReplicas (3)",
    ),
    "scale to zero without keda": (
        ("--set", "balancer.enabled=true", "--set", "serviceDefaults.minReplicas=0"),
        "services[web]: minReplicas 0 (scale to zero) needs autoscaling.mode keda and "
        "balancer.enabled",
    ),
    "scale to zero without the balancer": (
        ("--set", "autoscaling.mode=keda", "--set", "serviceDefaults.minReplicas=0"),
        "needs autoscaling.mode keda and balancer.enabled",
    ),
    "haproxytech limit rounding to zero": (
        (
            "--set",
            "ingress.busyAware.enabled=true",
            "--set",
            "ingress.busyAware.controller=haproxytech",
            "--set",
            "ingress.busyAware.controllerReplicas=3",
        ),
        "would round down to 0 (no limit)",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_VALUES))
def test_bad_values_are_rejected_with_a_clear_message(case: str) -> None:
    flags, message = BAD_VALUES[case]
    assert message in helm_fails(*flags)


@pytest.mark.parametrize(
    ("workers", "controller_replicas", "expected"),
    [(2, 1, "2"), (2, 2, "1"), (4, 2, "2"), (4, 3, "1"), (1, 3, "1")],
)
def test_busy_aware_limit_is_workers_divided_by_controller_replicas(
    workers: int, controller_replicas: int, expected: str
) -> None:
    items = render(
        "--set", "ingress.busyAware.enabled=true",
        "--set", f"ingress.busyAware.controllerReplicas={controller_replicas}",
        "--set", f"serviceDefaults.workers={workers}",
    )  # fmt: skip
    for svc in by_kind(items, "Service").values():
        ann = svc["metadata"]["annotations"]
        assert ann["haproxy-ingress.github.io/maxconn-server"] == expected
        assert ann["haproxy-ingress.github.io/timeout-queue"] == "30s"
        assert ann["haproxy-ingress.github.io/balance-algorithm"] == "leastconn"


def test_busy_aware_haproxytech_passes_workers_for_the_controller_to_divide() -> None:
    items = render(
        "--set", "ingress.busyAware.enabled=true",
        "--set", "ingress.busyAware.controller=haproxytech",
        "--set", "ingress.busyAware.controllerReplicas=2",
        "--set", "serviceDefaults.workers=4",
    )  # fmt: skip
    for svc in by_kind(items, "Service").values():
        assert svc["metadata"]["annotations"]["haproxy.org/pod-maxconn"] == "4"


def test_plain_ingress_has_no_controller_specific_annotations() -> None:
    items = render()
    for svc in by_kind(items, "Service").values():
        assert not svc["metadata"].get("annotations")
    (ingress,) = by_kind(items, "Ingress").values()
    assert "ingressClassName" not in ingress["spec"]
    assert not ingress["metadata"].get("annotations")


def test_ingress_class_host_and_tls_come_from_values() -> None:
    (ingress,) = by_kind(render(*EVERYTHING), "Ingress").values()
    spec = ingress["spec"]
    assert spec["ingressClassName"] == "haproxy"
    assert spec["rules"][0]["host"] == "crunch.example.com"
    assert spec["tls"] == [{"secretName": "crunch-tls", "hosts": ["crunch.example.com"]}]


def test_image_pull_settings_and_digest() -> None:
    digest = "sha256:" + "a" * 64
    items = render(
        "--set", "image.repository=registry.example.com/crunch",
        "--set", "image.tag=1.2.3",
        "--set", f"image.digest={digest}",
        "--set", "image.pullPolicy=Always",
        "--set-json", 'imagePullSecrets=[{"name":"regcred"}]',
    )  # fmt: skip
    for spec in pod_specs(items).values():
        assert spec["imagePullSecrets"] == [{"name": "regcred"}]
        (c,) = spec["containers"]
        assert c["image"] == f"registry.example.com/crunch:1.2.3@{digest}"
        assert c["imagePullPolicy"] == "Always"


def test_pods_carry_prometheus_scrape_annotations() -> None:
    for dep in by_kind(render(), "Deployment").values():
        ann = dep["spec"]["template"]["metadata"]["annotations"]
        assert ann["prometheus.io/scrape"] == "true"
        assert ann["prometheus.io/port"] == "8080"
        assert ann["prometheus.io/path"] == "/metrics"


def test_service_monitor_scrapes_every_service() -> None:
    items = render("--set", "serviceMonitor.enabled=true")
    (sm,) = by_kind(items, "ServiceMonitor").values()
    selector = sm["spec"]["selector"]["matchLabels"]
    for svc in by_kind(items, "Service").values():
        assert selector.items() <= svc["metadata"]["labels"].items()
    (endpoint,) = sm["spec"]["endpoints"]
    assert endpoint["port"] == "http" and endpoint["path"] == "/metrics"
    assert sm["spec"]["namespaceSelector"]["matchNames"] == [NAMESPACE]


def test_prometheus_rule_alerts_on_the_four_failure_signals() -> None:
    (rule,) = by_kind(render("--set", "prometheusRule.enabled=true"), "PrometheusRule").values()
    (group,) = rule["spec"]["groups"]
    alerts = {r["alert"]: r for r in group["rules"]}
    expected_metric = {
        "CrunchSaturationHigh": "crunch_saturation",
        "CrunchRejectingRequests": "crunch_rejected_total",
        "CrunchWorkerRestarts": "crunch_worker_restarts_total",
        "CrunchEventLoopLag": "crunch_event_loop_lag_seconds_bucket",
    }
    assert sorted(alerts) == sorted(expected_metric)
    for name, metric in expected_metric.items():
        assert metric in alerts[name]["expr"]
        assert f'namespace="{NAMESPACE}"' in alerts[name]["expr"]
        assert alerts[name]["labels"]["severity"]
        assert alerts[name]["annotations"]["summary"]
    assert alerts["CrunchSaturationHigh"]["for"] == "10m"


def test_grafana_dashboard_is_valid_json_on_crunch_metrics() -> None:
    items = render("--set", "grafanaDashboard.enabled=true")
    (cm,) = by_kind(items, "ConfigMap").values()
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(cm["data"]["crunch.json"])
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    for metric in ("crunch_saturation", "crunch_requests_total", "crunch_queue_depth"):
        assert metric in exprs


def test_helm_test_pod_calls_each_service_through_its_service() -> None:
    pods = by_kind(render(), "Pod")
    (pod,) = pods.values()
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    (c,) = pod["spec"]["containers"]
    urls = [a for a in c["command"] if a.startswith("http://")]
    assert urls == [
        f"http://crunch-{name}.{NAMESPACE}.svc/{path.lstrip('/')}"
        for name, path in SERVICES.items()
    ]


def test_every_feature_can_be_switched_off() -> None:
    items = render(
        "--set", "ingress.enabled=false",
        "--set", "networkPolicy.enabled=false",
        "--set", "podDisruptionBudget.enabled=false",
        "--set", "autoscaling.mode=off",
        "--set", "tests.enabled=false",
        "--set", "serviceAccount.create=false",
        "--set", "scrapeAnnotations=false",
        "--set", "topologySpread.enabled=false",
    )  # fmt: skip
    assert sorted({d["kind"] for d in items}) == ["Deployment", "Service"]
    for dep in by_kind(items, "Deployment").values():
        assert "annotations" not in dep["spec"]["template"]["metadata"]
        assert dep["spec"]["template"]["spec"]["serviceAccountName"] == "default"


def test_notes_explain_the_busy_aware_arithmetic() -> None:
    tools = find_tools()
    done = run(
        [
            str(tools.helm), "install", "crunch", str(CHART), "--dry-run=client",
            "-n", NAMESPACE,
            "--set", "ingress.busyAware.enabled=true",
            "--set", "ingress.busyAware.controllerReplicas=2",
            "--set", "serviceDefaults.workers=3",
        ]
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    notes = done.stdout.split("NOTES:", 1)[1]
    assert "crunch-hello: 3 workers per pod -> maxconn-server 1 per controller replica" in notes
    assert "3 workers do not divide by 2 replicas" in notes
    assert "custom.metrics.k8s.io" in notes
