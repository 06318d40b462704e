"""NetworkPolicy: every pod the chart runs is isolated both ways, and lets in only its peers.

A pod no policy selects takes traffic from anywhere and may call anything (kube-linter's
``non-isolated-pod``); these tests hold the chart to "selected for Ingress and Egress"
in every configuration, and check what each policy admits. Enforcement on a real
cluster is tests/e2e/test_13_isolation.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.packaging.kube import SERVICES, Doc, by_kind, docs, helm_template, pod_specs
from tests.packaging.test_chart import CONFIGS

INGRESS_NS = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress"}}}
PROMETHEUS_NS = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}
}
NARROW = (
    "--set-json", f"networkPolicy.ingressFrom=[{json.dumps(INGRESS_NS)}]",
    "--set-json", f"networkPolicy.metricsFrom=[{json.dumps(PROMETHEUS_NS)}]",
)  # fmt: skip
DNS = [
    {
        "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
        "to": [
            {
                "namespaceSelector": {
                    "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
                },
                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
            }
        ],
    }
]


def render(*flags: str) -> list[Doc]:
    return docs(helm_template(*flags))


def selects(selector: Doc, labels: dict[str, str]) -> bool:
    """Kubernetes label-selector semantics (matchLabels and the four operators)."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        ok = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[op]
        if not ok:
            return False
    return True


def pod_labels(items: list[Doc]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for d in items:
        if d["kind"] == "Deployment":
            out[f"Deployment/{d['metadata']['name']}"] = d["spec"]["template"]["metadata"]["labels"]
        elif d["kind"] == "Pod":
            out[f"Pod/{d['metadata']['name']}"] = d["metadata"]["labels"]
    return out


def policy_for(items: list[Doc], labels: dict[str, str]) -> Doc:
    (policy,) = [
        p
        for p in by_kind(items, "NetworkPolicy").values()
        if selects(p["spec"]["podSelector"], labels)
    ]
    return policy


def peers_on(policy: Doc, port: Any) -> list[Any]:
    """The `from` lists of the ingress rules that open ``port`` (None: open to all)."""
    return [
        rule.get("from")
        for rule in policy["spec"]["ingress"]
        if any(p["port"] == port for p in rule["ports"])
    ]


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_every_pod_is_isolated_both_ways(config: str) -> None:
    items = render(*CONFIGS[config])
    assert pod_specs(items), "nothing rendered"
    for where, labels in pod_labels(items).items():
        policy = policy_for(items, labels)
        assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"], where


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_egress_is_dns_unless_configured(config: str) -> None:
    items = render(*CONFIGS[config])
    app = policy_for(items, {**pod_labels(items)["Deployment/crunch-web"]})
    assert app["spec"]["egress"] == DNS


def test_extra_egress_rules_are_added_after_dns() -> None:
    rule = {"to": [{"ipBlock": {"cidr": "10.9.0.0/16"}}], "ports": [{"port": 5432}]}
    items = render("--set-json", f"networkPolicy.egress=[{json.dumps(rule)}]")
    app = policy_for(items, pod_labels(items)["Deployment/crunch-web"])
    assert app["spec"]["egress"] == [*DNS, rule]


def test_default_lets_any_pod_reach_http_and_nothing_else() -> None:
    items = render()
    app = policy_for(items, pod_labels(items)["Deployment/crunch-web"])
    assert [p["port"] for rule in app["spec"]["ingress"] for p in rule["ports"]] == ["http"]
    assert peers_on(app, "http") == [None]
    (expr,) = app["spec"]["podSelector"]["matchExpressions"]
    assert sorted(expr["values"]) == sorted(SERVICES), "the helm test pod has its own policy"


def test_narrowed_peers_are_the_only_way_in() -> None:
    items = render(*NARROW)
    app = policy_for(items, pod_labels(items)["Deployment/crunch-web"])
    test_pod = {"podSelector": {"matchLabels": pod_labels(items)["Pod/crunch-test-services"]}}
    test_pod["podSelector"]["matchLabels"] = {
        k: v
        for k, v in test_pod["podSelector"]["matchLabels"].items()
        if k
        in ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component")
    }
    assert peers_on(app, "http") == [[INGRESS_NS], [PROMETHEUS_NS], [test_pod]]


def test_with_the_balancer_routed_requests_come_only_through_it() -> None:
    items = render("--set", "balancer.enabled=true", *NARROW)
    labels = pod_labels(items)
    app = policy_for(items, labels["Deployment/crunch-web"])
    (balancer_peer,), (metrics_peer,), _test = peers_on(app, "http")
    assert selects(balancer_peer["podSelector"], labels["Deployment/crunch-balancer"])
    assert metrics_peer == PROMETHEUS_NS
    assert INGRESS_NS not in [peer for peers in peers_on(app, "http") for peer in peers]

    balancer = policy_for(items, labels["Deployment/crunch-balancer"])
    assert peers_on(balancer, "http") == [[INGRESS_NS]]
    assert peers_on(balancer, "stats") == [[PROMETHEUS_NS]]
    dns, to_pods = balancer["spec"]["egress"]
    assert [dns] == DNS
    for service in SERVICES:
        assert selects(to_pods["to"][0]["podSelector"], labels[f"Deployment/crunch-{service}"])
    assert not selects(to_pods["to"][0]["podSelector"], labels["Deployment/crunch-balancer"])


def test_test_pod_takes_nothing_and_calls_only_crunch() -> None:
    items = render()
    labels = pod_labels(items)
    policy = policy_for(items, labels["Pod/crunch-test-services"])
    assert policy["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert policy["spec"]["ingress"] == []
    dns, to_pods = policy["spec"]["egress"]
    assert [dns] == DNS
    assert selects(to_pods["to"][0]["podSelector"], labels["Deployment/crunch-hello"])


def test_switched_off_renders_no_policy() -> None:
    assert by_kind(render("--set", "networkPolicy.enabled=false"), "NetworkPolicy") == {}
