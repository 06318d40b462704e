"""The Helm chart and k8s/ must not drift: each overlay equals a chart render.

Compared: the set of (kind, name); for every resource its spec (Deployments: the whole
pod spec, so probes, security context, resources, env, lifecycle, spread; HPAs and
ScaledObjects: metric, target, bounds, behavior); Service annotations (busy-aware
limits); selector labels. Not compared: metadata labels that only Helm adds, the
Namespace object (kustomize only) and the `helm test` pod with its NetworkPolicy (Helm
only: the chart is rendered with tests off).

The chart is rendered as an upgrade (`--is-upgrade`): `kubectl apply -k` cannot tell
a first install from an update, so k8s/ matches what the chart renders on upgrade (no
Deployment `replicas` when an autoscaler owns it). The install-only `replicas` is
tested in test_chart.py.
"""

from __future__ import annotations

import json

import pytest

from tests.packaging.kube import Doc, docs, helm_template, kustomize

PAIRS: dict[str, tuple[str, ...]] = {
    "base": (),
    "overlays/prometheus-adapter": ("--set", "serviceMonitor.enabled=true"),
    "overlays/keda": ("--set", "autoscaling.mode=keda"),
    "overlays/cpu": ("--set", "autoscaling.mode=cpu"),
    "overlays/haproxy-ingress": (
        "--set",
        "ingress.className=haproxy",
        "--set",
        "ingress.busyAware.enabled=true",
        "--set",
        "ingress.busyAware.controllerReplicas=2",
    ),
    "overlays/haproxy-balancer": ("--set", "balancer.enabled=true"),
    "overlays/example": (
        "--set",
        "image.repository=crunch-thumbnails",
        "--set",
        "tasks.modules={thumbnails.tasks}",
    ),
}

HELM_ONLY_LABELS = ("helm.sh/chart", "app.kubernetes.io/managed-by", "app.kubernetes.io/version")


def comparable(items: list[Doc]) -> dict[tuple[str, str], Doc]:
    out: dict[tuple[str, str], Doc] = {}
    for d in items:
        if d["kind"] == "Namespace" or d["kind"] == "Pod":
            continue
        meta = d["metadata"]
        labels = {k: v for k, v in meta.get("labels", {}).items() if k not in HELM_ONLY_LABELS}
        body = {k: v for k, v in d.items() if k not in ("metadata", "apiVersion", "kind")}
        if d["kind"] == "Deployment":
            template_meta = body["spec"]["template"]["metadata"]
            template_meta["labels"] = {
                k: v for k, v in template_meta["labels"].items() if k not in HELM_ONLY_LABELS
            }
        out[(d["kind"], meta["name"])] = {
            "apiVersion": d["apiVersion"],
            "labels": labels,
            "annotations": meta.get("annotations", {}),
            "body": body,
        }
    return out


@pytest.mark.parametrize("tree", sorted(PAIRS))
def test_chart_and_kustomize_render_the_same_resources(tree: str) -> None:
    # k8s/ has no `helm test` pod, so neither its policy nor the rule letting it in.
    flags = ("--is-upgrade", "--set", "tests.enabled=false", *PAIRS[tree])
    chart = comparable(docs(helm_template(*flags)))
    kust = comparable(docs(kustomize(tree)))
    assert sorted(chart) == sorted(kust), "different kinds or names"
    for key in sorted(chart):
        left = json.dumps(chart[key], indent=1, sort_keys=True)
        right = json.dumps(kust[key], indent=1, sort_keys=True)
        assert left == right, f"{key[0]}/{key[1]} differs between helm/crunch and k8s/{tree}"
