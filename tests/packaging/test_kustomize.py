"""The kustomize base and overlays: they build, validate, and each does its one job."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.packaging.kube import (
    K8S,
    KUBE_VERSIONS,
    NAMESPACE,
    OVERLAYS,
    ROOT,
    SERVICES,
    Doc,
    assert_crunch_pod,
    assert_pod_secure,
    by_kind,
    docs,
    env_of,
    find_tools,
    kustomize,
    load_yaml_file,
    pod_specs,
    run,
    validate,
)

TREES = ("base", *(f"overlays/{o}" for o in OVERLAYS))


def build(tree: str) -> list[Doc]:
    return docs(kustomize(tree))


def test_every_overlay_has_a_directory_and_nothing_is_left_out() -> None:
    on_disk = sorted(p.name for p in (K8S / "overlays").iterdir() if p.is_dir())
    assert on_disk == sorted(OVERLAYS)


@pytest.mark.parametrize("version", KUBE_VERSIONS)
def test_every_tree_is_valid_kubernetes(version: str) -> None:
    done = validate({t.replace("/", "-"): kustomize(t) for t in TREES}, version)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("tree", TREES)
def test_every_pod_is_locked_down_and_drains(tree: str) -> None:
    items = build(tree)
    specs = pod_specs(items)
    balancer = specs.pop("Deployment/crunch-balancer", None)
    assert (balancer is not None) == (tree == "overlays/haproxy-balancer")
    if balancer is not None:
        assert_pod_secure("Deployment/crunch-balancer", balancer)
    assert sorted(specs) == sorted(f"Deployment/crunch-{s}" for s in SERVICES)
    for where, spec in specs.items():
        assert_crunch_pod(where, spec)
    assert all(
        d["metadata"].get("namespace") == NAMESPACE for d in items if d["kind"] != "Namespace"
    )
    (ns,) = by_kind(items, "Namespace").values()
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_base_routes_and_scales_on_saturation() -> None:
    items = build("base")
    (ingress,) = by_kind(items, "Ingress").values()
    paths = {
        p["path"]: p["backend"]["service"]["name"]
        for p in ingress["spec"]["rules"][0]["http"]["paths"]
    }
    assert paths == {path: f"crunch-{name}" for name, path in SERVICES.items()}
    for hpa in by_kind(items, "HorizontalPodAutoscaler").values():
        (metric,) = hpa["spec"]["metrics"]
        assert metric["pods"]["metric"]["name"] == "crunch_saturation"
    for name, dep in by_kind(items, "Deployment").items():
        (c,) = dep["spec"]["template"]["spec"]["containers"]
        assert c["image"] == "crunch:0.1.0"
        expected = {"web": "none"}.get(name.removeprefix("crunch-"), name.removeprefix("crunch-"))
        assert env_of(c)["CRUNCH_SERVICES"] == expected


def test_prometheus_adapter_overlay_adds_the_scrape_config() -> None:
    items = build("overlays/prometheus-adapter")
    (sm,) = by_kind(items, "ServiceMonitor").values()
    assert sm["spec"]["endpoints"][0]["path"] == "/metrics"
    assert len(by_kind(items, "HorizontalPodAutoscaler")) == len(SERVICES)


def test_adapter_rule_is_the_same_in_both_files_and_matches_keda() -> None:
    adapter = K8S / "overlays" / "prometheus-adapter" / "adapter"
    (config,) = load_yaml_file(adapter / "config.yaml")
    (values,) = load_yaml_file(adapter / "values.yaml")
    assert config["rules"] == values["rules"]["custom"]
    (rule,) = config["rules"]
    assert rule["name"]["as"] == "crunch_saturation"
    assert set(rule["resources"]["overrides"]) == {"namespace", "pod"}
    assert "avg_over_time(<<.Series>>{<<.LabelMatchers>>}[30s])" in rule["metricsQuery"]
    for so in by_kind(build("overlays/keda"), "ScaledObject").values():
        assert "[30s]" in so["spec"]["triggers"][0]["metadata"]["query"]


def test_keda_overlay_replaces_the_hpas() -> None:
    items = build("overlays/keda")
    assert by_kind(items, "HorizontalPodAutoscaler") == {}
    assert sorted(by_kind(items, "ScaledObject")) == sorted(f"crunch-{s}" for s in SERVICES)


def _label_keys(node: object) -> set[str]:
    """Every label key anywhere in an object (its own, its pod template's, ...)."""
    if isinstance(node, list):
        return set().union(*(_label_keys(v) for v in node))
    if not isinstance(node, dict):
        return set()
    keys = set(node["labels"]) if isinstance(node.get("labels"), dict) else set()
    return keys.union(*(_label_keys(v) for v in node.values()))


@pytest.mark.parametrize("tree", TREES)
def test_no_tree_carries_helms_bookkeeping(tree: str) -> None:
    """The manifests are rendered from the chart, but kubectl, not Helm, manages them;
    a version label would be wrong as soon as an overlay changes the image."""
    helm_only = {"helm.sh/chart", "app.kubernetes.io/managed-by", "app.kubernetes.io/version"}
    for d in build(tree):
        where = f"{tree}: {d['kind']}/{d['metadata']['name']}"
        assert _label_keys(d) & helm_only == set(), where


@pytest.mark.parametrize("tree", TREES)
def test_no_tree_sets_replicas_next_to_an_autoscaler(tree: str) -> None:
    """`kubectl apply` re-applies every field each time: a replicas count would reset
    a scaled-out Deployment to it on every apply."""
    for name, dep in by_kind(build(tree), "Deployment").items():
        if name == "crunch-balancer":  # no autoscaler: a fixed count (maxconn divides by it)
            continue
        assert "replicas" not in dep["spec"], f"{tree}: {name}"


@pytest.mark.parametrize("tree", TREES)
def test_spawn_is_off_in_every_tree(tree: str) -> None:
    for name, dep in by_kind(build(tree), "Deployment").items():
        if name == "crunch-balancer":
            continue
        (container,) = dep["spec"]["template"]["spec"]["containers"]
        assert env_of(container)["CRUNCH_SPAWN_ALLOW"] == "", f"{tree}: {name}"


def test_the_documented_spawn_opt_in_patch_turns_it_on_for_one_deployment(
    tmp_path: Path,
) -> None:
    text = (ROOT / "docs" / "deploy.md").read_text()
    after = text[text.index("Opt one Deployment") :]
    patch = after.split("```yaml\n", 1)[1].split("```", 1)[0]
    base = os.path.relpath(K8S / "base", tmp_path)
    (tmp_path / "kustomization.yaml").write_text(f"resources:\n  - {base}\n{patch}")
    tools = find_tools()
    done = run(
        [
            str(tools.kubectl),
            "kustomize",
            "--load-restrictor",
            "LoadRestrictionsNone",
            str(tmp_path),
        ]
    )
    assert done.returncode == 0, done.stderr
    allow = {
        name: env_of(dep["spec"]["template"]["spec"]["containers"][0])["CRUNCH_SPAWN_ALLOW"]
        for name, dep in by_kind(docs(done.stdout), "Deployment").items()
    }
    assert allow == {"crunch-web": "ls", "crunch-hello": "", "crunch-world": ""}


def test_cpu_overlay_scales_on_cpu() -> None:
    for hpa in by_kind(build("overlays/cpu"), "HorizontalPodAutoscaler").values():
        (metric,) = hpa["spec"]["metrics"]
        assert metric["type"] == "Resource" and metric["resource"]["name"] == "cpu"


def test_kind_overlay_uses_the_loaded_image_and_one_worker() -> None:
    items = build("overlays/kind")
    for dep in by_kind(items, "Deployment").values():
        (c,) = dep["spec"]["template"]["spec"]["containers"]
        assert c["imagePullPolicy"] == "Never"
        assert c["resources"]["limits"]["cpu"] == "1", "CRUNCH_WORKERS reads limits.cpu"
        assert c["resources"]["requests"]["cpu"] == "250m", "more pods per 2-CPU node"
    for hpa in by_kind(items, "HorizontalPodAutoscaler").values():
        assert hpa["spec"]["minReplicas"] == 1
        assert hpa["spec"]["metrics"][0]["pods"]["metric"]["name"] == "crunch_saturation"


def test_haproxy_ingress_overlay_caps_each_pod_at_its_workers() -> None:
    items = build("overlays/haproxy-ingress")
    (ingress,) = by_kind(items, "Ingress").values()
    assert ingress["spec"]["ingressClassName"] == "haproxy"
    deployments = by_kind(items, "Deployment")
    controller_replicas = 2  # as documented in the overlay's kustomization.yaml
    for name, svc in by_kind(items, "Service").items():
        (c,) = deployments[name]["spec"]["template"]["spec"]["containers"]
        workers = int(c["resources"]["limits"]["cpu"])
        ann = svc["metadata"]["annotations"]
        expected = max(1, workers // controller_replicas)
        assert ann["haproxy-ingress.github.io/maxconn-server"] == str(expected)
        assert ann["haproxy-ingress.github.io/timeout-queue"] == "30s"
